/**
 * Running a transform over one chunk of the log, in one transaction each:
 * - planned incremental (the `transform` workflow): the workflow plans chunk ranges ahead of the
 *   watermark ({@link planIncrementalChunks}) and runs a few at once ({@link runPlannedChunk}).
 *   Their INSERTs run in parallel; their commits are ordered: a chunk commits only when the
 *   watermark stands right before it, moving it to its end in the same transaction, so the
 *   derived table only ever holds a prefix of the log and the watermark says where it ends.
 *   A retried chunk whose range is already under the watermark writes nothing (nothing twice);
 *   a chunk whose turn does not come rolls back and is planned again (nothing lost);
 * - incremental, one at a time (histories from before planned chunks): rows of (watermark, upper]
 *   go into `<name>__v<N>` and the watermark moves to `upper`, with the watermark rows locked
 *   first (a retry or a second worker sees the new watermark and goes on from there);
 * - build (backfill): rows of [from, upper] go into the build table together with a marker row in
 *   sluice.transform_build_chunks keyed by (build, from): a retried chunk finds its marker.
 */
import type { Pool, PoolClient } from 'pg';
import { cancelStatementOnAbort } from '../../db/cancel';
import { DEFAULT_TRANSFORM_LIMITS } from '../../api/workflows/registerTransform';
import { asTransformRole } from '../../db/roles';
import { inTransaction } from '../../db/transaction';

/** A chunk's transaction runs the transform's SQL: the session is reset before the connection is pooled again. */
function inUserSqlTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, fn, { resetSession: true });
}
import { buildTable, derivedTable } from './sqlText';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadLiveTransform, loadTransform, sqlFailure, type TransformDefinition } from './registry';

/**
 * The highest `seq` below which the log can no longer change. Identity values are handed out
 * before commit, so a later `seq` may be visible while an earlier one is still being written; a
 * SHARE lock waits for the inserts in flight, after which every `seq` up to max(seq) is final.
 * The lock is held for one index lookup.
 */
export async function commitHorizon(pool: Pool): Promise<bigint> {
  return inUserSqlTransaction(pool, async (client) => {
    // A waiting SHARE request queues the log's writers behind it: give up soon and let Temporal
    // retry the chunk (a retryable error) rather than stall ingestion behind a long write.
    await client.query("SET LOCAL lock_timeout = '3s'");
    await client.query('SELECT sluice.lock_log_for_horizon()');
    const r = await client.query<{ max: string }>('SELECT coalesce(max(seq), 0)::text AS max FROM sluice.raw_events');
    return BigInt(r.rows[0]?.max ?? '0');
  });
}

export interface ChunkBounds {
  /** Last seq of the chunk. */
  upper: bigint;
  /** Rows of the sources in [from, upper]. */
  rowsRead: number;
}

/**
 * Bounds of a chunk starting at `from`: at most `maxRows` rows of each source, never past `to`,
 * and how many source rows it holds. One index range scan on (source, seq) per source.
 */
export async function chunkBounds(client: PoolClient, sources: string[], from: bigint, to: bigint, maxRows: number): Promise<ChunkBounds> {
  let upper = to;
  const perSource: { count: number; last: bigint }[] = [];
  for (const source of sources) {
    const r = await client.query<{ n: string; last: string | null }>(
      `SELECT count(*)::text AS n, max(s.seq)::text AS last
       FROM (SELECT seq FROM sluice.raw_events WHERE source = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4) s`,
      [source, from.toString(), to.toString(), maxRows],
    );
    const count = Number(r.rows[0]?.n ?? 0);
    const last = r.rows[0]?.last == null ? from - 1n : BigInt(r.rows[0].last);
    perSource.push({ count, last });
    if (count >= maxRows && last < upper) upper = last;
  }
  // A source that reached past `upper` (several sources) is counted again up to `upper`.
  let rowsRead = 0;
  for (let i = 0; i < sources.length; i++) {
    const s = perSource[i] as { count: number; last: bigint };
    rowsRead += s.last <= upper ? s.count : await countSourceRows(client, [sources[i] as string], from, upper);
  }
  return { upper, rowsRead };
}

