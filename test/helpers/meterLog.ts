/** The log and transform the fault tests share: `meter` events (every 4th of another source) and a row-level transform over them. */
import type { Pool } from 'pg';
import { registerTransformVersion } from '../../activities/transform/registry';

export const METER_SQL = `
  SELECT seq, payload->>'k' AS k, (payload->>'v')::numeric * 2 AS v2, md5(payload::text) AS digest
  FROM sluice.raw_events WHERE source = 'meter' AND seq BETWEEN $1 AND $2`;

/** Appends `events` events (3 in 4 of source `meter`) and registers transform `meter` v1 over them. */
export async function seedMeterLog(pool: Pool, events: number): Promise<void> {
  await pool.query(
    `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
     SELECT CASE WHEN g % 4 = 0 THEN 'other' ELSE 'meter' END, 'm' || g, now(), 'meter', '1.0.0',
            jsonb_build_object('k', 'key' || (g % 13), 'v', g * 1.5), 'b' FROM generate_series(1, $1::int) g`,
    [events],
  );
  await registerTransformVersion(pool, { name: 'meter', version: 1, sources: ['meter'], sql: METER_SQL });
}
