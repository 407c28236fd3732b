/** Registered model versions, prediction events and policies for the deploy tests. */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { LocalArtifactStore } from '../../activities/artifacts';
import { exportModelToOnnx } from '../../activities/onnx';
import { insertModelVersion } from '../../activities/registry/queries';
import type { TrainedModel } from '../../activities/train';
import type { DeployPolicy } from '../../api/workflows/deploy';
import { pollUntil } from '../../client/poll';
import { knownModel } from './models';

/** The endpoint whose prediction source has a contract (contracts/sources/predictions_deploy_test.v1.0.0.json). */
export const SHADOW_ENDPOINT = 'deploy_test';

/** P(pos) = sigmoid(w·x): w = 1 is right on data labelled by the sign of x, w = -1 always wrong. */
export function signModel(w: number, feature = 'x'): TrainedModel {
  const m = knownModel('binary');
  return {
    ...m,
    features: [{ name: feature, kind: 'numeric' }],
    preprocessing: { numeric: [{ name: feature, mean: 0, std: 1 }], categorical: [], width: 1 },
    layers: [{ inputs: 1, outputs: 1, weights: Float64Array.of(w), bias: Float64Array.of(0) }],
  };
}

/** Registers the next version of `name`: its ONNX file in the store, its row with the given (recorded) metrics. */
export async function registerVersion(
  pool: Pool,
  store: LocalArtifactStore,
  name: string,
  options: { model?: TrainedModel; datasetId: string; metrics: Record<string, unknown> },
): Promise<{ version: number; onnxSha256: string; onnxUri: string }> {
  const onnx = await store.put(exportModelToOnnx(options.model ?? signModel(1)), { mediaType: 'application/onnx', extension: '.onnx' });
  const { version } = await insertModelVersion(pool, {
    name,
    datasetId: options.datasetId,
    codeVersion: 'test',
    codeDirty: false,
    task: 'binary',
    trainer: 'logistic_regression',
    parameters: {},
    seed: 1,
    metrics: { task: 'binary', ...options.metrics },
    onnxUri: onnx.uri,
    onnxSha256: onnx.sha256,
    cardUri: null,
    cardSha256: null,
    workflowId: `train-${name}`,
    runId: randomUUID(),
  });
  return { version, onnxSha256: onnx.sha256, onnxUri: onnx.uri };
}

export function gatePolicy(overrides: Partial<DeployPolicy> = {}): DeployPolicy {
  return { gate: { metric: 'accuracy', margin: 0.01 }, onConflict: 'refuse', ...overrides };
}

/** Prediction events as the scoring service logs them while a shadow session runs. */
export function shadowedPredictions(
  sessionId: string,
  count: number,
  options: { agree: (i: number) => boolean; championVersion: number; candidateVersion: number },
): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => {
    const label = i % 2 === 0 ? 'pos' : 'neg';
    const other = label === 'pos' ? 'neg' : 'pos';
    return {
      request_id: `req-${sessionId}-${i}`,
      endpoint: SHADOW_ENDPOINT,
      row: { x: i % 2 === 0 ? 1 : -1 },
      model: { name: 'shadowed', version: options.championVersion, sha256: 'a'.repeat(64) },
      inputs_digest: 'b'.repeat(64),
      outputs: { label, probabilities: [0.3, 0.7] },
      latency_ms: 1 + (i % 3),
      shadow: {
        session_id: Number(sessionId),
        version: options.candidateVersion,
        sha256: 'c'.repeat(64),
        outputs: { label: options.agree(i) ? label : other },
        latency_ms: 2 + (i % 3),
      },
    };
  });
}

/** The model's aliases now: `{ champion: 2, previous: 1 }`. */
export async function modelAliases(pool: Pool, model: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ alias: string; version: number }>('SELECT alias, version FROM sluice.model_aliases WHERE name = $1', [
    model,
  ]);
  return Object.fromEntries(rows.map((r) => [r.alias, r.version]));
}

/** How many times `alias` was moved to `version` (the append-only alias history). */
export async function aliasMoves(pool: Pool, model: string, alias: string, version: number): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM sluice.model_alias_events WHERE name = $1 AND alias = $2 AND version = $3',
    [model, alias, version],
  );
  return rows[0]!.n;
}

/** Resolves once a run event says `step` of the workflow started (within a minute). */
export function stepStarted(pool: Pool, workflowId: string, step: string): Promise<true> {
  return pollUntil(
    `${step} started`,
    async () => {
      const { rows } = await pool.query("SELECT 1 FROM sluice.run_events WHERE workflow_id = $1 AND step = $2 AND status = 'started'", [
        workflowId,
        step,
      ]);
      return rows.length > 0 ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

/**
 * Holds the advisory lock of `model`'s champion alias on a connection of its own, so that a
 * promotion stops inside its transaction; `release()` unlocks it and gives the connection back.
 */
export async function holdChampionAlias(pool: Pool, model: string): Promise<{ release(): Promise<void> }> {
  const key = `${model}@champion`;
  const holder = await pool.connect();
  try {
    await holder.query("SELECT pg_advisory_lock(hashtext('sluice.model_aliases'), hashtext($1))", [key]);
  } catch (err) {
    holder.release();
    throw err;
  }
  return {
    async release() {
      try {
        await holder.query("SELECT pg_advisory_unlock(hashtext('sluice.model_aliases'), hashtext($1))", [key]);
      } finally {
        holder.release();
      }
    },
  };
}

/** Resolves once a promotion waits on an alias lock (see {@link holdChampionAlias}). */
export function promotionWaitingOnLock(pool: Pool): Promise<true> {
  return pollUntil('the promotion waiting on the lock', async () => {
    const { rows } = await pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'",
    );
    return rows.length > 0 ? true : undefined;
  });
}
