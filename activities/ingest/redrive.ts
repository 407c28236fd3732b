/**
 * Quarantine re-drive: after a contract fix, a source's unresolved quarantine goes through the
 * normal path again. Events that now pass are appended to the log; the quarantine rows stay (the
 * table is append-only) and sluice.quarantine_resolutions records where each one went. Events that
 * still fail stay unresolved and gain nothing.
 */
import type { Pool } from 'pg';
import type { Contract } from '../../contracts/registry';
import type { IngestBatchResult } from '../../api/workflows/ingest';
import { inTransaction } from '../../db/transaction';
import { copyStaged, createStage } from './logWriter';
import type { RecordClassifier, StagedRow } from './classify';
import { bytesToRecord, type SourceRecord } from './readers';

/** Quarantine rows per transaction. */
export const REDRIVE_PAGE = 5_000;

const RESOLVE = `WITH ins AS (
  INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
  SELECT $1, s.event_id, s.event_time, $2, $3, s.payload::jsonb, $4
    FROM pg_temp.sluice_ingest_stage s WHERE s.valid ORDER BY s.ordinal
  ON CONFLICT (source, event_id) DO NOTHING
  RETURNING seq, event_id),
ranked AS (
  SELECT s.ordinal, s.event_id, row_number() OVER (PARTITION BY s.event_id ORDER BY s.ordinal) AS rn
    FROM pg_temp.sluice_ingest_stage s WHERE s.valid)
INSERT INTO sluice.quarantine_resolutions (quarantine_seq, source, event_id, resolution, raw_seq, contract, contract_version, batch_id)
SELECT k.ordinal, $1, q.event_id,
       CASE WHEN i.seq IS NOT NULL AND k.rn = 1 THEN 'accepted' ELSE 'duplicate' END,
       coalesce(i.seq, r.seq), $2, $3, $4
  FROM ranked k
  JOIN sluice.quarantine q ON q.seq = k.ordinal
  LEFT JOIN ins i ON i.event_id = k.event_id
  LEFT JOIN sluice.raw_events r ON r.source = $1 AND r.event_id = k.event_id
ON CONFLICT (quarantine_seq) DO NOTHING
RETURNING resolution, raw_seq::text AS raw_seq`;

export interface RedriveTarget {
  pool: Pool;
  source: string;
  batchId: string;
  contract: Contract;
  classifier: RecordClassifier;
  progress?: (p: { examined: number }) => void;
  checkCancelled?: () => void;
}

/**
 * Re-validates the unresolved quarantine of `target.source` (rows present when it starts) with the
 * current contract. Idempotent: resolved rows are skipped, so a retry continues where it stopped.
 * Counts: received = rows examined, accepted, duplicates (already in the log), quarantined (still failing).
 */
export async function redriveQuarantine(t: RedriveTarget): Promise<IngestBatchResult> {
  const top = await t.pool.query<{ max: string | null }>('SELECT max(seq)::text AS max FROM sluice.quarantine WHERE source = $1', [
    t.source,
  ]);
  const until = top.rows[0]?.max ?? '0';
  let after = '0';
  const totals = { received: 0, accepted: 0, quarantined: 0, conflicting: 0, duplicates: 0 };
  let fromSeq: bigint | null = null;
  let toSeq: bigint | null = null;
  for (;;) {
    t.checkCancelled?.();
    const page = await t.pool.query<{ seq: string; payload: string | null; raw: Buffer | null }>(
      `SELECT q.seq::text AS seq, q.payload::text AS payload, q.raw
         FROM sluice.quarantine q
        WHERE q.source = $1 AND q.seq > $2 AND q.seq <= $3
          AND NOT EXISTS (SELECT 1 FROM sluice.quarantine_resolutions r WHERE r.quarantine_seq = q.seq)
          -- A record over the size limit passes no contract, and raw holds only its first bytes: it stays.
          AND NOT q.reason @> '{"issues": [{"keyword": "maxRecordBytes"}]}'
          -- A conflicting duplicate is no contract's fault: its id is in the log with another payload.
          AND (q.reason ->> 'code') IS DISTINCT FROM 'conflicting_duplicate'
        ORDER BY q.seq LIMIT $4`,
      [t.source, after, until, REDRIVE_PAGE],
    );
    if (page.rows.length === 0) break;
    after = page.rows[page.rows.length - 1]?.seq ?? after;
    const staged: [number, StagedRow][] = [];
    for (const row of page.rows) {
      const rec: SourceRecord = row.payload !== null ? { kind: 'line', text: row.payload } : bytesToRecord(row.raw ?? Buffer.alloc(0));
      const judged = t.classifier.classify(rec, Number(row.seq));
      if (judged.valid) staged.push([Number(row.seq), judged]);
    }
    totals.received += page.rows.length;
    totals.quarantined += page.rows.length - staged.length;
    if (staged.length > 0) {
      const res = await inTransaction(t.pool, async (client) => {
        await createStage(client);
        await copyStaged(client, staged);
        return client.query<{ resolution: string; raw_seq: string | null }>(RESOLVE, [
          t.source,
          t.contract.contract,
          t.contract.version,
          t.batchId,
        ]);
      });
      for (const r of res.rows) {
        if (r.resolution === 'accepted') {
          totals.accepted++;
          const seq = BigInt(r.raw_seq ?? '0');
          if (fromSeq === null || seq < fromSeq) fromSeq = seq;
          if (toSeq === null || seq > toSeq) toSeq = seq;
        } else totals.duplicates++;
      }
      // Rows resolved concurrently by another re-drive are neither accepted nor duplicated here.
      totals.received -= staged.length - res.rows.length;
    }
    t.progress?.({ examined: totals.received });
    if (page.rows.length < REDRIVE_PAGE) break;
  }
  return {
    source: t.source,
    batchId: t.batchId,
    contract: t.contract.contract,
    contractVersion: t.contract.version,
    ...totals,
    fromSeq: fromSeq === null ? null : fromSeq.toString(),
    toSeq: toSeq === null ? null : toSeq.toString(),
  };
}
