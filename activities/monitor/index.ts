/**
 * The `monitor` step's activities: measure drift and performance of a registered model's recent
 * data (read-only), and record the decision (a run event; when a retrain started, one under the
 * retrain's workflow id too, with its reason).
 */
import { Context } from '@temporalio/activity';
import { tableFromIPC } from 'apache-arrow';
import { ErrorCodes } from '../../api/errors';
import type { FeatureDrift, MonitorInput, MonitorMeasurement, MonitorPerformance, MonitorResult } from '../../api/workflows/monitor';
import { quoteIdent } from '../../db/sql';
import type { ActivityDeps } from '../deps';
import { SluiceError } from '../failures';
import { withHeartbeat } from '../heartbeat';
import { insertRunEvent } from '../runEvents';
import { ModelSignatureError, readModelSignature } from '../onnx/signature';
import { resolveModelRef } from '../registry/queries';
import type { ColumnStats } from '../snapshot/stats';
import { derivedTable } from '../transform/sqlText';
import { readVerifiedArtifact } from '../verifiedArtifact';
import { categoricalPsi, driftedBy, ksStatistic, numericPsi } from './drift';

export type MonitorDeps = Pick<ActivityDeps, 'pool' | 'artifacts'>;

export const DEFAULT_THRESHOLDS = { psi: 0.25, ks: 0.2 } as const;
export const DEFAULT_RECENT_ROWS = 10_000;
/** Baseline values read for KS: an even stride over the dataset past this many rows. */
export const KS_BASELINE_ROWS = 100_000;

interface ModelRow {
  dataset_id: string;
  onnx_sha256: string;
  task: 'binary' | 'multiclass' | 'regression' | null;
  metrics: Record<string, unknown>;
  spec: { features?: { name: string; kind: 'numeric' | 'categorical' }[] };
  column_stats: Record<string, ColumnStats>;
}

const invalid = (message: string): SluiceError => new SluiceError(ErrorCodes.InvalidInput, message);
const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : String(x));

async function liveVersion(deps: MonitorDeps, transform: string): Promise<number> {
  const r = await deps.pool.query<{ version: number }>('SELECT version FROM sluice.transform_live WHERE name = $1', [transform]);
  const v = r.rows[0]?.version;
  if (v === undefined)
    throw new SluiceError(ErrorCodes.UnknownTransform, `transform ${transform} has no live version: name the version to monitor`);
  return v;
}

async function tableColumns(deps: MonitorDeps, table: string, label: string): Promise<Set<string>> {
  const r = await deps.pool.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [table],
  );
  if (r.rows.length === 0)
    throw new SluiceError(ErrorCodes.DatasetNotFound, `there is no derived table ${label} (sluice_derived.${label})`);
  return new Set(r.rows.map((x) => x.name));
}

/** Baseline values of numeric columns from the dataset's Arrow file (every row, or an even stride past {@link KS_BASELINE_ROWS}). */
async function baselineValues(deps: MonitorDeps, datasetId: string, columns: string[]): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  if (columns.length === 0) return out;
  const table = tableFromIPC(await readVerifiedArtifact(deps.artifacts, datasetId, 'dataset Arrow file'));
  const stride = Math.max(1, Math.ceil(table.numRows / KS_BASELINE_ROWS));
  for (const name of columns) {
    const col = table.getChild(name);
    const values: number[] = [];
    if (col) {
      for (let i = 0; i < table.numRows; i += stride) {
        const v: unknown = col.get(i);
        const x = typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? Number(v) : v;
        if (typeof x === 'number' && Number.isFinite(x)) values.push(x);
      }
    }
    out.set(
      name,
      values.sort((a, b) => a - b),
    );
  }
  return out;
}

