/**
 * The model registry's SQL, all of it, as plain functions of a pool: registering a version,
 * moving an alias (with its history), and lineage in both directions. The activities wrap them;
 * the client and CLI can call the read functions directly. Values are always bound parameters.
 */
import type { Pool, PoolClient } from 'pg';
import { ErrorCodes } from '../../api/errors';
import type {
  ModelAliasEvent,
  ModelLineage,
  ModelsUsingQuery,
  ModelTask,
  ModelVersionRef,
  SetModelAliasInput,
  SetModelAliasResult,
} from '../../api/models';
import { inTransaction } from '../../db/transaction';
import { SluiceError } from '../failures';

export const MODEL_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

const invalid = (message: string): SluiceError => new SluiceError(ErrorCodes.InvalidInput, message);

export function checkModelName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name))
    throw invalid(`model name ${JSON.stringify(name)} must be lower-case letters, digits, "_" or "-", starting with a letter, at most 63`);
}

function checkAlias(alias: string): void {
  if (!ALIAS_PATTERN.test(alias))
    throw invalid(
      `alias ${JSON.stringify(alias)} must be lower-case letters, digits, "_" or "-", starting with a letter, at most 32 (e.g. champion, challenger)`,
    );
}

export interface ModelRow {
  name: string;
  datasetId: string;
  codeVersion: string;
  codeDirty: boolean | null;
  task: ModelTask;
  trainer: string;
  parameters: Record<string, unknown>;
  seed: number | null;
  metrics: unknown;
  onnxUri: string;
  onnxSha256: string;
  cardUri: string | null;
  cardSha256: string | null;
  workflowId: string;
  runId: string;
}

/**
 * Inserts the next version of `row.name`, or returns the version this workflow run already
 * registered for the same ONNX file (a retry). Versions of one name are numbered under a
 * per-name advisory lock, so two registrations at once get 1 and 2, never a conflict.
 */