async function countSourceRows(client: PoolClient, sources: string[], from: bigint, to: bigint): Promise<number> {
  const r = await client.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM sluice.raw_events WHERE source = ANY($1) AND seq >= $2 AND seq <= $3',
    [sources, from.toString(), to.toString()],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Sets the transform's limits (bound values, transaction-local), around its statement only (the
 * chunk's own waits for its turn are not user SQL).
 */
const SET_LIMITS = 'SELECT set_config(s.name, s.value, true) FROM unnest($1::text[], $2::text[]) AS s(name, value)';
/** Back to the session's values for the rest of the chunk's transaction. */
const RESET_LIMITS =
  'SET LOCAL statement_timeout TO DEFAULT; SET LOCAL lock_timeout TO DEFAULT; ' +
  'SET LOCAL idle_in_transaction_session_timeout TO DEFAULT; SET LOCAL work_mem TO DEFAULT';

function limitSettings(def: TransformDefinition): [string[], string[]] {
  const l = { ...DEFAULT_TRANSFORM_LIMITS, ...def.limits };
  return [
    ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'work_mem'],
    [
      `${Math.round(l.statementTimeoutMs)}ms`,
      `${Math.round(l.lockTimeoutMs)}ms`,
      `${Math.round(l.idleInTransactionMs)}ms`,
      `${Math.round(l.workMemMb)}MB`,
    ],
  ];
}

/** Where a chunk's rows go: the version's table (incremental) or a backfill's build table. */
type ChunkTarget = { kind: 'version'; transform: string; version: number } | { kind: 'build'; buildId: string };

async function insertRange(client: PoolClient, def: TransformDefinition, into: ChunkTarget, from: bigint, to: bigint): Promise<number> {
  const target = into.kind === 'version' ? derivedTable(into.transform, into.version) : buildTable(into.buildId);
  try {
    await client.query(SET_LIMITS, limitSettings(def));
    const r = await asTransformRole(client, () =>
      // the transform's SQL is code by design (registered, reviewed); it runs as sluice_transform
      // eslint-disable-next-line sluice/sql-values-bound
      client.query(`INSERT INTO ${target} SELECT * FROM (\n${def.sql}\n) AS transform_output`, [from.toString(), to.toString()]),
    );
    await client.query(RESET_LIMITS);
    return r.rowCount ?? 0;
  } catch (err) {
    throw sqlFailure(err, `transform ${def.name} v${def.version} failed on log range [${from}, ${to}]`);
  }
}

/** What an incremental chunk did. */
export interface ChunkCounts {
  transform: string;
  /** The version the chunk was written to, as "v<N>" (a string: it is not a count). */
  version: string;
  /** Range processed, inclusive, as decimal strings; fromSeq > toSeq when there was nothing new. */
  fromSeq: string;
  toSeq: string;
  /** Log rows of the transform's sources in the range. */
  rowsRead: number;
  /** Rows written to the derived table. */
  rowsWritten: number;
}

export interface TransformChunkResult extends ChunkCounts {
  /** True when the watermark reached the end of the committed log. */
  caughtUp: boolean;
}

/** One incremental chunk of the live version (see the module comment). */
export async function processIncrementalChunk(pool: Pool, transform: string, maxRows: number): Promise<TransformChunkResult> {
  const def = await loadLiveTransform(pool, transform);
  const { version } = def;
  const horizon = await commitHorizon(pool);
  return inUserSqlTransaction(pool, async (client) => {
    await lockVersionTable(client, transform, version, 'ROW EXCLUSIVE');
    const last = await readWatermark(client, transform, version, true);
    const from = last + 1n;
    const base = { transform, version: `v${version}`, fromSeq: from.toString() };
    if (from > horizon) return { ...base, toSeq: last.toString(), rowsRead: 0, rowsWritten: 0, caughtUp: true };
    const { upper, rowsRead } = await chunkBounds(client, def.sources, from, horizon, maxRows);
    const rowsWritten = await insertRange(client, def, { kind: 'version', transform, version }, from, upper);
    await advanceWatermark(client, transform, version, upper);
    return { ...base, toSeq: upper.toString(), rowsRead, rowsWritten, caughtUp: upper === horizon };
  });
}

export interface PlanChunksInput {
  transform: string;
  /** Log rows per source per chunk. */
  maxRows: number;
  /** How many chunks to plan at most. */
  count: number;
  /**
   * The end of the chunks the caller already has in flight for `version` (decimal string): planning
   * goes on after it instead of after the watermark. Ignored when the live version is another one.
   */
  after?: { version: number; toSeq: string } | null;
  /**
   * The horizon of an earlier plan (decimal string). Rows up to it never change, so planning below
   * it needs no new horizon (and no SHARE lock on the log); past it, a fresh one is taken.
   */
  horizon?: string | null;
}

export interface PlannedChunk {
  fromSeq: string;
  toSeq: string;
  /** Log rows of the transform's sources in the range. */
  rowsRead: number;
}