async function measurePerformance(
  deps: MonitorDeps,
  input: MonitorInput,
  model: ModelRow,
  version: number,
): Promise<MonitorPerformance & { toSeq?: string }> {
  const p = input.performance;
  if (!p) return { status: 'skipped', reason: 'no predictions and labels sources configured' };
  const regression = model.task === 'regression';
  const metric = regression ? 'rmse' : 'accuracy';
  const registered = model.metrics[metric];
  // Predictions of this model version, newest first; each joined to the newest label of its request.
  const r = await deps.pool.query<{ pairs: string; correct: string | null; rmse: number | null; to_seq: string | null }>(
    `WITH p AS (
       SELECT seq, payload->>'request_id' AS rid, payload->'outputs'->>'label' AS predicted
         FROM sluice.raw_events
        WHERE source = $1 AND payload->'model'->>'name' = $3 AND payload->'model'->>'version' = $4 AND payload ? 'request_id'
        ORDER BY seq DESC LIMIT $5),
     l AS (
       SELECT DISTINCT ON (payload->>$6) payload->>$6 AS rid, payload->>$7 AS actual
         FROM sluice.raw_events WHERE source = $2 AND payload ? $6 AND payload ? $7
        ORDER BY payload->>$6, seq DESC)
     SELECT count(*)::text AS pairs,
            count(*) FILTER (WHERE p.predicted = l.actual)::text AS correct,
            CASE WHEN $8 THEN sqrt(avg(power(p.predicted::double precision - l.actual::double precision, 2))) END AS rmse,
            max(p.seq)::text AS to_seq
       FROM p JOIN l ON l.rid = p.rid`,
    [
      p.predictionsSource,
      p.labelsSource,
      input.model.name,
      String(version),
      p.lastPairs ?? DEFAULT_RECENT_ROWS,
      p.requestIdField ?? 'request_id',
      p.labelField ?? 'label',
      regression,
    ],
  );
  const row = r.rows[0];
  const pairs = Number(row?.pairs ?? 0);
  if (!row || pairs === 0)
    return {
      status: 'skipped',
      reason: `no predictions of ${input.model.name}@${version} in ${p.predictionsSource} joined to labels in ${p.labelsSource}`,
    };
  const current = regression ? Number(row.rmse) : Number(row.correct) / pairs;
  if (typeof registered !== 'number')
    return { status: 'skipped', reason: `${input.model.name}@${version} has no registered ${metric}`, metric, pairs, current };
  const drop = regression ? current - registered : registered - current;
  const limit = input.thresholds?.metricDrop;
  return {
    status: 'measured',
    metric,
    pairs,
    current,
    registered,
    drop,
    dropped: limit !== undefined && drop > limit,
    ...(row.to_seq ? { toSeq: row.to_seq } : {}),
  };
}

/** The features of the model's ONNX signature (for a dataset whose spec names none). */
async function signatureFeatures(
  deps: MonitorDeps,
  model: ModelRow,
  ref: string,
): Promise<{ name: string; kind: 'numeric' | 'categorical' }[]> {
  try {
    const sig = readModelSignature(await readVerifiedArtifact(deps.artifacts, model.onnx_sha256, 'ONNX model'), `the ONNX model of ${ref}`);
    return [
      ...sig.numericFeatures.map((name) => ({ name, kind: 'numeric' as const })),
      ...sig.categoricalFeatures.map((name) => ({ name, kind: 'categorical' as const })),
    ];
  } catch (err) {
    if (err instanceof ModelSignatureError) throw invalid(`${err.message}: list the features to check`);
    throw err;
  }
}

