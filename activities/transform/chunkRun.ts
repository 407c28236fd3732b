/**
 * A run of incremental chunks inside one activity (`runTransformChunks`, the `transform` workflow's
 * step since the `chunk-runs` patch): chunks are planned from the watermark and run back to back,
 * up to `parallelism` side by side on their own connections, each committed in log order by
 * {@link runPlannedChunk} (rows, chunk-log row and watermark in one transaction). The run plans
 * the next chunks while the current ones run, so the bound scans overlap the INSERTs; it starts no
 * chunk after its time budget and returns when caught up or out of time, with totals.
 *
 * Why one activity for many chunks: a chunk per regular activity costs a server round trip
 * (~100 ms here) per chunk; a chunk per local activity holds the workflow task open for as long
 * as chunks keep coming (Temporal warns past 5 s, TMPRL1104). A run of about `runSeconds` costs one
 * round trip and a few history events, whatever the number of chunks.
 *
 * Retries need nothing of their own: every chunk is idempotent and every plan starts from the
 * watermark in the database. A retried run resumes its totals from its last heartbeat and adds the
 * chunks that were committed after it (the chunk log), so the counts stay exact after a crash.
 */
import type { Pool } from 'pg';
import { planIncrementalChunks, runPlannedChunk, type ChunkPlan, type PlannedChunk, type RunChunkResult } from './chunks';
import { loadTransform, type TransformDefinition } from './registry';

export interface ChunkRunInput {
  transform: string;
  /** Log rows per source per chunk. */
  maxRows: number;
  /** Chunks running at once. */
  parallelism: number;
  /** Start no chunk after this many seconds (the chunks in flight still finish). */
  runSeconds: number;
  /** Recorded with each chunk (sluice.transform_chunks). */
  workflowId?: string;
}

/** Totals of a run so far: the heartbeat details, and where a retried attempt resumes its counts. */
export interface ChunkRunProgress {
  /** Live version the chunks were written to, e.g. "v2"; null before the first plan. */
  version: string | null;
  /** Watermark after the last chunk (decimal string); null before the first plan. */
  watermark: string | null;
  /** Chunks committed (now or by an earlier attempt: `replayed`). */
  chunks: number;
  replayed: number;
  /** Chunks rolled back because their turn did not come (planned again). */
  deferred: number;
  rowsRead: number;
  rowsWritten: number;
  /** Chunks running at the moment of the heartbeat. */
  chunksInFlight: number;
}

export interface ChunkRunResult extends ChunkRunProgress {
  /** True when the run reached the end of the committed log (false: out of time, call again). */
  caughtUp: boolean;
  runEventDetails: { version: string | null; fromSeq: string | null; toSeq: string | null; parallelism: number };
}

export interface ChunkRunOptions {
  signal?: AbortSignal;
  /** Called after every chunk and plan with the totals so far (the activity heartbeats them). */
  progress?: (p: ChunkRunProgress) => void;
  /** The last heartbeat of an earlier attempt of this run. */
  resume?: ChunkRunProgress;
  /** See runPlannedChunk. */
  turnWaitMs?: number;
}