export interface ChunkPlan {
  transform: string;
  /** Live version the chunks are for. */
  version: number;
  /** The version's watermark when planned (decimal string). */
  watermark: string;
  /** End of the committed log when planned: no chunk reaches past it. */
  horizon: string;
  /** Consecutive ranges after the watermark (or after `after`), at most `count`; empty when there is nothing new. */
  chunks: PlannedChunk[];
}

/** The lowest watermark over the version's sources (they move together); `lock` locks the rows first. */
export async function readWatermark(client: Pool | PoolClient, transform: string, version: number, lock: boolean): Promise<bigint> {
  const r = await client.query<{ last_seq: string }>(
    `SELECT last_seq::text AS last_seq FROM sluice.watermarks WHERE name = $1 AND version = $2 ORDER BY source${lock ? ' FOR UPDATE' : ''}`,
    [transform, version],
  );
  if (r.rows.length === 0) throw new Error(`transform ${transform} v${version} has no watermark rows`);
  return r.rows.reduce((m, row) => (BigInt(row.last_seq) < m ? BigInt(row.last_seq) : m), BigInt(r.rows[0]?.last_seq ?? '0'));
}

/**
 * The first lock of every transaction that writes `<name>__v<N>` or moves its watermark: the table,
 * then the watermark rows. A backfill switch takes them in the same order (ACCESS EXCLUSIVE on the
 * table first), so it waits for the chunks in flight and never deadlocks with them.
 */
export async function lockVersionTable(
  client: PoolClient,
  transform: string,
  version: number,
  mode: 'ROW EXCLUSIVE' | 'ACCESS EXCLUSIVE',
): Promise<void> {
  await client.query(`LOCK TABLE ${derivedTable(transform, version)} IN ${LOCK_MODES[mode]} MODE`);
}

const LOCK_MODES = { 'ROW EXCLUSIVE': 'ROW EXCLUSIVE', 'ACCESS EXCLUSIVE': 'ACCESS EXCLUSIVE' } as const;

/** The advisory-lock key a running chunk holds for the end of its range: the chunk after it waits on it. */
function chunkKey(transform: string, version: number, toSeq: bigint): string {
  return `sluice.chunk:${transform}:v${version}:${toSeq}`;
}

/** Moves every source's watermark of the version to `toSeq` (within the chunk's transaction). */
export async function advanceWatermark(client: PoolClient, transform: string, version: number, toSeq: bigint): Promise<void> {
  await client.query('UPDATE sluice.watermarks SET last_seq = $3, updated_at = now() WHERE name = $1 AND version = $2', [
    transform,
    version,
    toSeq.toString(),
  ]);
}

/**
 * Plans up to `count` consecutive chunks of the live version after its watermark (or after the
 * chunks in flight), each of at most `maxRows` rows per source, never past the commit horizon.
 * Reads only: the ranges are final because the log below the horizon never changes.
 */
export async function planIncrementalChunks(pool: Pool, input: PlanChunksInput): Promise<ChunkPlan> {
  const def = await loadLiveTransform(pool, input.transform);
  // One connection at a time: the horizon takes a connection of its own (and may wait for a lock),
  // so it is read before this function holds one. Holding one while asking the pool for another
  // let concurrent planners take every connection of a small pool and each wait for a second one,
  // until the pool's 10 s acquire timeout (seen in the pipeline bench: three transforms of one
  // source on a worker with 4 connections).
  const watermark = await readWatermark(pool, def.name, def.version, false);
  const after = input.after && input.after.version === def.version ? BigInt(input.after.toSeq) : watermark;
  let from = (after > watermark ? after : watermark) + 1n;
  const known = input.horizon ? BigInt(input.horizon) : -1n;
  const horizon = from <= known ? known : await commitHorizon(pool);
  const client = await pool.connect();
  try {
    const chunks: PlannedChunk[] = [];
    while (chunks.length < input.count && from <= horizon) {
      const { upper, rowsRead } = await chunkBounds(client, def.sources, from, horizon, input.maxRows);
      chunks.push({ fromSeq: from.toString(), toSeq: upper.toString(), rowsRead });
      from = upper + 1n;
    }
    return { transform: def.name, version: def.version, watermark: watermark.toString(), horizon: horizon.toString(), chunks };
  } finally {
    client.release();
  }
}

export interface RunChunkInput extends PlannedChunk {
  transform: string;
  version: number;
  /** Recorded with the chunk (sluice.transform_chunks). */
  workflowId?: string;
}