async function measureDrift(
  deps: MonitorDeps,
  input: MonitorInput,
): Promise<MonitorMeasurement & { performanceToSeq: string | null; runEventDetails: Record<string, unknown> }> {
  const { name, version } = await resolveModelRef(deps.pool, `${input.model.name}@${input.model.alias ?? 'champion'}`);
  const m = await deps.pool.query<ModelRow>(
    `SELECT m.dataset_id, m.onnx_sha256, m.task, m.metrics, d.spec, d.column_stats
         FROM sluice.models m JOIN sluice.datasets d ON d.id = m.dataset_id WHERE m.name = $1 AND m.version = $2`,
    [name, version],
  );
  const model = m.rows[0];
  if (!model) throw new SluiceError(ErrorCodes.UnknownModel, `model ${name}@${version} is not registered`);
  const specFeatures = model.spec.features?.length ? model.spec.features : await signatureFeatures(deps, model, `${name}@${version}`);
  const wanted = input.features ?? specFeatures.map((f) => f.name);
  if (wanted.length === 0) throw invalid(`the dataset of ${name}@${version} names no features: list the features to check`);
  const features = wanted.map((f) => {
    const stats = model.column_stats[f];
    if (!stats) throw invalid(`feature ${f} is not a column of the training dataset of ${name}@${version} (${model.dataset_id})`);
    const kind = specFeatures.find((s) => s.name === f)?.kind ?? (stats.numeric ? 'numeric' : 'categorical');
    return { name: f, kind, stats };
  });

  const transform = input.recent.transform;
  const tv = input.recent.version ?? (await liveVersion(deps, transform));
  const label = `${transform}__v${tv}`;
  const table = derivedTable(transform, tv);
  const columns = await tableColumns(deps, table, label);
  const present = features.filter((f) => columns.has(f.name));
  const timeColumn = input.recent.timeColumn ?? 'event_time';
  if (input.recent.sinceMinutes !== undefined && !columns.has(timeColumn))
    throw invalid(`${label} has no column ${timeColumn} to select the last ${input.recent.sinceMinutes} minutes by: name its timeColumn`);
  const select = present.map(
    (f) => `${quoteIdent(f.name)}::${f.kind === 'numeric' ? 'double precision' : 'text'} AS ${quoteIdent(f.name)}`,
  );
  const where = ['($1::bigint IS NULL OR seq >= $1::bigint)', '($4::bigint IS NULL OR seq <= $4::bigint)'];
  if (input.recent.sinceMinutes !== undefined) where.push(`${quoteIdent(timeColumn)} >= now() - make_interval(mins => $3::int)`);
  else where.push('$3::int IS NULL');
  const rows = await deps.pool.query<Record<string, unknown>>(
    // composed of quoteIdent() names, derivedTable() and the constant fragments above; values are bound
    // eslint-disable-next-line sluice/sql-values-bound
    `SELECT seq::text AS __seq${select.map((s) => `, ${s}`).join('')} FROM ${table} WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $2`,
    [
      input.recent.fromSeq ?? null,
      input.recent.lastRows ?? DEFAULT_RECENT_ROWS,
      input.recent.sinceMinutes ?? null,
      input.recent.toSeq ?? null,
    ],
  );
  const recent = rows.rows;
  const logRange = {
    fromSeq: recent.length ? String(recent[recent.length - 1]?.__seq) : null,
    toSeq: recent.length ? String(recent[0]?.__seq) : null,
  };

  const thresholds = { ...DEFAULT_THRESHOLDS, ...input.thresholds };
  const baseline = recent.length
    ? await baselineValues(
        deps,
        model.dataset_id,
        present.filter((f) => f.kind === 'numeric').map((f) => f.name),
      )
    : new Map<string, number[]>();
  const drift: FeatureDrift[] = features.map((f) => {
    const base = { feature: f.name, kind: f.kind, baselineRows: f.stats.count, recentRows: 0 };
    if (!columns.has(f.name)) return { ...base, psi: null, ks: null, drifted: [], note: `not a column of ${label}` };
    const values = recent.map((r) => r[f.name] as number | string | null).filter((v) => v !== null);
    if (values.length === 0) return { ...base, psi: null, ks: null, drifted: [], note: 'no recent non-null values' };
    if (f.kind === 'numeric') {
      const xs = (values as number[]).filter((x) => Number.isFinite(x));
      const edges = f.stats.numeric?.quantiles.edges ?? [];
      const bl = baseline.get(f.name) ?? [];
      const psi = edges.length >= 2 ? numericPsi(edges, xs, bl) : null;
      const ks =
        bl.length && xs.length
          ? ksStatistic(
              bl,
              [...xs].sort((a, b) => a - b),
            )
          : null;
      return {
        ...base,
        recentRows: xs.length,
        psi,
        ks,
        drifted: driftedBy(psi, ks, thresholds),
        ...(psi === null ? { note: 'no quantiles recorded for this column' } : {}),
      };
    }
    const psi = categoricalPsi(f.stats, values.map(String));
    return { ...base, recentRows: values.length, psi, ks: null, drifted: driftedBy(psi, null, thresholds) };
  });

  const { toSeq: performanceToSeq, ...performance } = await measurePerformance(deps, input, model, version);
  const over = logRange.toSeq ? `over seq ${logRange.fromSeq}..${logRange.toSeq} of ${label} (${recent.length} rows)` : '';
  const reasons = drift
    .filter((d) => d.drifted.length > 0)
    .map((d) => {
      const figures = d.drifted.map((k) => `${k.toUpperCase()} ${fmt((k === 'psi' ? d.psi : d.ks) ?? NaN)} > ${thresholds[k]}`);
      return `feature ${d.feature} drifted: ${figures.join(', ')} ${over}`;
    });
  if (performance.dropped)
    reasons.push(
      `${performance.metric} of ${name}@${version} moved from ${fmt(performance.registered ?? NaN)} (test split) to ${fmt(performance.current ?? NaN)} ` +
        `(worse by ${fmt(performance.drop ?? NaN)} > ${thresholds.metricDrop}) over ${performance.pairs} predictions joined to labels, up to seq ${performanceToSeq}`,
    );
  const result = {
    model: name,
    version,
    datasetId: model.dataset_id,
    table: label,
    logRange,
    recentRows: recent.length,
    features: drift,
    performance,
    reasons,
  };
  return {
    ...result,
    performanceToSeq: performanceToSeq ?? null,
    runEventDetails: { logRange, features: drift, performance, reasons },
  };
}