/** Runs chunks until caught up or out of time (see the module comment). Throws what a chunk throws. */
export async function runIncrementalChunks(pool: Pool, input: ChunkRunInput, options: ChunkRunOptions = {}): Promise<ChunkRunResult> {
  const deadline = Date.now() + input.runSeconds * 1000;
  const parallelism = Math.max(1, input.parallelism);
  const { resume } = options;
  const totals: ChunkRunProgress = {
    version: resume?.version ?? null,
    watermark: resume?.watermark ?? null,
    chunks: resume?.chunks ?? 0,
    replayed: resume?.replayed ?? 0,
    deferred: resume?.deferred ?? 0,
    rowsRead: resume?.rowsRead ?? 0,
    rowsWritten: resume?.rowsWritten ?? 0,
    chunksInFlight: 0,
  };
  let startedAt: string | null = null;
  // A chunk that fails stops the others (their statements are cancelled), as does the activity's cancellation.
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const report = (): void => options.progress?.({ ...totals });
  const plan = (after: { version: number; toSeq: string } | null, horizon: string | null): Promise<ChunkPlan> =>
    planIncrementalChunks(pool, { transform: input.transform, maxRows: input.maxRows, count: parallelism, after, horizon });

  let caughtUp = false;
  let startedAny = false;
  let gapCounted = resume === undefined;
  // One pass per plan from the watermark; a deferred chunk or a new live version starts another.
  while (!caughtUp && (!startedAny || Date.now() < deadline)) {
    signal.throwIfAborted();
    const first = await plan(null, null);
    const version = `v${first.version}`;
    if (!gapCounted) {
      gapCounted = true;
      if (resume?.version === version && resume.watermark !== null)
        await addChunksAfter(pool, input.transform, first.version, resume.watermark, first.watermark, totals);
    }
    if (totals.version !== version) totals.watermark = first.watermark;
    totals.version = version;
    startedAt ??= (BigInt(first.watermark) + 1n).toString();
    report();
    const def = await loadTransform(pool, input.transform, first.version);
    const pass = await runPass(first, def);
    caughtUp = pass === 'caught up';
  }
  return {
    ...totals,
    chunksInFlight: 0,
    caughtUp,
    runEventDetails: { version: totals.version, fromSeq: startedAt, toSeq: totals.watermark, parallelism },
  };

  /**
   * Runs the chunks of `first` and of the plans after it, in log order, until there is nothing
   * more to plan (caught up), the time is up, a chunk is deferred or the live version changed.
   */
  async function runPass(first: ChunkPlan, def: TransformDefinition): Promise<'caught up' | 'stopped'> {
    const queue: PlannedChunk[] = [...first.chunks];
    const inFlight: Promise<RunChunkResult>[] = [];
    let plannedTo = first.chunks.at(-1)?.toSeq ?? first.watermark;
    let horizon = first.horizon;
    let exhausted = first.chunks.length === 0;
    let stopped = false;
    let ahead: Promise<ChunkPlan> | null = null;
    const take = (p: ChunkPlan): void => {
      if (p.version !== first.version) {
        stopped = true; // a backfill switched the live version: finish these, then plan for the new one
        return;
      }
      queue.push(...p.chunks);
      plannedTo = p.chunks.at(-1)?.toSeq ?? plannedTo;
      horizon = p.horizon;
      exhausted = p.chunks.length === 0;
    };
    try {
      for (;;) {
        // Out of time: no new chunk (but every run starts at least one, so each call makes progress).
        if ((startedAny && Date.now() >= deadline) || signal.aborted) stopped = true;
        while (!stopped && inFlight.length < parallelism && queue.length > 0) {
          const c = queue.shift() as PlannedChunk;
          const run = runPlannedChunk(
            pool,
            { transform: input.transform, version: first.version, ...c, workflowId: input.workflowId },
            signal,
            { definition: def, turnWaitMs: options.turnWaitMs },
          );
          run.catch(() => undefined); // awaited below, in order; this only marks a later failure as handled meanwhile
          inFlight.push(run);
          startedAny = true;
        }
        totals.chunksInFlight = inFlight.length;
        // Plan the next chunks while these run: their bound scans overlap the INSERTs.
        if (!stopped && !exhausted && ahead === null && queue.length < parallelism) {
          ahead = plan({ version: first.version, toSeq: plannedTo }, horizon);
          ahead.catch(() => undefined); // awaited below before the pass ends; this only marks a failure as handled meanwhile
        }
        const next = inFlight.shift();
        if (next === undefined) {
          if (ahead === null) return exhausted && !stopped ? 'caught up' : 'stopped';
          const p = await ahead;
          ahead = null;
          if (!stopped) take(p);
          continue;
        }
        const r = await next;
        totals.chunksInFlight = inFlight.length;
        if (r.outcome === 'deferred') {
          totals.deferred += 1;
          stopped = true; // the chunks in flight finish (committed, replayed or deferred), then a new pass plans from the watermark
        } else {
          totals.chunks += 1;
          if (r.outcome === 'replayed') totals.replayed += 1;
          totals.rowsRead += r.rowsRead;
          totals.rowsWritten += r.rowsWritten;
          totals.watermark = r.watermark; // past toSeq when a backfill moved it
        }
        report();
        if (ahead !== null && queue.length === 0 && !stopped) {
          take(await ahead);
          ahead = null;
        }
      }
    } catch (err) {
      stop.abort(err);
      await Promise.allSettled([...inFlight, ...(ahead ? [ahead] : [])]);
      throw options.signal?.aborted ? (options.signal.reason ?? err) : err;
    }
  }
}

/**
 * Adds to `totals` the chunks committed in (after, upTo]: after a crash, those an earlier attempt
 * committed after its last heartbeat. The latest attempt per range counts (a range run again after
 * a backfill moved the watermark back appears twice in the chunk log).
 */
async function addChunksAfter(
  pool: Pool,
  transform: string,
  version: number,
  after: string,
  upTo: string,
  totals: ChunkRunProgress,
): Promise<void> {
  if (BigInt(upTo) <= BigInt(after)) return;
  const r = await pool.query<{ chunks: string; rows_read: string; rows_written: string }>(
    `SELECT count(*)::text AS chunks, coalesce(sum(rows_read), 0)::text AS rows_read, coalesce(sum(rows_written), 0)::text AS rows_written
     FROM (SELECT DISTINCT ON (from_seq) rows_read, rows_written FROM sluice.transform_chunks
           WHERE name = $1 AND version = $2 AND from_seq > $3 AND to_seq <= $4 ORDER BY from_seq, id DESC) c`,
    [transform, version, after, upTo],
  );
  const row = r.rows[0];
  totals.chunks += Number(row?.chunks ?? 0);
  totals.rowsRead += Number(row?.rows_read ?? 0);
  totals.rowsWritten += Number(row?.rows_written ?? 0);
  totals.watermark = upTo;
}
