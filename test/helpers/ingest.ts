/** Helpers for the ingest tests: the counting invariant, log and quarantine contents. */
import type { Pool } from 'pg';
import { quoteIdent } from '../../db/sql';
import type { QuarantineReason } from '../../activities/ingest/classify';
import type { IngestBatchResult } from '../../api';

/** received = accepted + quarantined + duplicates, exactly (docs/architecture.md, principle 2). */
export function expectBalanced(r: IngestBatchResult): void {
  expect(r.received).toBe(r.accepted + r.quarantined + r.duplicates);
}

export async function logRows(
  pool: Pool,
  source: string,
): Promise<{ seq: string; event_id: string; event_time: Date | null; payload: unknown; batch_id: string }[]> {
  const { rows } = await pool.query(
    'SELECT seq::text AS seq, event_id, event_time, payload, batch_id FROM sluice.raw_events r WHERE source = $1 ORDER BY r.seq',
    [source],
  );
  return rows;
}

export interface QuarantineRow {
  seq: string;
  event_id: string;
  payload: unknown;
  raw: Buffer | null;
  reason: QuarantineReason;
  contract_version: string;
}

export async function quarantineRows(pool: Pool, source: string): Promise<QuarantineRow[]> {
  const { rows } = await pool.query<QuarantineRow>(
    'SELECT seq::text AS seq, event_id, payload, raw, reason, contract_version FROM sluice.quarantine q WHERE source = $1 ORDER BY q.seq',
    [source],
  );
  return rows;
}

export async function countRows(pool: Pool, table: 'raw_events' | 'quarantine', source: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sluice.${quoteIdent(table)} WHERE source = $1`, [
    source,
  ]);
  return rows[0]?.n ?? 0;
}
