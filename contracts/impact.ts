/**
 * Impact of a contract version: what used it. For a breaking change, the owner needs to know which
 * log rows, datasets, models and runs were produced under the old version before retiring it.
 * Read-only queries; values are bound parameters.
 */
import type { Pool } from 'pg';

export interface ContractImpact {
  contract: string;
  version: string;
  /** Log rows accepted under this version, per source, with their seq range and batch count. */
  logRows: { source: string; rows: number; fromSeq: string; toSeq: string; batches: number }[];
  quarantinedRows: { source: string; rows: number }[];
  datasets: { id: string; transform: string | null; transformVersion: number | null; rowCount: number }[];
  models: { name: string; version: number; datasetId: string }[];
  /** Workflow runs that used it: ingest batches (from the log), validations, and steps whose run events name it. */
  runs: { workflowId: string; runId: string; step: string }[];
}

export async function contractImpact(pool: Pick<Pool, 'query'>, contract: string, version: string): Promise<ContractImpact> {
  const args = [contract, version];
  const log = await pool.query<{ source: string; rows: string; from_seq: string; to_seq: string; batches: string }>(
    `SELECT source, count(*)::text AS rows, min(seq)::text AS from_seq, max(seq)::text AS to_seq, count(DISTINCT batch_id)::text AS batches
       FROM sluice.raw_events WHERE contract = $1 AND contract_version = $2 GROUP BY source ORDER BY source`,
    args,
  );
  const quarantine = await pool.query<{ source: string; rows: string }>(
    `SELECT source, count(*)::text AS rows FROM sluice.quarantine WHERE contract = $1 AND contract_version = $2 GROUP BY source ORDER BY source`,
    args,
  );
  const datasets = await pool.query<{ id: string; transform: string | null; transform_version: number | null; row_count: string }>(
    `SELECT id, transform, transform_version, row_count::text FROM sluice.datasets
      WHERE contract_versions -> $1 @> to_jsonb(ARRAY[$2::text]) ORDER BY created_at, id`,
    args,
  );
  const ids = datasets.rows.map((d) => d.id);
  const models = await pool.query<{ name: string; version: number; dataset_id: string }>(
    'SELECT name, version, dataset_id FROM sluice.models WHERE dataset_id = ANY($1::text[]) ORDER BY name, version',
    [ids],
  );
  const runs = await pool.query<{ workflow_id: string; run_id: string; step: string }>(
    `SELECT workflow_id, run_id, 'validate' AS step FROM sluice.validations WHERE contract = $1 AND contract_version = $2
     UNION
     -- any step that records the contract version it used in its run event details
     SELECT workflow_id, run_id, step FROM sluice.run_events
      WHERE status = 'completed' AND details @> jsonb_build_object('contract', $1::text, 'contractVersion', $2::text)
     UNION
     SELECT DISTINCT 'batch:' || batch_id, '', 'ingest' FROM sluice.raw_events WHERE contract = $1 AND contract_version = $2
     ORDER BY 3, 1, 2 LIMIT 1000`,
    args,
  );
  return {
    contract,
    version,
    logRows: log.rows.map((r) => ({
      source: r.source,
      rows: Number(r.rows),
      fromSeq: r.from_seq,
      toSeq: r.to_seq,
      batches: Number(r.batches),
    })),
    quarantinedRows: quarantine.rows.map((r) => ({ source: r.source, rows: Number(r.rows) })),
    datasets: datasets.rows.map((d) => ({
      id: d.id,
      transform: d.transform,
      transformVersion: d.transform_version,
      rowCount: Number(d.row_count),
    })),
    models: models.rows.map((m) => ({ name: m.name, version: m.version, datasetId: m.dataset_id })),
    runs: runs.rows.map((r) => ({ workflowId: r.workflow_id, runId: r.run_id, step: r.step })),
  };
}

export function formatImpact(i: ContractImpact): string {
  const lines = [`impact of ${i.contract}@${i.version}:`];
  lines.push(
    `  log rows: ${i.logRows.length ? i.logRows.map((r) => `${r.source} ${r.rows} rows (seq ${r.fromSeq}..${r.toSeq}, ${r.batches} batches)`).join('; ') : 'none'}`,
  );
  lines.push(`  quarantined: ${i.quarantinedRows.length ? i.quarantinedRows.map((r) => `${r.source} ${r.rows}`).join('; ') : 'none'}`);
  lines.push(
    `  datasets: ${i.datasets.length ? i.datasets.map((d) => `${d.id.slice(0, 12)} (${d.transform ?? '-'} v${d.transformVersion ?? '-'}, ${d.rowCount} rows)`).join('; ') : 'none'}`,
  );
  lines.push(`  models: ${i.models.length ? i.models.map((m) => `${m.name} v${m.version}`).join('; ') : 'none'}`);
  lines.push(
    `  runs: ${i.runs.length ? i.runs.map((r) => `${r.step} ${r.workflowId}${r.runId ? `/${r.runId}` : ''}`).join('; ') : 'none'}`,
  );
  return lines.join('\n');
}
