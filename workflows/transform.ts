/**
 * `transform`: the long-lived incremental workflow of one transform (id `transformWorkflowId(name)`).
 * It consumes the log from the live version's watermark in chunks, one activity per chunk, sleeps
 * when caught up, and wakes on `dataLanded` or after `idleSeconds` (a lost signal delays work,
 * never loses it: every plan starts from the watermark in the database, not from the signal).
 *
 * The chunks run inside one regular, heartbeating activity (`runTransformChunks`) that runs them
 * back to back, up to `parallelism` side by side, for about `runSeconds` or until caught up: their
 * SQL runs side by side, their commits stay in log order (see activities/transform/chunkRun.ts and
 * chunks.ts), so the derived table always holds a prefix of the log. One server round trip and a
 * few history events per run, not per chunk, and no long workflow task.
 *
 * Older runs replay their own loops: runs recorded with the `planned-chunks` patch marker (and
 * not `chunk-runs`) the planned chunks as local activities, runs from before it one chunk at a time.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ChunkPlan, ChunkRunResult, InputCheckActivities, RunChunkResult, TransformActivities } from '../activities';
import { dataLandedSignal, transformStatusQuery } from '../api/messages';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { TransformInput, TransformStatus, TransformTotals } from '../api/workflows/transform';
import { ACTIVITY_OPTIONS, LOCAL_ACTIVITY_OPTIONS } from './activityOptions';
import { sluiceStatusPatched, withSluiceStatus } from './status';

export type { TransformInput, TransformStatus, TransformTotals };
/**
 * Rows per source per chunk. A chunk is one transaction (about 0.6 s for 200,000 20-field rows
 * here); its fixed work (plan, locks, chunk-log row, commit) is a few milliseconds, so larger
 * chunks buy little more, and smaller ones make a retry cheaper.
 */
export const DEFAULT_CHUNK_ROWS = 200_000;
/** The default of the loops from before `chunk-runs`: a run that started on them keeps its chunk size. */
const LEGACY_CHUNK_ROWS = 50_000;
/** Chunks in flight at once: two keep PostgreSQL busy while the other waits for its turn and commits. */
export const DEFAULT_PARALLELISM = 2;
/**
 * Seconds one run of chunks keeps starting chunks before it returns to the workflow: its round
 * trip is noise next to it, and a run that is in progress when its worker is told to stop still
 * ends inside the default shutdown grace time (SLUICE_SHUTDOWN_GRACE_SECONDS, 30) instead of being
 * cancelled and retried elsewhere.
 */
export const DEFAULT_RUN_SECONDS = 20;
/** Patch id of planned, parallel chunks as local activities (docs/architecture.md, determinism 1). */
export const PLANNED_CHUNKS_PATCH = 'planned-chunks';
/** Patch id of runs of chunks in one regular activity (`runTransformChunks`). */
export const CHUNK_RUNS_PATCH = 'chunk-runs';
const DEFAULT_IDLE_SECONDS = 60;
/** Continue-as-new well before the 10,000-event target (docs/architecture.md, principle 5). */
const MAX_HISTORY_EVENTS = 4_000;

/**
 * Incremental transform (see the module comment). Side effects: rows in `<name>__v<N>`, the
 * watermark, run events. Never completes on its own; continues-as-new. Fails with
 * SLUICE_INVALID_INPUT, SLUICE_UNKNOWN_TRANSFORM, or SLUICE_INVALID_TRANSFORM when its SQL fails on the data.
 */
export async function transform(input: TransformInput): Promise<never> {
  const totals: TransformTotals = { chunks: 0, rowsRead: 0, rowsWritten: 0, signals: 0, runs: 0, ...input.totals };
  totals.runs += 1;
  const status: TransformStatus = {
    ...totals,
    transform: input.transform,
    state: 'starting',
    version: null,
    watermark: null,
    lastLandedSeq: null,
    chunksInFlight: 0,
    chunkRuns: 0,
    deferred: 0,
  };
  // Answerable from the first workflow task on (state `starting`), not only after the input check;
  // a query handler makes no command, so histories recorded before replay the same.
  setHandler(transformStatusQuery, () => status);
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(
    statusPatched,
    () => runTransform(input, status),
    () => {
      status.state = 'failed';
      status.chunksInFlight = 0;
    },
  );
}

async function runTransform(input: TransformInput, status: TransformStatus): Promise<never> {
  // Since `chunk-runs` the input check is a local activity: the first run of chunks is scheduled
  // in the first workflow task, one server round trip (~100 ms here) sooner.
  const chunkRunsPath = patched(CHUNK_RUNS_PATCH);
  const check = chunkRunsPath
    ? proxyLocalActivities<InputCheckActivities>(LOCAL_ACTIVITY_OPTIONS.inputCheck)
    : proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
  await check.checkWorkflowInput('transform', input);
  let woken = false;
  setHandler(dataLandedSignal, (e) => {
    woken = true;
    status.signals += 1;
    if (status.lastLandedSeq === null || BigInt(e.toSeq) > BigInt(status.lastLandedSeq)) status.lastLandedSeq = e.toSeq;
  });
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.transform },
    { key: SluiceStep, value: 'transform' },
    { key: SluiceStatus, value: 'running' },
  ]);

  const ctx: LoopContext = {
    input,
    status,
    setVersion(version) {
      if (status.version === version) return;
      status.version = version;
      upsertSearchAttributes([{ key: SluiceDataset, value: `${input.transform}__${version}` }]);
    },
    async idle() {
      status.state = 'idle';
      await condition(() => woken, (input.idleSeconds ?? DEFAULT_IDLE_SECONDS) * 1000);
      woken = false;
    },
    historyIsLong() {
      const info = workflowInfo();
      return info.continueAsNewSuggested || info.historyLength > (input.historyLimit ?? MAX_HISTORY_EVENTS);
    },
    async continueAsNewIfLong() {
      if (!this.historyIsLong()) return;
      await condition(allHandlersFinished);
      const { chunks, rowsRead, rowsWritten, signals, runs } = status;
      await continueAsNew<typeof transform>({ ...input, totals: { chunks, rowsRead, rowsWritten, signals, runs } });
    },
  };
  if (chunkRunsPath) return chunkRuns(ctx);
  if (patched(PLANNED_CHUNKS_PATCH)) return plannedChunks(ctx);
  return oneChunkAtATime(ctx);
}