export interface RunChunkResult extends ChunkCounts {
  /**
   * committed: written now; replayed: an earlier attempt had committed it (its counts are
   * returned, nothing was written now); deferred: the watermark never came to stand right before
   * the chunk (the chunk before it failed, or a backfill moved the watermark): rolled back, plan again.
   */
  outcome: 'committed' | 'replayed' | 'deferred';
  /** The watermark when the chunk finished (decimal string). */
  watermark: string;
  runEventDetails: { version: string; fromSeq: string; toSeq: string; outcome: string };
}

/** How long a chunk whose INSERT is done waits for the watermark to reach it while the chunk before it is not running. */
const TURN_WAIT_MS = 15_000;
/** How long it waits on a chunk before it that is running (that chunk's whole INSERT, at worst). */
const TURN_LOCK_TIMEOUT = '4min';

class ChunkOutcome extends Error {
  constructor(
    readonly outcome: 'replayed' | 'deferred',
    readonly watermark: bigint,
  ) {
    super(outcome);
  }
}

/**
 * Runs one planned chunk (see the module comment). Every chunk holds an advisory key for the end of
 * its range while it runs. A chunk that is next in line also locks the watermark before its
 * INSERT; a later chunk runs its INSERT first, then waits on the key of the chunk before it (on the
 * lock, whatever that chunk is doing) and takes its turn when the watermark stands right before
 * it. So chunks run side by side and commit in log order. Only when the chunk before it is not
 * running at all (not started yet, or failed) does it poll, and it gives up after `turnWaitMs`.
 */
export async function runPlannedChunk(
  pool: Pool,
  input: RunChunkInput,
  signal?: AbortSignal,
  options: { turnWaitMs?: number; definition?: TransformDefinition } = {},
): Promise<RunChunkResult> {
  const from = BigInt(input.fromSeq);
  const to = BigInt(input.toSeq);
  const base = {
    transform: input.transform,
    version: `v${input.version}`,
    fromSeq: input.fromSeq,
    toSeq: input.toSeq,
    rowsRead: input.rowsRead,
  };
  const result = (outcome: RunChunkResult['outcome'], rowsWritten: number, watermark: bigint): RunChunkResult => ({
    ...base,
    rowsWritten,
    outcome,
    watermark: watermark.toString(),
    runEventDetails: { version: base.version, fromSeq: input.fromSeq, toSeq: input.toSeq, outcome },
  });
  /** Where the locked watermark stands relative to this chunk: go on, or stop with an outcome. */
  const judge = (wm: bigint): 'turn' | 'wait' => {
    if (wm >= to) throw new ChunkOutcome('replayed', wm);
    if (wm === from - 1n) return 'turn';
    if (wm > from - 1n) throw new ChunkOutcome('deferred', wm); // inside the range: the plan is stale
    return 'wait';
  };
  // A run of many chunks loads the definition once (a query less per chunk).
  const def =
    options.definition?.version === input.version && options.definition.name === input.transform
      ? options.definition
      : await loadTransform(pool, input.transform, input.version);
  signal?.throwIfAborted();
  try {
    return await inUserSqlTransaction(pool, async (client) => {
      const session = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid, set_config('lock_timeout', $1, true)", [
        TURN_LOCK_TIMEOUT,
      ]);
      // Cancelled (the workflow is gone, the worker shuts down, a chunk beside it failed): stop the
      // statement in the server too, or the INSERT runs to its end on a connection nobody waits for.
      const release = cancelStatementOnAbort(pool, session.rows[0]?.pid, signal, 'the transform chunk');
      try {
        return await chunkTransaction(client);
      } finally {
        release();
      }
    });
  } catch (err) {
    if (!(err instanceof ChunkOutcome)) throw signal?.aborted ? (signal.reason ?? err) : err;
    if (err.outcome === 'deferred') return result('deferred', 0, err.watermark);
    // Replayed: the counts of the attempt that committed this range (the latest one, after a backfill moved the watermark back).
    const prior = await pool.query<{ rows_written: string }>(
      'SELECT rows_written::text FROM sluice.transform_chunks WHERE name = $1 AND version = $2 AND from_seq = $3 AND to_seq = $4 ORDER BY id DESC LIMIT 1',
      [input.transform, input.version, input.fromSeq, input.toSeq],
    );
    return result('replayed', Number(prior.rows[0]?.rows_written ?? 0), err.watermark);
  }

  async function chunkTransaction(client: PoolClient): Promise<RunChunkResult> {
    await lockVersionTable(client, input.transform, input.version, 'ROW EXCLUSIVE');
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [chunkKey(input.transform, input.version, to)]);
    // Next in line: take the turn now.
    let seen = await readWatermark(client, input.transform, input.version, false);
    let ready = judge(seen) === 'turn';
    if (ready) {
      seen = await readWatermark(client, input.transform, input.version, true);
      if (judge(seen) !== 'turn') throw new ChunkOutcome('deferred', seen); // moved back meanwhile (a backfill switch)
    }
    const rowsWritten = await insertRange(client, def, { kind: 'version', transform: input.transform, version: input.version }, from, to);
    const before = chunkKey(input.transform, input.version, from - 1n);
    const deadline = Date.now() + (options.turnWaitMs ?? TURN_WAIT_MS);
    while (!ready) {
      // Blocks while the chunk before this one runs (it holds the key of its range end).
      await client.query('SELECT pg_advisory_lock_shared(hashtextextended($1, 0))', [before]);
      await client.query('SELECT pg_advisory_unlock_shared(hashtextextended($1, 0))', [before]);
      // A rolled-back savepoint lets the watermark rows go again while this chunk waits.
      await client.query('SAVEPOINT turn');
      seen = await readWatermark(client, input.transform, input.version, true);
      if (judge(seen) === 'turn') {
        ready = true;
        break;
      }
      await client.query('ROLLBACK TO SAVEPOINT turn; RELEASE SAVEPOINT turn');
      if (Date.now() > deadline || signal?.aborted) throw new ChunkOutcome('deferred', seen);
      await sleep(50, undefined, { signal }).catch(() => undefined);
    }
    await client.query(
      'INSERT INTO sluice.transform_chunks (name, version, from_seq, to_seq, rows_read, rows_written, workflow_id) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [input.transform, input.version, input.fromSeq, input.toSeq, input.rowsRead, rowsWritten, input.workflowId ?? null],
    );
    await advanceWatermark(client, input.transform, input.version, to);
    return result('committed', rowsWritten, to);
  }
}