export async function insertModelVersion(pool: Pool, row: ModelRow): Promise<{ version: number; created: boolean }> {
  checkModelName(row.name);
  return inTransaction(pool, async (c) => {
    await c.query("SELECT pg_advisory_xact_lock(hashtext('sluice.models'), hashtext($1))", [row.name]);
    const prior = await c.query<{ version: number }>(
      'SELECT version FROM sluice.models WHERE name = $1 AND workflow_id = $2 AND run_id = $3 AND onnx_sha256 = $4',
      [row.name, row.workflowId, row.runId, row.onnxSha256],
    );
    if (prior.rows[0]) return { version: prior.rows[0].version, created: false };
    const dataset = await c.query('SELECT 1 FROM sluice.datasets WHERE id = $1', [row.datasetId]);
    if (dataset.rowCount === 0)
      throw new SluiceError(
        ErrorCodes.DatasetNotFound,
        `dataset ${row.datasetId} is not registered in sluice.datasets; a model must name the dataset it was trained on`,
      );
    const next = await c.query<{ v: number }>('SELECT coalesce(max(version), 0)::int + 1 AS v FROM sluice.models WHERE name = $1', [
      row.name,
    ]);
    const version = next.rows[0]?.v ?? 1;
    await c.query(
      `INSERT INTO sluice.models (name, version, dataset_id, code_version, code_dirty, task, trainer, parameters, seed, metrics,
                                  onnx_uri, onnx_sha256, card_uri, card_sha256, workflow_id, run_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        row.name,
        version,
        row.datasetId,
        row.codeVersion,
        row.codeDirty,
        row.task,
        row.trainer,
        JSON.stringify(row.parameters),
        row.seed,
        JSON.stringify(row.metrics),
        row.onnxUri,
        row.onnxSha256,
        row.cardUri,
        row.cardSha256,
        row.workflowId,
        row.runId,
      ],
    );
    return { version, created: true };
  });
}

/**
 * Points `alias` of a model at `version` and appends the move to sluice.model_alias_events, in
 * one transaction. Pointing it where it already points writes nothing (so a retry is a no-op).
 */
export async function moveModelAlias(pool: Pool, input: SetModelAliasInput): Promise<SetModelAliasResult> {
  checkModelName(input.name);
  checkAlias(input.alias);
  if (!input.actor.trim()) throw invalid('an alias move must say who made it (actor)');
  return inTransaction(pool, (c) => moveModelAliasIn(c, input));
}

/**
 * {@link moveModelAlias} inside a transaction the caller holds (several moves that commit
 * together: a promotion, a rollback). Locks `<name>@<alias>` until the transaction ends; callers
 * that move several aliases lock them in one order (champion, then previous).
 */
export async function moveModelAliasIn(c: PoolClient, input: SetModelAliasInput): Promise<SetModelAliasResult> {
  checkModelName(input.name);
  checkAlias(input.alias);
  if (!input.actor.trim()) throw invalid('an alias move must say who made it (actor)');
  // the alias row may not exist yet, so FOR UPDATE cannot serialise the first two moves; the lock can
  await lockModelAlias(c, input.name, input.alias);
  await requireModelVersion(c, input.name, input.version);
  const current = await c.query<{ version: number }>('SELECT version FROM sluice.model_aliases WHERE name = $1 AND alias = $2', [
    input.name,
    input.alias,
  ]);
  const previousVersion = current.rows[0]?.version ?? null;
  const base = { name: input.name, alias: input.alias, version: input.version, previousVersion };
  if (previousVersion === input.version) return { ...base, changed: false };
  await c.query(
    `INSERT INTO sluice.model_aliases (name, alias, version) VALUES ($1, $2, $3)
     ON CONFLICT (name, alias) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
    [input.name, input.alias, input.version],
  );
  await c.query(
    `INSERT INTO sluice.model_alias_events (name, alias, version, previous_version, actor, reason, workflow_id, run_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      input.name,
      input.alias,
      input.version,
      previousVersion,
      input.actor,
      input.reason ?? '',
      input.workflowId ?? null,
      input.runId ?? null,
    ],
  );
  return { ...base, changed: true };
}

/** The transaction-scoped lock of one alias of one model (held until COMMIT or ROLLBACK). */
export async function lockModelAlias(c: PoolClient, name: string, alias: string): Promise<void> {
  await c.query("SELECT pg_advisory_xact_lock(hashtext('sluice.model_aliases'), hashtext($1))", [`${name}@${alias}`]);
}

async function requireModelVersion(c: PoolClient | Pool, name: string, version: number): Promise<void> {
  const found = await c.query('SELECT 1 FROM sluice.models WHERE name = $1 AND version = $2', [name, version]);
  if (found.rowCount === 0) throw new SluiceError(ErrorCodes.UnknownModel, `model ${name}@${version} is not registered`);
}

/** `name@3` or `name@champion` → name and version (an alias is resolved now). */
export async function resolveModelRef(pool: Pool, ref: string): Promise<{ name: string; version: number }> {
  const at = ref.lastIndexOf('@');
  if (at <= 0 || at === ref.length - 1)
    throw invalid(`model reference ${JSON.stringify(ref)} must look like <model>@<version> or <model>@<alias>`);
  const name = ref.slice(0, at);
  const tail = ref.slice(at + 1);
  checkModelName(name);
  if (/^[1-9][0-9]{0,9}$/.test(tail)) {
    await requireModelVersion(pool, name, Number(tail));
    return { name, version: Number(tail) };
  }
  checkAlias(tail);
  const { rows } = await pool.query<{ version: number }>('SELECT version FROM sluice.model_aliases WHERE name = $1 AND alias = $2', [
    name,
    tail,
  ]);
  if (!rows[0]) throw new SluiceError(ErrorCodes.UnknownModel, `model ${name} has no alias ${tail}`);
  return { name, version: rows[0].version };
}

interface AliasEventRow {
  alias: string;
  version: number;
  previous_version: number | null;
  actor: string;
  reason: string;
  workflow_id: string | null;
  run_id: string | null;
  at: Date;
}

const aliasEvent = (r: AliasEventRow): ModelAliasEvent => ({
  alias: r.alias,
  version: r.version,
  previousVersion: r.previous_version,
  actor: r.actor,
  reason: r.reason,
  workflowId: r.workflow_id,
  runId: r.run_id,
  at: r.at.toISOString(),
});

/** Every move of a model's aliases (or of one alias), oldest first. */
export async function modelAliasHistory(pool: Pool, name: string, alias?: string): Promise<ModelAliasEvent[]> {
  const { rows } = await pool.query<AliasEventRow>(
    `SELECT alias, version, previous_version, actor, reason, workflow_id, run_id, at FROM sluice.model_alias_events
      WHERE name = $1 AND ($2::text IS NULL OR alias = $2) ORDER BY id`,
    [name, alias ?? null],
  );
  return rows.map(aliasEvent);
}

type LogRange = Record<string, { fromSeq?: string; toSeq?: string }>;

/** The log range of a dataset as one [lo, hi] over its sources (builds record one range), or undefined when open or empty. */
function spanOf(range: LogRange): { lo: string; hi: string } | undefined {
  const parts = Object.values(range);
  if (parts.length === 0 || parts.some((r) => r.fromSeq === undefined || r.toSeq === undefined)) return undefined;
  const lo = parts.map((r) => BigInt(r.fromSeq as string)).reduce((a, b) => (b < a ? b : a));
  const hi = parts.map((r) => BigInt(r.toSeq as string)).reduce((a, b) => (b > a ? b : a));
  return { lo: lo.toString(), hi: hi.toString() };
}

/** Everything a model version came from: dataset, transform build, log range, contracts, code, trainer, producing run, aliases. */
export async function modelLineage(pool: Pool, ref: string): Promise<ModelLineage> {
  const { name, version } = await resolveModelRef(pool, ref);
  const { rows } = await pool.query<{
    task: ModelTask | null;
    created_at: Date;
    onnx_uri: string;
    onnx_sha256: string;
    card_uri: string | null;
    card_sha256: string | null;
    metrics: Record<string, unknown>;
    code_version: string;
    code_dirty: boolean | null;
    trainer: string;
    parameters: Record<string, unknown>;
    seed: string | null;
    workflow_id: string;
    run_id: string;
    dataset_id: string;
    transform: string | null;
    transform_version: number | null;
    log_range: LogRange;
    contract_versions: Record<string, string[]>;
    row_count: string;
    artifact_uri: string | null;
    dataset_created_at: Date;
  }>(
    `SELECT m.task, m.created_at, m.onnx_uri, m.onnx_sha256, m.card_uri, m.card_sha256, m.metrics, m.code_version, m.code_dirty,
            m.trainer, m.parameters, m.seed::text AS seed, m.workflow_id, m.run_id, m.dataset_id,
            d.transform, d.transform_version, d.log_range, d.contract_versions, d.row_count::text AS row_count, d.artifact_uri,
            d.created_at AS dataset_created_at
       FROM sluice.models m JOIN sluice.datasets d ON d.id = m.dataset_id
      WHERE m.name = $1 AND m.version = $2`,
    [name, version],
  );
  const m = rows[0];
  if (!m) throw new SluiceError(ErrorCodes.UnknownModel, `model ${name}@${version} is not registered`);
  let transform: ModelLineage['transform'] = null;
  if (m.transform !== null && m.transform_version !== null) {
    const span = spanOf(m.log_range);
    const builds = span
      ? (
          await pool.query<{ build_id: string; sha256: string; from_seq: string; to_seq: string; rows: string; exact: boolean }>(
            `SELECT build_id, sha256, from_seq::text, to_seq::text, rows::text, (from_seq = $3::bigint AND to_seq = $4::bigint) AS exact
             FROM sluice.transform_builds
            WHERE name = $1 AND version = $2 AND from_seq <= $3::bigint AND to_seq >= $4::bigint
            ORDER BY exact DESC, finished_at DESC, build_id`,
            [m.transform, m.transform_version, span.lo, span.hi],
          )
        ).rows
      : [];
    transform = {
      name: m.transform,
      version: m.transform_version,
      builds: builds.map((b) => ({
        buildId: b.build_id,
        sha256: b.sha256,
        fromSeq: b.from_seq,
        toSeq: b.to_seq,
        rows: Number(b.rows),
        exactRange: b.exact,
      })),
    };
  }
  const aliases = await pool.query<{ alias: string }>(
    'SELECT alias FROM sluice.model_aliases WHERE name = $1 AND version = $2 ORDER BY alias',
    [name, version],
  );
  const history = await pool.query<AliasEventRow>(
    `SELECT alias, version, previous_version, actor, reason, workflow_id, run_id, at FROM sluice.model_alias_events
      WHERE name = $1 AND (version = $2 OR previous_version = $2) ORDER BY id`,
    [name, version],
  );
  return {
    name,
    version,
    task: m.task,
    createdAt: m.created_at.toISOString(),
    onnx: { uri: m.onnx_uri, sha256: m.onnx_sha256 },
    card: m.card_uri !== null && m.card_sha256 !== null ? { uri: m.card_uri, sha256: m.card_sha256 } : null,
    metrics: m.metrics,
    code: { version: m.code_version, dirty: m.code_dirty },
    trainer: { kind: m.trainer, parameters: m.parameters, seed: m.seed === null ? null : Number(m.seed) },
    producedBy: { workflowId: m.workflow_id, runId: m.run_id },
    dataset: {
      id: m.dataset_id,
      rowCount: Number(m.row_count),
      artifactUri: m.artifact_uri,
      createdAt: m.dataset_created_at.toISOString(),
      logRange: m.log_range,
      contracts: Object.entries(m.contract_versions)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([contract, versions]) => ({ name: contract, versions })),
    },
    transform,
    aliases: aliases.rows.map((r) => r.alias),
    aliasHistory: history.rows.map(aliasEvent),
  };
}

const SEQ = /^(0|[1-9][0-9]{0,18})$/;

/** The filter of each kind of reverse-lineage query (its values are bound: see {@link modelsUsing}). */
const MODELS_USING_WHERE = {
  dataset: 'm.dataset_id = $1',
  // a dataset's range with an open end reaches the start or the end of the log
  logRange: `EXISTS (SELECT 1 FROM jsonb_each(d.log_range) AS r(source, range)
                        WHERE r.source = $1
                          AND coalesce((r.range->>'fromSeq')::bigint, 0) <= $3::bigint
                          AND coalesce((r.range->>'toSeq')::bigint, 9223372036854775807) >= $2::bigint)`,
  contract: 'd.contract_versions @> jsonb_build_object($1::text, jsonb_build_array($2::text))',
} as const;

/** Reverse lineage: the model versions trained on a dataset, on data from a log range (any overlap), or on rows of a contract version. */
export async function modelsUsing(pool: Pool, q: ModelsUsingQuery): Promise<ModelVersionRef[]> {
  let params: unknown[];
  switch (q.kind) {
    case 'dataset':
      params = [q.datasetId];
      break;
    case 'logRange':
      if (!SEQ.test(q.fromSeq) || !SEQ.test(q.toSeq)) throw invalid(`log range ${q.fromSeq}–${q.toSeq} must be two log offsets (decimal)`);
      params = [q.source, q.fromSeq, q.toSeq];
      break;
    case 'contract':
      params = [q.contract, q.version];
      break;
    default: {
      const never: never = q;
      throw invalid(`unknown query ${JSON.stringify(never)}`);
    }
  }
  const { rows } = await pool.query<{ name: string; version: number; dataset_id: string; created_at: Date }>(
    `SELECT m.name, m.version, m.dataset_id, m.created_at FROM sluice.models m JOIN sluice.datasets d ON d.id = m.dataset_id
      WHERE ${MODELS_USING_WHERE[q.kind]} ORDER BY m.name, m.version`,
    params,
  );
  return rows.map((r) => ({ name: r.name, version: r.version, datasetId: r.dataset_id, createdAt: r.created_at.toISOString() }));
}

export interface ModelListEntry {
  name: string;
  version: number;
  task: ModelTask | null;
  trainer: string;
  datasetId: string;
  /** The headline metric: accuracy (classification) or RMSE (regression), when evaluated. */
  metric: { name: string; value: number } | null;
  aliases: string[];
  createdAt: string;
}

/** Every registered model version (optionally of one name), newest first, with its aliases. */
export async function listModels(pool: Pool, name?: string): Promise<ModelListEntry[]> {
  const { rows } = await pool.query<{
    name: string;
    version: number;
    task: ModelTask | null;
    trainer: string;
    dataset_id: string;
    metrics: Record<string, unknown>;
    aliases: string[];
    created_at: Date;
  }>(
    `SELECT m.name, m.version, m.task, m.trainer, m.dataset_id, m.metrics, m.created_at,
            coalesce(array_agg(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), '{}') AS aliases
       FROM sluice.models m LEFT JOIN sluice.model_aliases a ON a.name = m.name AND a.version = m.version
      WHERE $1::text IS NULL OR m.name = $1
      GROUP BY m.name, m.version ORDER BY m.name, m.version DESC`,
    [name ?? null],
  );
  return rows.map((r) => {
    const accuracy = r.metrics.accuracy;
    const rmse = r.metrics.rmse;
    const metric =
      typeof accuracy === 'number'
        ? { name: 'accuracy', value: accuracy }
        : typeof rmse === 'number'
          ? { name: 'rmse', value: rmse }
          : null;
    return {
      name: r.name,
      version: r.version,
      task: r.task,
      trainer: r.trainer,
      datasetId: r.dataset_id,
      metric,
      aliases: r.aliases,
      createdAt: r.created_at.toISOString(),
    };
  });
}

export interface DatasetListEntry {
  id: string;
  transform: string | null;
  transformVersion: number | null;
  rowCount: number;
  artifactUri: string | null;
  /** Models trained on it. */
  models: number;
  createdAt: string;
}

/** Every registered dataset snapshot, newest first, with how many models used it. */
export async function listDatasets(pool: Pool): Promise<DatasetListEntry[]> {
  const { rows } = await pool.query<{
    id: string;
    transform: string | null;
    transform_version: number | null;
    row_count: string;
    artifact_uri: string | null;
    models: number;
    created_at: Date;
  }>(
    `SELECT d.id, d.transform, d.transform_version, d.row_count::text, d.artifact_uri, d.created_at,
            (SELECT count(*)::int FROM sluice.models m WHERE m.dataset_id = d.id) AS models
       FROM sluice.datasets d ORDER BY d.created_at DESC, d.id`,
  );
  return rows.map((r) => ({
    id: r.id,
    transform: r.transform,
    transformVersion: r.transform_version,
    rowCount: Number(r.row_count),
    artifactUri: r.artifact_uri,
    models: r.models,
    createdAt: r.created_at.toISOString(),
  }));
}
