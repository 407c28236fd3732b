/** Registered models and endpoints for the scoring service's tests and benchmark, set up directly in the database. */
import type { Pool } from 'pg';
import type { ArtifactRef, ArtifactStore } from '../../activities/artifacts';
import { exportModelToOnnx } from '../../activities/onnx';
import { readModelSignature, rowSchema } from '../../activities/onnx/signature';
import { insertModelVersion, moveModelAlias } from '../../activities/registry/queries';
import { notifyEndpointChanged } from '../../activities/serve';
import type { TrainedModel } from '../../activities/train';
import { inTransaction } from '../../db/transaction';

export const TEST_DATASET = 'd'.repeat(64);

/** The dataset row models must name (sluice.models has a foreign key to it). */
export async function insertTestDataset(pool: Pool, id = TEST_DATASET): Promise<void> {
  await pool.query(
    `INSERT INTO sluice.datasets (id, transform, transform_version, log_range, contract_versions, row_count, artifact_uri)
     VALUES ($1, NULL, NULL, '{}', '{}', 0, NULL) ON CONFLICT DO NOTHING`,
    [id],
  );
}

/** Stores the model's ONNX file and registers the next version of `name`. */
export async function registerTestModel(
  pool: Pool,
  store: ArtifactStore,
  name: string,
  model: TrainedModel | Uint8Array,
  runId: string,
): Promise<{ version: number; onnx: ArtifactRef; bytes: Uint8Array }> {
  const bytes = model instanceof Uint8Array ? model : exportModelToOnnx(model);
  const onnx = await store.put(bytes, { mediaType: 'application/onnx', extension: '.onnx' });
  const { version } = await insertModelVersion(pool, {
    name,
    datasetId: TEST_DATASET,
    codeVersion: 'test',
    codeDirty: false,
    task: readModelSignature(bytes).task,
    trainer: 'test',
    parameters: {},
    seed: null,
    metrics: {},
    onnxUri: onnx.uri,
    onnxSha256: onnx.sha256,
    cardUri: null,
    cardSha256: null,
    workflowId: `test-${name}`,
    runId,
  });
  return { version, onnx, bytes };
}

/** An endpoint serving `modelName`, its input contract taken from `onnx`. */
export async function createTestEndpoint(pool: Pool, endpoint: string, modelName: string, onnx: Uint8Array): Promise<void> {
  await pool.query('INSERT INTO sluice.endpoints (endpoint, model_name, input_schema, created_by) VALUES ($1, $2, $3, $4)', [
    endpoint,
    modelName,
    JSON.stringify(rowSchema(readModelSignature(onnx))),
    'test',
  ]);
}

/** Moves `champion` of `name` to `version`, then (unless `notify` is false) tells the services about `endpoint`. */
export async function promote(pool: Pool, name: string, version: number, endpoint: string, notify = true): Promise<void> {
  await moveModelAlias(pool, { name, alias: 'champion', version, actor: 'test', reason: 'test' });
  if (notify) await notifyEndpointChanged(pool, endpoint);
}

/** Opens a shadow session (and notifies in the same transaction); returns its id. */
export async function openShadowSession(
  pool: Pool,
  s: { endpoint: string; candidateVersion: number; championVersion: number | null; maxRequests: number; seconds: number; runId: string },
): Promise<number> {
  return inTransaction(pool, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO sluice.shadow_sessions (endpoint, candidate_version, champion_version, max_requests, ends_at, workflow_id, run_id)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), 'test-deploy', $6) RETURNING id::text`,
      [s.endpoint, s.candidateVersion, s.championVersion, s.maxRequests, s.seconds, s.runId],
    );
    await notifyEndpointChanged(c, s.endpoint);
    return Number(rows[0]?.id);
  });
}
