/**
 * sluice.pipeline_specs: every applied version of a pipeline spec (append-only, migration 0014).
 * Applying a spec whose sha256 (canonical JSON) is already a version of the pipeline returns that
 * version; otherwise the next version is added. Concurrent applies of the same pipeline are
 * serialised by a transaction-scoped advisory lock on its name.
 */
import type { Pool } from 'pg';
import { ErrorCodes } from '../../api/errors';
import type { PipelineSpec } from '../../api/workflows/pipeline';
import { pipelineSpecSha256 } from '../../contracts/pipelineSpec';
import { inTransaction } from '../../db/transaction';
import { SluiceError } from '../failures';

export interface AppliedPipelineSpec {
  name: string;
  version: number;
  sha256: string;
  appliedBy: string;
  appliedAt: string;
  /** false when the same spec was applied before: its existing version is returned. */
  created: boolean;
}

export interface PipelineSpecRow extends Omit<AppliedPipelineSpec, 'created'> {
  spec: PipelineSpec;
}

interface Row {
  name: string;
  version: number;
  sha256: string;
  applied_by: string;
  applied_at: Date;
  spec: PipelineSpec;
}

const toRow = (r: Row): PipelineSpecRow => ({
  name: r.name,
  version: r.version,
  sha256: r.sha256,
  appliedBy: r.applied_by,
  appliedAt: r.applied_at.toISOString(),
  spec: r.spec,
});

/** Stores a checked spec as the pipeline's next version, or finds the version with the same sha256. Idempotent. */
export async function applyPipelineSpec(pool: Pool, spec: PipelineSpec, appliedBy: string): Promise<AppliedPipelineSpec> {
  const sha256 = pipelineSpecSha256(spec);
  return inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sluice.pipeline_specs:${spec.name}`]);
    const same = await c.query<Row>('SELECT * FROM sluice.pipeline_specs WHERE name = $1 AND sha256 = $2', [spec.name, sha256]);
    const existing = same.rows[0];
    if (existing) return { ...toRow(existing), created: false };
    const inserted = await c.query<Row>(
      `INSERT INTO sluice.pipeline_specs (name, version, spec, sha256, applied_by)
       SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM sluice.pipeline_specs WHERE name = $1
       RETURNING *`,
      [spec.name, JSON.stringify(spec), sha256, appliedBy],
    );
    return { ...toRow(inserted.rows[0] as Row), created: true };
  });
}

/** One version of a pipeline's spec (default: the newest); throws SLUICE_UNKNOWN_PIPELINE. */
export async function getPipelineSpec(pool: Pool, name: string, version?: number): Promise<PipelineSpecRow> {
  const { rows } = await pool.query<Row>(
    version === undefined
      ? 'SELECT * FROM sluice.pipeline_specs WHERE name = $1 ORDER BY version DESC LIMIT 1'
      : 'SELECT * FROM sluice.pipeline_specs WHERE name = $1 AND version = $2',
    version === undefined ? [name] : [name, version],
  );
  const row = rows[0];
  if (!row) {
    throw new SluiceError(
      ErrorCodes.UnknownPipeline,
      `pipeline ${name}${version === undefined ? '' : ` version ${version}`} was never applied (sluice pipelines apply <file>)`,
    );
  }
  return toRow(row);
}

/** The newest version of every pipeline (or every version of one), newest first. */
export async function listPipelineSpecs(pool: Pool, name?: string): Promise<PipelineSpecRow[]> {
  const { rows } = await pool.query<Row>(
    name === undefined
      ? 'SELECT DISTINCT ON (name) * FROM sluice.pipeline_specs ORDER BY name, version DESC'
      : 'SELECT * FROM sluice.pipeline_specs WHERE name = $1 ORDER BY version DESC',
    name === undefined ? [] : [name],
  );
  return rows.map(toRow);
}
