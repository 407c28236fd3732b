/**
 * `backfill`: rebuild a transform version from any log range. The range is split into
 * fixed-width seq ranges, each built by a `backfillRange` child workflow (bounded parallelism),
 * each child writing chunks of at most `chunkRows` rows per source into one build table. Then the
 * build is hashed (sha256, activities/transform/contentHash.ts), checked against earlier builds of
 * the same range, and switched in atomically. Both workflows continue-as-new long before 10,000
 * history events; progress is a query.
 */
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { InputCheckActivities, TransformActivities } from '../activities';
import { backfillProgressQuery } from '../api/messages';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type {
  BackfillInput,
  BackfillProgress,
  BackfillRangeInput,
  BackfillRangeResult,
  BackfillResult,
  BackfillResume,
  FinishBackfillResult,
} from '../api/workflows/backfill';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { sluiceStatusPatched, withSluiceStatus } from './status';

export type { BackfillInput, BackfillProgress, BackfillRangeInput, BackfillRangeResult, BackfillResult, BackfillResume };

export const DEFAULT_RANGE_SEQS = 500_000;
export const DEFAULT_BACKFILL_CHUNK_ROWS = 50_000;
export const DEFAULT_BACKFILL_PARALLELISM = 4;
/** Children started per parent run: about 10 history events each keeps a run under ~3,000 events. */
const MAX_CHILDREN_PER_RUN = 250;
const MAX_HISTORY_EVENTS = 4_000;

/** Number of fixed-width ranges in [from, to]. */
function rangeCount(from: bigint, to: bigint, width: bigint): number {
  return Number((to - from + width) / width);
}

/** Patch id of build clean-up that also runs when the backfill is cancelled. */
export const CLEANUP_ON_CANCEL_PATCH = 'backfill-cleanup-on-cancel';

/**
 * Drops a failed build's table. In a cancelled workflow an activity scheduled in the cancelled
 * scope is refused at once, so the clean-up runs outside it (runs recorded before the patch did not).
 */
async function discard(buildId: string): Promise<void> {
  const { discardBuild } = proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.dbQuick);
  if (patched(CLEANUP_ON_CANCEL_PATCH)) await CancellationScope.nonCancellable(() => discardBuild({ buildId }));
  else await discardBuild({ buildId });
}

function rangeAt(from: bigint, to: bigint, width: bigint, i: number): { fromSeq: string; toSeq: string } {
  const start = from + BigInt(i) * width;
  const end = start + width - 1n;
  return { fromSeq: start.toString(), toSeq: (end < to ? end : to).toString() };
}

/**
 * Rebuilds a transform version (see the module comment). Side effects: a build table, chunk
 * markers, a row in sluice.transform_builds, and (switchView) the version table, its watermark and
 * the view replaced in one transaction. Errors: SLUICE_INVALID_INPUT, SLUICE_UNKNOWN_TRANSFORM,
 * SLUICE_INVALID_RANGE, SLUICE_INVALID_TRANSFORM, SLUICE_NOT_DETERMINISTIC (nothing switched).
 */
export async function backfill(input: BackfillInput): Promise<BackfillResult> {
  const progress: BackfillProgress = {
    phase: 'preparing',
    transform: input.transform,
    version: input.resume?.version ?? null,
    buildId: input.resume?.buildId ?? null,
    fromSeq: null,
    toSeq: null,
    rangesTotal: 0,
    rangesDone: 0,
    rangesRunning: 0,
    rowsRead: 0,
    rowsWritten: 0,
    runs: (input.resume?.runs ?? 0) + 1,
  };
  // Before the first await: a progress query right after the start must find its handler (a
  // handler makes no command, so recorded histories replay the same).
  setHandler(backfillProgressQuery, () => progress);
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(
    statusPatched,
    () => runBackfill(input, progress),
    () => {
      progress.phase = 'failed';
    },
  );
}

