/**
 * Running a transform over one chunk of the log, in one transaction each:
 * - incremental: rows of (watermark, upper] go into `<name>__v<N>` and the watermark moves to
 *   `upper`, with the watermark rows locked first (a retry or a second worker sees the new
 *   watermark and goes on from there: nothing lost, nothing twice);
 * - build (backfill): rows of [from, upper] go into the build table together with a marker row in
 *   sluice.transform_build_chunks keyed by (build, from): a retried chunk finds its marker.
 */
import type { Pool, PoolClient } from 'pg';
import { buildTable, derivedTable } from './sqlText';
import { liveVersion, loadTransform, sqlFailure, type TransformDefinition } from './registry';

/**
 * The highest `seq` below which the log can no longer change. Identity values are handed out
 * before commit, so a later `seq` may be visible while an earlier one is still being written; a
 * SHARE lock waits for the inserts in flight, after which every `seq` up to max(seq) is final.
 * The lock is held for one index lookup.
 */
export async function commitHorizon(pool: Pool): Promise<bigint> {
  return inTransaction(pool, async (client) => {
    // A waiting SHARE request queues the log's writers behind it: give up soon and let Temporal
    // retry the chunk (a retryable error) rather than stall ingestion behind a long write.
    await client.query("SET LOCAL lock_timeout = '3s'");
    await client.query('LOCK TABLE sluice.raw_events IN SHARE MODE');
    const r = await client.query<{ max: string }>('SELECT coalesce(max(seq), 0)::text AS max FROM sluice.raw_events');
    return BigInt(r.rows[0]?.max ?? '0');
  });
}

/** BEGIN ... COMMIT around `fn`; ROLLBACK on error (a connection that fails to roll back is destroyed). */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
      throw err;
    }
  } finally {
    client.release(broken);
  }
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

async function insertRange(client: PoolClient, def: TransformDefinition, target: string, from: bigint, to: bigint): Promise<number> {
  try {
    const r = await client.query(`INSERT INTO ${target} SELECT * FROM (\n${def.sql}\n) AS transform_output`, [from.toString(), to.toString()]);
    return r.rowCount ?? 0;
  } catch (err) {
    throw sqlFailure(err, `transform ${def.name} v${def.version} failed on log range [${from}, ${to}]`);
  }
}

export interface TransformChunkResult {
  transform: string;
  /** The live version the chunk was written to, as "v<N>" (a string: it is not a count). */
  version: string;
  /** Range processed, inclusive, as decimal strings; fromSeq > toSeq when there was nothing new. */
  fromSeq: string;
  toSeq: string;
  /** Log rows of the transform's sources in the range. */
  rowsRead: number;
  /** Rows written to the derived table. */
  rowsWritten: number;
  /** True when the watermark reached the end of the committed log. */
  caughtUp: boolean;
}

/** One incremental chunk of the live version (see the module comment). */
export async function processIncrementalChunk(pool: Pool, transform: string, maxRows: number): Promise<TransformChunkResult> {
  const version = await liveVersion(pool, transform);
  const def = await loadTransform(pool, transform, version);
  const horizon = await commitHorizon(pool);
  return inTransaction(pool, async (client) => {
    const wm = await client.query<{ last_seq: string }>(
      'SELECT last_seq::text AS last_seq FROM sluice.watermarks WHERE name = $1 AND version = $2 ORDER BY source FOR UPDATE',
      [transform, version],
    );
    if (wm.rows.length === 0) throw new Error(`transform ${transform} v${version} has no watermark rows`);
    const last = wm.rows.reduce((m, r) => (BigInt(r.last_seq) < m ? BigInt(r.last_seq) : m), BigInt(wm.rows[0]?.last_seq ?? '0'));
    const from = last + 1n;
    const base = { transform, version: `v${version}`, fromSeq: from.toString() };
    if (from > horizon) return { ...base, toSeq: last.toString(), rowsRead: 0, rowsWritten: 0, caughtUp: true };
    const { upper, rowsRead } = await chunkBounds(client, def.sources, from, horizon, maxRows);
    const rowsWritten = await insertRange(client, def, derivedTable(transform, version), from, upper);
    await client.query(
      'UPDATE sluice.watermarks SET last_seq = $3, updated_at = now() WHERE name = $1 AND version = $2',
      [transform, version, upper.toString()],
    );
    return { ...base, toSeq: upper.toString(), rowsRead, rowsWritten, caughtUp: upper === horizon };
  });
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
}

/** One chunk of a backfill into its build table (see the module comment). */
export async function processBuildChunk(pool: Pool, input: BuildChunkInput): Promise<BuildChunkResult> {
  const def = await loadTransform(pool, input.transform, input.version);
  const from = BigInt(input.fromSeq);
  const to = BigInt(input.toSeq);
  return inTransaction(pool, async (client) => {
    const marker = await client.query<{ to_seq: string; rows_read: string; rows_written: string }>(
      'SELECT to_seq::text, rows_read::text, rows_written::text FROM sluice.transform_build_chunks WHERE build_id = $1 AND from_seq = $2',
      [input.buildId, from.toString()],
    );
    const done = marker.rows[0];
    if (done) {
      return { fromSeq: input.fromSeq, chunkToSeq: done.to_seq, rowsRead: Number(done.rows_read), rowsWritten: Number(done.rows_written), replayed: 1, done: BigInt(done.to_seq) >= to };
    }
    const { upper, rowsRead } = await chunkBounds(client, def.sources, from, to, input.maxRows);
    const rowsWritten = await insertRange(client, def, buildTable(input.buildId), from, upper);
    // A concurrent attempt of the same chunk that committed first makes this insert fail on the
    // primary key: the transaction rolls back and the retry finds the marker.
    await client.query(
      'INSERT INTO sluice.transform_build_chunks (build_id, from_seq, to_seq, rows_read, rows_written) VALUES ($1, $2, $3, $4, $5)',
      [input.buildId, from.toString(), upper.toString(), rowsRead, rowsWritten],
    );
    return { fromSeq: input.fromSeq, chunkToSeq: upper.toString(), rowsRead, rowsWritten, replayed: 0, done: upper >= to };
  });
}
