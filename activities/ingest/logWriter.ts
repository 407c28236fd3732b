/**
 * Appends a batch to the log in chunks. Each chunk is one transaction: COPY the judged records into
 * a temporary staging table, move the valid ones into sluice.raw_events and the others into
 * sluice.quarantine (duplicates by (source, event_id) are skipped by the unique indexes), and record
 * the chunk in sluice.ingest_chunks. Chunk boundaries are fixed record counts, so a retried batch
 * skips the chunks already committed: a crash neither loses nor duplicates rows.
 */
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Contract } from '../../contracts/registry';
import type { IngestBatchResult } from '../../workflows/ingestTypes';
import { stageLine, type RecordClassifier, type StagedRow } from './classify';
import type { SourceRecord } from './readers';

/** Records per chunk (one transaction each). */
export const CHUNK_RECORDS = 20_000;
const COPY_WRITE_BYTES = 256 * 1024;

const STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS sluice_ingest_stage (
  ordinal    bigint  NOT NULL,
  valid      boolean NOT NULL,
  event_id   text    NOT NULL,
  event_time timestamptz,
  payload    text,
  raw        bytea,
  reason     jsonb
) ON COMMIT DELETE ROWS`;

const INSERT_LOG = `WITH ins AS (
  INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
  SELECT $1, s.event_id, s.event_time, $2, $3, s.payload::jsonb, $4
    FROM pg_temp.sluice_ingest_stage s WHERE s.valid ORDER BY s.ordinal
  ON CONFLICT (source, event_id) DO NOTHING
  RETURNING seq)
SELECT count(*)::int AS n, min(seq)::text AS from_seq, max(seq)::text AS to_seq FROM ins`;

const INSERT_QUARANTINE = `WITH ins AS (
  INSERT INTO sluice.quarantine (source, event_id, event_time, contract, contract_version, payload, raw, batch_id, reason)
  SELECT $1, s.event_id, s.event_time, $2, $3, s.payload::jsonb, s.raw, $4, s.reason
    FROM pg_temp.sluice_ingest_stage s
   WHERE NOT s.valid
     AND NOT EXISTS (SELECT 1 FROM sluice.raw_events r WHERE r.source = $1 AND r.event_id = s.event_id)
   ORDER BY s.ordinal
  ON CONFLICT (source, event_id) DO NOTHING
  RETURNING 1)
SELECT count(*)::int AS n FROM ins`;

export interface BatchTarget {
  pool: Pool;
  source: string;
  batchId: string;
  contract: Contract;
  classifier: RecordClassifier;
  /** Called after each chunk and every few thousand records (activity heartbeat). */
  progress?: (p: { chunk: number; records: number }) => void;
  /** Throws when the activity is cancelled. */
  checkCancelled?: () => void;
}

interface ChunkCounts {
  records: number;
  accepted: number;
  quarantined: number;
  duplicates: number;
  fromSeq: string | null;
  toSeq: string | null;
}

/** Opens a transaction with the staging table ready. */
export async function beginStaged(client: PoolClient): Promise<void> {
  await client.query('BEGIN');
  await client.query(STAGE_DDL);
}

/** Streams staged rows into the staging table with COPY, respecting backpressure. */
export async function copyStaged(client: PoolClient, rows: AsyncIterable<[number, StagedRow]> | Iterable<[number, StagedRow]>): Promise<number> {
  const copy = client.query(copyFrom('COPY pg_temp.sluice_ingest_stage (ordinal, valid, event_id, event_time, payload, raw, reason) FROM STDIN'));
  let buf = '';
  let n = 0;
  try {
    for await (const [ordinal, row] of rows) {
      buf += stageLine(ordinal, row);
      n++;
      if (buf.length >= COPY_WRITE_BYTES) {
        const more = copy.write(buf);
        buf = '';
        if (!more) await once(copy, 'drain');
      }
    }
    if (buf) copy.write(buf);
    copy.end();
    await finished(copy);
  } catch (err) {
    copy.destroy(err as Error);
    throw err;
  }
  return n;
}

async function committedChunks(pool: Pool, source: string, batchId: string): Promise<Set<number>> {
  const { rows } = await pool.query<{ chunk_no: number }>('SELECT chunk_no FROM sluice.ingest_chunks WHERE source = $1 AND batch_id = $2', [source, batchId]);
  return new Set(rows.map((r) => r.chunk_no));
}

async function writeChunk(t: BatchTarget, chunkNo: number, rows: AsyncIterable<[number, StagedRow]>): Promise<ChunkCounts> {
  const client = await t.pool.connect();
  try {
    await beginStaged(client);
    const records = await copyStaged(client, rows);
    const params = [t.source, t.contract.contract, t.contract.version, t.batchId];
    const log = await client.query<{ n: number; from_seq: string | null; to_seq: string | null }>(INSERT_LOG, params);
    const q = await client.query<{ n: number }>(INSERT_QUARANTINE, params);
    const accepted = log.rows[0]?.n ?? 0;
    const quarantined = q.rows[0]?.n ?? 0;
    const counts: ChunkCounts = {
      records,
      accepted,
      quarantined,
      duplicates: records - accepted - quarantined,
      fromSeq: log.rows[0]?.from_seq ?? null,
      toSeq: log.rows[0]?.to_seq ?? null,
    };
    await client.query(
      `INSERT INTO sluice.ingest_chunks (source, batch_id, chunk_no, records, accepted, quarantined, duplicates, from_seq, to_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [t.source, t.batchId, chunkNo, counts.records, counts.accepted, counts.quarantined, counts.duplicates, counts.fromSeq, counts.toSeq],
    );
    await client.query('COMMIT');
    return counts;
  } catch (err) {
    // The connection may be gone (that is often why we are here); the transaction dies with it.
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      (err as Error).message += ` (rollback also failed: ${rollbackErr.message})`;
    });
    throw err;
  } finally {
    client.release();
  }
}