async function runBackfill(input: BackfillInput, progress: BackfillProgress): Promise<BackfillResult> {
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('backfill', input);
  const db = proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.dbQuick);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.transform },
    { key: SluiceStep, value: 'backfill' },
    { key: SluiceStatus, value: 'running' },
  ]);

  const prepared = input.resume ?? {
    ...(await db.prepareBackfill({
      buildId: uuid4().replace(/-/g, ''),
      transform: input.transform,
      version: input.version,
      fromSeq: input.fromSeq,
      toSeq: input.toSeq,
      switchView: input.switchView,
    })),
    nextRange: 0,
    rowsRead: 0,
    rowsWritten: 0,
    runs: 0,
  };
  if (!input.resume) upsertSearchAttributes([{ key: SluiceDataset, value: `${input.transform}__v${prepared.version}` }]);
  const from = BigInt(prepared.fromSeq);
  const to = BigInt(prepared.toSeq);
  const width = BigInt(input.rangeSeqs ?? DEFAULT_RANGE_SEQS);
  const total = rangeCount(from, to, width);
  const parallelism = input.parallelism ?? DEFAULT_BACKFILL_PARALLELISM;
  const childrenPerRun = input.childrenPerRun ?? MAX_CHILDREN_PER_RUN;
  Object.assign(progress, {
    phase: 'building',
    version: prepared.version,
    buildId: prepared.buildId,
    fromSeq: prepared.fromSeq,
    toSeq: prepared.toSeq,
    rangesTotal: total,
    rangesDone: prepared.nextRange,
    rowsRead: prepared.rowsRead,
    rowsWritten: prepared.rowsWritten,
  });

  let next = prepared.nextRange;
  let startedThisRun = 0;
  const running = new Map<number, Promise<void>>();
  const { workflowId } = workflowInfo();
  try {
    for (;;) {
      while (running.size < parallelism && next < total && startedThisRun < childrenPerRun) {
        const i = next++;
        startedThisRun++;
        const child = executeChild(backfillRange, {
          workflowId: `${workflowId}-r${i}`,
          args: [
            {
              buildId: prepared.buildId,
              transform: input.transform,
              version: prepared.version,
              ...rangeAt(from, to, width, i),
              chunkRows: input.chunkRows ?? DEFAULT_BACKFILL_CHUNK_ROWS,
            },
          ],
        }).then((r) => {
          running.delete(i);
          progress.rangesDone += 1;
          progress.rowsRead += r.rowsRead;
          progress.rowsWritten += r.rowsWritten;
        });
        running.set(i, child);
      }
      progress.rangesRunning = running.size;
      if (running.size === 0) break;
      await Promise.race(running.values());
      progress.rangesRunning = running.size;
    }
  } catch (err) {
    // The run fails (its children are terminated with it): nothing half-built is left behind.
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    await discard(prepared.buildId);
    throw err;
  }

  if (next < total) {
    // Every child of this run has finished: the next run starts at `next` with nothing in flight.
    await condition(allHandlersFinished);
    await continueAsNew<typeof backfill>({
      ...input,
      resume: {
        buildId: prepared.buildId,
        version: prepared.version,
        fromSeq: prepared.fromSeq,
        toSeq: prepared.toSeq,
        nextRange: next,
        rowsRead: progress.rowsRead,
        rowsWritten: progress.rowsWritten,
        runs: progress.runs,
      },
    });
  }

  progress.phase = 'hashing';
  let finished: FinishBackfillResult;
  try {
    finished = await proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.hashAndSwitch).finishBackfill({
      buildId: prepared.buildId,
      transform: input.transform,
      version: prepared.version,
      fromSeq: prepared.fromSeq,
      toSeq: prepared.toSeq,
      expectedSha256: input.expectedSha256,
      switchView: input.switchView ?? true,
      workflowId,
    });
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    await discard(prepared.buildId);
    throw err;
  }
  progress.phase = 'done';
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return {
    ...finished,
    transform: input.transform,
    version: prepared.version,
    buildId: prepared.buildId,
    fromSeq: prepared.fromSeq,
    toSeq: prepared.toSeq,
    ranges: total,
    rowsRead: progress.rowsRead,
    rowsWritten: progress.rowsWritten,
    runs: progress.runs,
  };
}

/**
 * One range of a backfill: chunk activities from `fromSeq` until `toSeq`, each idempotent (a
 * marker row per chunk). Continues-as-new when its history grows. Errors as {@link backfill}.
 */
export async function backfillRange(input: BackfillRangeInput): Promise<BackfillRangeResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => buildRange(input, statusPatched));
}

async function buildRange(input: BackfillRangeInput, statusPatched: boolean): Promise<BackfillRangeResult> {
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('backfillRange', input);
  const { buildTransformChunk } = proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.buildChunk);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.transform },
    { key: SluiceStep, value: 'backfillRange' },
    { key: SluiceDataset, value: `${input.transform}__v${input.version}` },
    ...(statusPatched ? [{ key: SluiceStatus, value: 'running' }] : []),
  ]);
  const totals: BackfillRangeResult = { rowsRead: input.rowsRead ?? 0, rowsWritten: input.rowsWritten ?? 0, chunks: input.chunks ?? 0 };
  let cursor = input.fromSeq;
  for (;;) {
    const r = await buildTransformChunk({
      buildId: input.buildId,
      transform: input.transform,
      version: input.version,
      fromSeq: cursor,
      toSeq: input.toSeq,
      maxRows: input.chunkRows,
    });
    totals.rowsRead += r.rowsRead;
    totals.rowsWritten += r.rowsWritten;
    totals.chunks += 1;
    if (r.done) {
      if (statusPatched) upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
      return totals;
    }
    cursor = (BigInt(r.chunkToSeq) + 1n).toString();
    if (workflowInfo().historyLength > MAX_HISTORY_EVENTS) {
      await continueAsNew<typeof backfillRange>({ ...input, fromSeq: cursor, ...totals });
    }
  }
}
