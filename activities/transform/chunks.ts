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

/**
 * Last `seq` of a chunk starting at `from`: at most `maxRows` rows of each source, never past `to`.
 * Uses the (source, seq) index once per source.
 */
export async function chunkUpperBound(client: PoolClient, sources: string[], from: bigint, to: bigint, maxRows: number): Promise<bigint> {
  let upper = to;
  for (const source of sources) {
    const r = await client.query<{ seq_text: string }>(
      'SELECT seq::text AS seq_text FROM sluice.raw_events WHERE source = $1 AND seq >= $2 AND seq <= $3 ORDER BY sluice.raw_events.seq OFFSET $4 LIMIT 1',
      [source, from.toString(), upper.toString(), maxRows - 1],
    );
    const seq = r.rows[0]?.seq_text;
    if (seq !== undefined && BigInt(seq) < upper) upper = BigInt(seq);
  }
  return upper;
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
    const upper = await chunkUpperBound(client, def.sources, from, horizon, maxRows);
    const rowsRead = await countSourceRows(client, def.sources, from, upper);
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
    const upper = await chunkUpperBound(client, def.sources, from, to, input.maxRows);
    const rowsRead = await countSourceRows(client, def.sources, from, upper);
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