interface LoopContext {
  input: TransformInput;
  status: TransformStatus;
  setVersion(version: string): void;
  idle(): Promise<void>;
  historyIsLong(): boolean;
  /** Continues as new (carrying the totals) when the history is long; only between chunks. */
  continueAsNewIfLong(): Promise<void>;
}

/**
 * Calls `runTransformChunks` in a loop: each call runs chunks from the watermark until caught up
 * or `runSeconds` are spent; the workflow idles when caught up and continues as new between calls.
 */
async function chunkRuns(ctx: LoopContext): Promise<never> {
  const { input, status, setVersion } = ctx;
  const { runTransformChunks } = proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.transformRun);
  const parallelism = input.parallelism ?? DEFAULT_PARALLELISM;
  for (;;) {
    status.state = 'processing';
    status.chunksInFlight = parallelism;
    const r: ChunkRunResult = await runTransformChunks({
      transform: input.transform,
      maxRows: input.chunkRows ?? DEFAULT_CHUNK_ROWS,
      parallelism,
      runSeconds: input.runSeconds ?? DEFAULT_RUN_SECONDS,
    });
    status.chunksInFlight = 0;
    status.chunkRuns += 1;
    status.chunks += r.chunks;
    status.rowsRead += r.rowsRead;
    status.rowsWritten += r.rowsWritten;
    status.deferred += r.deferred;
    if (r.version !== null) setVersion(r.version);
    if (r.watermark !== null) status.watermark = r.watermark;
    if (r.caughtUp) await ctx.idle();
    await ctx.continueAsNewIfLong();
  }
}

/**
 * Keeps up to `parallelism` planned chunks in flight and takes their results in log order. A
 * `deferred` chunk (its turn never came) drops the rest of the plan: the chunks in flight are
 * awaited and planning starts again from the watermark in the database.
 */
async function plannedChunks(ctx: LoopContext): Promise<never> {
  const { input, status, setVersion } = ctx;
  const { planTransformChunks, runTransformChunk } = proxyLocalActivities<TransformActivities>(LOCAL_ACTIVITY_OPTIONS.transformChunk);
  const chunkRows = input.chunkRows ?? LEGACY_CHUNK_ROWS;
  const parallelism = input.parallelism ?? DEFAULT_PARALLELISM;
  const inFlight: Promise<RunChunkResult>[] = [];
  let plannedTo: { version: number; toSeq: string } | null = null;
  let horizon: string | null = null;
  let replan = false;
  for (;;) {
    status.state = 'processing';
    let nothingNew = false;
    // A long history stops planning: what is in flight finishes, then the run continues as new.
    if (!replan && inFlight.length < parallelism && !ctx.historyIsLong()) {
      const plan: ChunkPlan = await planTransformChunks({
        transform: input.transform,
        maxRows: chunkRows,
        count: parallelism - inFlight.length,
        after: plannedTo,
        horizon,
      });
      horizon = plan.horizon;
      setVersion(`v${plan.version}`);
      if (plannedTo === null || plannedTo.version !== plan.version) status.watermark = plan.watermark;
      for (const c of plan.chunks) {
        const run = runTransformChunk({ transform: input.transform, version: plan.version, ...c });
        run.catch(() => undefined); // awaited below, in order; this only marks a later failure as handled meanwhile
        inFlight.push(run);
        plannedTo = { version: plan.version, toSeq: c.toSeq };
      }
      nothingNew = plan.chunks.length === 0;
    }
    status.chunksInFlight = inFlight.length;
    const next = inFlight.shift();
    if (next === undefined) {
      replan = false;
      plannedTo = null;
      if (nothingNew) await ctx.idle();
      await ctx.continueAsNewIfLong();
      continue;
    }
    const r = await next;
    status.chunksInFlight = inFlight.length;
    if (r.outcome === 'deferred') {
      status.deferred += 1;
      replan = true; // drain what is in flight (each is committed, replayed or deferred), then plan again
      continue;
    }
    status.chunks += 1;
    status.rowsRead += r.rowsRead;
    status.rowsWritten += r.rowsWritten;
    status.watermark = r.watermark; // past toSeq when a backfill moved it
  }
}

/** The loop of runs recorded before planned chunks: one `processTransformChunk` at a time. */
async function oneChunkAtATime(ctx: LoopContext): Promise<never> {
  const { input, status, setVersion } = ctx;
  const { processTransformChunk } = proxyLocalActivities<TransformActivities>(LOCAL_ACTIVITY_OPTIONS.transformChunk);
  const chunkRows = input.chunkRows ?? LEGACY_CHUNK_ROWS;
  for (;;) {
    status.state = 'processing';
    const r = await processTransformChunk({ transform: input.transform, maxRows: chunkRows });
    status.chunks += 1;
    status.rowsRead += r.rowsRead;
    status.rowsWritten += r.rowsWritten;
    status.watermark = r.toSeq;
    setVersion(r.version);
    if (r.caughtUp) await ctx.idle();
    await ctx.continueAsNewIfLong();
  }
}