/** The batch's counts as committed (all attempts together). */
export async function batchTotals(pool: Pool, source: string, batchId: string, contract: Contract): Promise<IngestBatchResult> {
  const { rows } = await pool.query<{ records: string; accepted: string; quarantined: string; duplicates: string; from_seq: string | null; to_seq: string | null }>(
    `SELECT coalesce(sum(records), 0)::text AS records, coalesce(sum(accepted), 0)::text AS accepted,
            coalesce(sum(quarantined), 0)::text AS quarantined, coalesce(sum(duplicates), 0)::text AS duplicates,
            min(from_seq)::text AS from_seq, max(to_seq)::text AS to_seq
       FROM sluice.ingest_chunks WHERE source = $1 AND batch_id = $2`,
    [source, batchId],
  );
  const r = rows[0];
  return {
    source,
    batchId,
    contract: contract.contract,
    contractVersion: contract.version,
    received: Number(r?.records ?? 0),
    accepted: Number(r?.accepted ?? 0),
    quarantined: Number(r?.quarantined ?? 0),
    duplicates: Number(r?.duplicates ?? 0),
    fromSeq: r?.from_seq ?? null,
    toSeq: r?.to_seq ?? null,
  };
}

/**
 * Appends every record of `records` to the log or quarantine, chunk by chunk, skipping chunks an
 * earlier attempt committed. Returns the batch's totals. Idempotent per (source, batchId).
 */
export async function appendBatch(t: BatchTarget, records: AsyncIterable<SourceRecord>): Promise<IngestBatchResult> {
  const done = await committedChunks(t.pool, t.source, t.batchId);
  const it = records[Symbol.asyncIterator]();
  let ordinal = 0;
  let exhausted = false;
  for (let chunkNo = 0; !exhausted; chunkNo++) {
    t.checkCancelled?.();
    if (done.has(chunkNo)) {
      // Committed by an earlier attempt: read past its records without judging them.
      for (let i = 0; i < CHUNK_RECORDS; i++, ordinal++) {
        if ((await it.next()).done) {
          exhausted = true;
          break;
        }
      }
      continue;
    }
    const first = await it.next();
    if (first.done) break;
    const start = ordinal;
    const chunkRows = async function* (): AsyncGenerator<[number, StagedRow]> {
      let rec: IteratorResult<SourceRecord> = first;
      for (let i = 0; ; i++) {
        yield [ordinal, t.classifier.classify(rec.value as SourceRecord, ordinal)];
        ordinal++;
        if ((ordinal & 4095) === 0) t.progress?.({ chunk: chunkNo, records: ordinal });
        if (i + 1 >= CHUNK_RECORDS) return;
        rec = await it.next();
        if (rec.done) {
          exhausted = true;
          return;
        }
      }
    };
    const counts = await writeChunk(t, chunkNo, chunkRows());
    if (counts.records !== ordinal - start) throw new Error(`chunk ${chunkNo} staged ${counts.records} of ${ordinal - start} records`);
    t.progress?.({ chunk: chunkNo, records: ordinal });
  }
  return batchTotals(t.pool, t.source, t.batchId, t.contract);
}