export interface BuildChunkInput {
  buildId: string;
  transform: string;
  version: number;
  /** First seq of this chunk and last seq of the whole range (inclusive, decimal strings). */
  fromSeq: string;
  toSeq: string;
  maxRows: number;
}

export interface BuildChunkResult {
  fromSeq: string;
  /** Last seq this chunk covered. */
  chunkToSeq: string;
  rowsRead: number;
  rowsWritten: number;
  /** 1 when this chunk had been written by an earlier attempt (nothing was written now). */
  replayed: number;
  done: boolean;
  /** The log range this chunk covered, for its run event. */
  runEventDetails: { buildId: string; fromSeq: string; toSeq: string };
}

/** One chunk of a backfill into its build table (see the module comment). */
export async function processBuildChunk(pool: Pool, input: BuildChunkInput): Promise<BuildChunkResult> {
  const def = await loadTransform(pool, input.transform, input.version);
  const from = BigInt(input.fromSeq);
  const to = BigInt(input.toSeq);
  return inUserSqlTransaction(pool, async (client) => {
    const marker = await client.query<{ to_seq: string; rows_read: string; rows_written: string }>(
      'SELECT to_seq::text, rows_read::text, rows_written::text FROM sluice.transform_build_chunks WHERE build_id = $1 AND from_seq = $2',
      [input.buildId, from.toString()],
    );
    const done = marker.rows[0];
    if (done) {
      return {
        fromSeq: input.fromSeq,
        chunkToSeq: done.to_seq,
        rowsRead: Number(done.rows_read),
        rowsWritten: Number(done.rows_written),
        replayed: 1,
        done: BigInt(done.to_seq) >= to,
        runEventDetails: { buildId: input.buildId, fromSeq: input.fromSeq, toSeq: done.to_seq },
      };
    }
    const { upper, rowsRead } = await chunkBounds(client, def.sources, from, to, input.maxRows);
    const rowsWritten = await insertRange(client, def, { kind: 'build', buildId: input.buildId }, from, upper);
    // A concurrent attempt of the same chunk that committed first makes this insert fail on the
    // primary key: the transaction rolls back and the retry finds the marker.
    await client.query(
      'INSERT INTO sluice.transform_build_chunks (build_id, from_seq, to_seq, rows_read, rows_written) VALUES ($1, $2, $3, $4, $5)',
      [input.buildId, from.toString(), upper.toString(), rowsRead, rowsWritten],
    );
    return {
      fromSeq: input.fromSeq,
      chunkToSeq: upper.toString(),
      rowsRead,
      rowsWritten,
      replayed: 0,
      done: upper >= to,
      runEventDetails: { buildId: input.buildId, fromSeq: input.fromSeq, toSeq: upper.toString() },
    };
  });
}