export function createMonitorActivities(deps: MonitorDeps) {
  return {
    /**
     * Drift of each feature (PSI against the dataset's column statistics; KS of numeric features
     * against its Arrow values) over the newest rows of the derived table, and performance from
     * predictions joined to labels. Read-only; idempotent on the same data. Throws
     * SLUICE_UNKNOWN_MODEL, SLUICE_UNKNOWN_TRANSFORM, SLUICE_DATASET_NOT_FOUND, SLUICE_INVALID_INPUT
     * (a feature the dataset has no statistics of), SLUICE_ARTIFACT_NOT_FOUND/CORRUPT.
     */
    async measureModelDrift(
      input: MonitorInput,
    ): Promise<MonitorMeasurement & { performanceToSeq: string | null; runEventDetails: Record<string, unknown> }> {
      // A heartbeat every 2 s while queries and the Arrow read run: a dead worker is noticed within the heartbeat timeout.
      return withHeartbeat(() => measureDrift(deps, input));
    },

    /**
     * Records the monitor's decision in its run event (every feature's figures, the reasons); when
     * it started a retrain, also a run event under the retrain's workflow id that says why.
     * Idempotent: a retry finds the retrain's row and does not write it again.
     */
    async recordMonitorDecision(input: {
      result: MonitorResult;
      retrainRunId?: string;
    }): Promise<{ decision: MonitorResult['decision']; runEventDetails: Record<string, unknown> }> {
      const r = input.result;
      if (r.decision === 'retrain-started' && r.retrainWorkflowId && input.retrainRunId) {
        const info = Context.current().info;
        const exists = await deps.pool.query(
          `SELECT 1 FROM sluice.run_events WHERE workflow_id = $1 AND run_id = $2 AND step = 'retrainRequested'`,
          [r.retrainWorkflowId, input.retrainRunId],
        );
        if (exists.rowCount === 0)
          await insertRunEvent(deps.pool, {
            workflowId: r.retrainWorkflowId,
            runId: input.retrainRunId,
            workflowType: 'train',
            step: 'retrainRequested',
            attempt: 1,
            status: 'completed',
            details: {
              reasons: r.reasons,
              logRange: r.logRange,
              table: r.table,
              model: `${r.model}@${r.version}`,
              monitor: { workflowId: info.workflowExecution?.workflowId ?? null, runId: info.workflowExecution?.runId ?? null },
            },
          });
      }
      return {
        decision: r.decision,
        runEventDetails: {
          decision: r.decision,
          retrainWorkflowId: r.retrainWorkflowId ?? null,
          model: `${r.model}@${r.version}`,
          logRange: r.logRange,
          features: r.features,
          performance: r.performance,
          reasons: r.reasons,
        },
      };
    },
  };
}

export type MonitorActivities = ReturnType<typeof createMonitorActivities>;
export { categoricalPsi, numericPsi } from './drift';
