import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { IngestActivities, InputCheckActivities } from '../activities';
import { checkValue, describeIssues } from '../api/check';
import { ErrorCodes } from '../api/errors';
import { ingestBatchSignal, ingestBatchUpdate, ingestStatusQuery } from '../api/messages';
import { SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import {
  INGEST_HISTORY_LIMIT,
  IngestBatchRequestSchema,
  type DataLanded,
  type IngestBatchRequest,
  type IngestBatchResult,
  type IngestInput,
  type IngestStatus,
} from '../api/workflows/ingest';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { sluiceStatusPatched, withSluiceStatus } from './status';

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const db = proxyActivities<IngestActivities>(ACTIVITY_OPTIONS.dbQuick);
const files = proxyActivities<IngestActivities>(ACTIVITY_OPTIONS.fileIo);
const downstream = proxyActivities<IngestActivities>(ACTIVITY_OPTIONS.signalDownstream);

interface Outcome {
  result?: IngestBatchResult;
  error?: unknown;
}

/** Patch id of carried-over batches in arrival order and of updates on batches queued by signal. */
export const INGEST_QUEUE_PATCH = 'ingest-queue-order';

/**
 * Patch id of answering a batch once it is in the log, before `dataLanded` goes downstream (runs
 * recorded before it answered after the signals, one more activity and workflow task later).
 */
export const INGEST_ANSWER_FIRST_PATCH = 'ingest-answer-first';

/**
 * Patch id of sending a batch's `dataLanded` while the next batches are ingested (in order, one
 * batch's signals after the other's, at most {@link MAX_BATCHES_SIGNALLING} batches behind).
 */
export const INGEST_SIGNALS_BEHIND_PATCH = 'ingest-signals-behind';

/** Batches whose `dataLanded` may still be going out while the next batch is ingested. */
export const MAX_BATCHES_SIGNALLING = 4;

/**
 * Patch id of taking the inline batches queued at the head together: one `ingestEventBatches`
 * activity appends them in order (each its own batch, counts and answer) and one `dataLanded`
 * covers their rows, instead of an activity and a signal per batch.
 */
export const INGEST_COALESCE_PATCH = 'ingest-coalesce-inline';

/** At most this many queued inline batches, and this many characters of their events, go in one activity. */
export const MAX_COALESCED_BATCHES = 32;
export const MAX_COALESCED_CHARS = 1_000_000;

type InlineBatch = Extract<IngestBatchRequest, { kind: 'inline' }>;

/**
 * The long-lived ingest workflow of one source (workflow id `ingestWorkflowId(source)`): batches
 * arrive by update or signal, are processed in arrival order (validated, appended to
 * sluice.raw_events or quarantined by an activity: one per batch, or one for the inline batches
 * waiting together at the head of the queue), and the rows they add are announced by `dataLanded`
 * to the transforms that read the source. A batch's update is answered as soon as it
 * is in the log; its `dataLanded` is then the workflow's own durable work (replayed after a crash,
 * sent before any continue-as-new), going out while the next batches are ingested, in batch order,
 * at most {@link MAX_BATCHES_SIGNALLING} batches behind. Continues-as-new before its history
 * grows large, after its update handlers have finished, carrying batches received by signal.
 *
 * Idempotent: batches and events are deduplicated in the database. Fails with
 * SLUICE_UNKNOWN_SOURCE when the source has no contract, SLUICE_INVALID_INPUT on a bad input.
 */
export async function ingest(input: IngestInput): Promise<void> {
  const queue: { req: IngestBatchRequest; awaited: boolean }[] = [];
  const outcomes = new Map<string, Outcome>();
  let ready = false;
  let sourceFailure: ApplicationFailure | undefined;
  let batchesDone = 0;
  let batchesFailed = 0;
  let lastResult: IngestBatchResult | null = null;
  let signalsFailed = 0;
  let lastSignalFailure: IngestStatus['lastSignalFailure'] = null;
  // dataLanded of answered batches, sent one batch after the other behind the ingestion
  let signalling: Promise<void> = Promise.resolve();
  let batchesSignalling = 0;
  // Set by the `ingest-queue-order` patch once the input is checked (the update handler reads it later).
  let queueFixes = false;

  // Handlers first, before any await: an update-with-start is delivered in the first activation.
  setHandler(
    ingestBatchUpdate,
    async (req) => {
      await condition(() => ready);
      if (sourceFailure) throw sourceFailure;
      const queued = queue.find((q) => q.req.batchId === req.batchId);
      // A batch queued by signal now has a caller waiting: it must run before continue-as-new.
      if (queued && queueFixes) queued.awaited = true;
      if (!outcomes.has(req.batchId) && !queued) queue.push({ req, awaited: true });
      await condition(() => outcomes.has(req.batchId));
      const outcome = outcomes.get(req.batchId) ?? {};
      if (outcome.error !== undefined) throw outcome.error;
      if (!outcome.result)
        throw ApplicationFailure.create({ type: ErrorCodes.IngestFailed, message: `batch ${req.batchId} has no result` });
      return outcome.result;
    },
    {
      validator: (req) => {
        const r = checkValue(IngestBatchRequestSchema, req);
        if (!r.ok) throw new Error(`Invalid ingest batch: ${describeIssues(r.issues)}`);
      },
    },
  );
  setHandler(ingestBatchSignal, (req) => {
    // A signal has no caller to answer: a malformed one is recorded as a failed batch, not thrown.
    if (!checkValue(IngestBatchRequestSchema, req).ok) {
      batchesFailed++;
      return;
    }
    queue.push({ req, awaited: false });
  });
  setHandler(ingestStatusQuery, () => ({
    source: input.source,
    batchesDone,
    batchesFailed,
    queued: queue.length,
    lastResult,
    signalsFailed,
    lastSignalFailure,
  }));

  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, run);

  async function run(): Promise<void> {
    await check.checkWorkflowInput('ingest', input);
    upsertSearchAttributes([
      { key: SluicePipeline, value: 'ingest' },
      { key: SluiceStep, value: `ingest:${input.source}` },
      // a long-lived ingest workflow is `running` until it fails (an unknown source); it never completes
      ...(statusPatched ? [{ key: SluiceStatus, value: 'running' }] : []),
    ]);
    // Runs recorded before this patch took carried-over batches in reverse order and could leave an
    // update waiting on a batch queued by signal (docs/architecture.md, determinism 1).
    queueFixes = patched(INGEST_QUEUE_PATCH);
    const carried = (input.pending ?? []).map((req) => ({ req, awaited: false }));
    if (queueFixes) queue.unshift(...carried);
    else for (const item of carried) queue.unshift(item);
    try {
      await db.describeIngestSource(input.source);
    } catch (err) {
      const cause = (err as { cause?: { type?: string } }).cause;
      if (cause?.type !== ErrorCodes.UnknownSource) throw err;
      sourceFailure = ApplicationFailure.create({
        type: ErrorCodes.UnknownSource,
        nonRetryable: true,
        message: (cause as { message?: string }).message ?? `unknown source ${input.source}`,
      });
      ready = true;
      await condition(allHandlersFinished);
      throw sourceFailure;
    }
    ready = true;

    const limit = input.continueAsNewAfterEvents ?? INGEST_HISTORY_LIMIT;
    const historyIsLong = (): boolean => workflowInfo().historyLength >= limit || workflowInfo().continueAsNewSuggested;

    for (;;) {
      await condition(() => queue.length > 0 || historyIsLong());
      // Batches awaited by an update go first: their handlers must finish before continue-as-new.
      const next = historyIsLong() ? queue.findIndex((q) => q.awaited) : 0;
      if (next >= 0 && queue.length > 0) {
        // Several inline batches waiting at the head: one activity for them (patch ingest-coalesce-inline).
        const group = historyIsLong() ? [] : inlineHead();
        if (group.length > 1 && patched(INGEST_COALESCE_PATCH)) {
          queue.splice(0, group.length);
          await processGroup(group);
          continue;
        }
        const [item] = queue.splice(next, 1);
        if (item) await processBatch(item.req);
        continue;
      }
      await condition(() => allHandlersFinished() || queue.some((q) => q.awaited));
      if (queue.some((q) => q.awaited)) continue;
      if (batchesSignalling > 0) {
        // every answered batch's signals go out in this run; an update may arrive meanwhile: look again
        await signalling;
        continue;
      }
      await continueAsNew<typeof ingest>({ ...input, pending: queue.map((q) => q.req) });
    }
  }

  async function processBatch(req: IngestBatchRequest): Promise<void> {
    const answerFirst = patched(INGEST_ANSWER_FIRST_PATCH);
    let result: IngestBatchResult;
    try {
      result = await runBatch(input.source, req);
    } catch (err) {
      outcomes.set(req.batchId, { error: err });
      batchesFailed++;
      return;
    }
    const done = (): void => {
      outcomes.set(req.batchId, { result });
      lastResult = result;
      batchesDone++;
    };
    // The rows are in the log (or quarantined): that is the answer. The signals only wake readers.
    if (answerFirst) done();
    const { fromSeq, toSeq } = result;
    if (fromSeq !== null && toSeq !== null) {
      const landed = { source: input.source, fromSeq, toSeq, batchId: result.batchId };
      const send = (): Promise<void> => sendLanded(landed, !answerFirst);
      if (answerFirst && patched(INGEST_SIGNALS_BEHIND_PATCH)) {
        await signalBehind(landed);
        return;
      }
      try {
        await send();
      } catch (err) {
        outcomes.set(req.batchId, { error: err });
        batchesFailed++;
        return;
      }
    }
    if (!answerFirst) done();
  }

  /**
   * Sends `dataLanded`. A failure after the signal activity's retries is thrown when `rethrow`
   * (runs before answer-first); otherwise the batch was answered already and its rows stay in the
   * log, so transforms catch up when their idle time is up (a lost signal delays work, never loses
   * it): it is counted for the status query.
   */
  async function sendLanded(landed: DataLanded, rethrow: boolean): Promise<void> {
    try {
      await downstream.emitDataLanded(landed);
    } catch (err) {
      if (rethrow) throw err;
      signalsFailed++;
      lastSignalFailure = { batchId: landed.batchId, fromSeq: landed.fromSeq, toSeq: landed.toSeq, error: String(err) };
    }
  }

  /**
   * `dataLanded` behind the ingestion, in batch order, at most {@link MAX_BATCHES_SIGNALLING}
   * behind; readers lock the log's horizon, so a batch being appended meanwhile is never skipped.
   */
  async function signalBehind(landed: DataLanded): Promise<void> {
    batchesSignalling++;
    signalling = signalling.then(() => sendLanded(landed, false)).finally(() => batchesSignalling--);
    await condition(() => batchesSignalling < MAX_BATCHES_SIGNALLING);
  }

  /** The inline batches at the head of the queue that fit in one activity (bounded in count and size). */
  function inlineHead(): InlineBatch[] {
    // a lone batch, or one not followed by an inline one, goes on its own: nothing to measure
    if (queue[0]?.req.kind !== 'inline' || queue[1]?.req.kind !== 'inline') return [];
    const group: InlineBatch[] = [];
    let chars = 0;
    for (const { req } of queue) {
      if (req.kind !== 'inline' || group.length >= MAX_COALESCED_BATCHES) break;
      chars += JSON.stringify(req.events).length;
      if (group.length > 0 && chars > MAX_COALESCED_CHARS) break;
      group.push(req);
    }
    return group;
  }

  /**
   * Appends queued inline batches in one activity, answers each with its own counts, and sends one
   * `dataLanded` for their rows. When the activity fails, each batch goes again on its own
   * (idempotent per batch id), so that each gets its own outcome, error included, as before.
   */
  async function processGroup(reqs: InlineBatch[]): Promise<void> {
    let results: IngestBatchResult[] | undefined;
    try {
      results = (await db.ingestEventBatches(input.source, reqs)).results;
    } catch {
      results = undefined;
    }
    if (!results || results.length !== reqs.length) {
      for (const req of reqs) await processBatch(req);
      return;
    }
    let landed: DataLanded | undefined;
    reqs.forEach((req, i) => {
      const result = results[i] as IngestBatchResult;
      outcomes.set(req.batchId, { result });
      lastResult = result;
      batchesDone++;
      if (result.fromSeq === null || result.toSeq === null) return;
      landed = {
        source: input.source,
        fromSeq: landed && BigInt(landed.fromSeq) < BigInt(result.fromSeq) ? landed.fromSeq : result.fromSeq,
        toSeq: landed && BigInt(landed.toSeq) > BigInt(result.toSeq) ? landed.toSeq : result.toSeq,
        batchId: result.batchId,
      };
    });
    if (landed) await signalBehind(landed);
  }
}

function runBatch(source: string, req: IngestBatchRequest): Promise<IngestBatchResult> {
  switch (req.kind) {
    case 'inline':
      return db.ingestEvents(source, req);
    case 'file':
      return files.ingestFile(source, req);
    case 'redrive':
      return files.redriveQuarantine(source, req.batchId);
  }
}
