/**
 * sluice's own metrics of a worker process, rendered in Prometheus' text format on the worker's
 * /metrics (workers/metricsServer.ts). Counted where every activity passes, the run-event wrapper
 * (activities/runEvents.ts): step durations and outcomes, events per source and result from the
 * ingest steps, rows per transform, training progress from heartbeats, model metrics from
 * evaluations. Transform lag is read from PostgreSQL when the endpoint is scraped.
 */
import type { Pool } from 'pg';
import { inTransaction } from '../db/transaction';
import { Counter, Gauge, Histogram, renderMetrics, type Metric } from './prometheus';

const STEP_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600] as const;
/** The lag in rows is counted up to this many rows per source (a bounded index range scan). */
export const TRANSFORM_LAG_ROWS_CAP = 1_000_000;
const INGEST_STEPS = new Set(['ingestEvents', 'ingestFile']);
const TRANSFORM_STEPS = new Set(['runTransformChunks', 'processTransformChunk', 'runTransformChunk', 'buildTransformChunk']);

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const numberAt = (r: Record<string, unknown>, k: string): number | undefined =>
  typeof r[k] === 'number' && Number.isFinite(r[k]) ? (r[k] as number) : undefined;

export interface TransformLag {
  transform: string;
  rows: number;
  seconds: number;
}

/**
 * Unprocessed rows and the age of the oldest unprocessed event, per live transform version: one
 * bounded range scan on raw_events (source, seq) per watermark, at most {@link TRANSFORM_LAG_ROWS_CAP} rows each.
 */
export async function readTransformLag(pool: Pool, timeoutMs = 5_000): Promise<TransformLag[]> {
  const timeout = `${Math.max(1, Math.floor(timeoutMs))}ms`;
  const r = await inTransaction(pool, async (client) => {
    // a scrape must not hold a connection for long: the endpoint answers without the lag instead
    await client.query('SELECT set_config($1, $2, true)', ['statement_timeout', timeout]);
    return client.query<{ name: string; rows: string; seconds: number | null }>(
      `SELECT w.name, sum(pending.n)::text AS rows,
                  coalesce(max(extract(epoch FROM now() - oldest.ingested_at)), 0)::float8 AS seconds
             FROM sluice.transform_live t
             JOIN sluice.watermarks w ON w.name = t.name AND w.version = t.version
             CROSS JOIN LATERAL (SELECT count(*) AS n FROM (
                 SELECT 1 FROM sluice.raw_events e WHERE e.source = w.source AND e.seq > w.last_seq LIMIT $1) capped) pending
             LEFT JOIN LATERAL (
                 SELECT e.ingested_at FROM sluice.raw_events e
                  WHERE e.source = w.source AND e.seq > w.last_seq ORDER BY e.seq LIMIT 1) oldest ON true
            GROUP BY w.name ORDER BY w.name`,
      [TRANSFORM_LAG_ROWS_CAP],
    );
  });
  return r.rows.map((row) => ({ transform: row.name, rows: Number(row.rows), seconds: Math.max(0, row.seconds ?? 0) }));
}

export interface StepOutcome {
  step: string;
  workflowId: string;
  outcome: 'completed' | 'failed';
  seconds: number;
  /** The activity's arguments and result (completed steps): where the counts come from. */
  args: readonly unknown[];
  result?: unknown;
  /** The failure's error code (failed steps). */
  code?: string;
}

/** The metrics of one worker process; {@link WorkerMetrics.render} gives the exposition. */
export class WorkerMetrics {
  readonly stepDuration = new Histogram(
    'sluice_step_duration_seconds',
    'Duration of each activity (step) run by this worker, by step and outcome (completed, failed).',
    STEP_SECONDS,
  );
  readonly stepFailures = new Counter('sluice_step_failures_total', 'Failed activity attempts, by step and error code.');
  readonly events = new Counter(
    'sluice_events_total',
    'Events received by the ingest steps of this worker, by source and result (accepted, quarantined, duplicate, conflicting; conflicting events are also counted as quarantined).',
  );
  readonly transformRows = new Counter(
    'sluice_transform_rows_total',
    'Rows of transform chunks run by this worker, by transform and direction (read from the log, written to the table).',
  );
  readonly trainingEpoch = new Gauge('sluice_training_epoch', 'Epochs done by each training running on this worker (its last heartbeat).');
  readonly trainingLoss = new Gauge('sluice_training_loss', 'Training loss of each training running on this worker (its last heartbeat).');
  readonly modelMetric = new Gauge(
    'sluice_model_metric',
    'Metrics of the models evaluated by this worker (the last evaluation of each model), by model (ONNX sha256, first 12 hex digits) and metric.',
  );
  readonly transformLagRows = new Gauge(
    'sluice_transform_lag_rows',
    `Log rows of its sources past the live version's watermark, per transform (counted up to ${TRANSFORM_LAG_ROWS_CAP} per source).`,
  );
  readonly transformLagSeconds = new Gauge(
    'sluice_transform_lag_seconds',
    'Age of the oldest log row the live version of each transform has not processed yet (0: caught up).',
  );
  readonly lagErrors = new Counter(
    'sluice_transform_lag_errors_total',
    'Scrapes whose transform lag query failed (the lag gauges are then absent).',
  );

  private readonly all: Metric<unknown>[] = [
    this.stepDuration,
    this.stepFailures,
    this.events,
    this.transformRows,
    this.trainingEpoch,
    this.trainingLoss,
    this.modelMetric,
    this.transformLagRows,
    this.transformLagSeconds,
    this.lagErrors,
  ] as Metric<unknown>[];

  /** `pool`: where the transform lag is read when rendering (absent: no lag gauges). */
  constructor(private readonly pool?: Pool) {}

  recordStep(s: StepOutcome): void {
    this.stepDuration.observe({ step: s.step, outcome: s.outcome }, s.seconds);
    this.trainingEpoch.delete({ workflow_id: s.workflowId, step: s.step });
    this.trainingLoss.delete({ workflow_id: s.workflowId, step: s.step });
    if (s.outcome === 'failed') {
      this.stepFailures.inc({ step: s.step, code: s.code ?? 'unknown' });
      return;
    }
    const r = s.result;
    if (!isRecord(r)) return;
    if (INGEST_STEPS.has(s.step) && typeof r.source === 'string') {
      for (const [key, result] of [
        ['accepted', 'accepted'],
        ['quarantined', 'quarantined'],
        ['duplicates', 'duplicate'],
        ['conflicting', 'conflicting'],
      ] as const) {
        const n = numberAt(r, key);
        // every result is exported from the first batch on, so that rate() sees a zero first
        if (n !== undefined) this.events.inc({ source: r.source, result }, n);
      }
    }
    if (TRANSFORM_STEPS.has(s.step)) {
      const input = s.args[0];
      const transform =
        typeof r.transform === 'string'
          ? r.transform
          : isRecord(input) && typeof input.transform === 'string'
            ? input.transform
            : undefined;
      if (transform) {
        this.transformRows.inc({ transform, direction: 'read' }, numberAt(r, 'rowsRead') ?? 0);
        this.transformRows.inc({ transform, direction: 'written' }, numberAt(r, 'rowsWritten') ?? 0);
      }
    }
    if (s.step === 'evaluateModel' && isRecord(r.metrics) && typeof r.onnxSha256 === 'string') {
      const model = r.onnxSha256.slice(0, 12);
      for (const [metric, v] of Object.entries(r.metrics)) {
        if (typeof v === 'number' && Number.isFinite(v)) this.modelMetric.set({ model, metric }, v);
      }
    }
  }

  /** A heartbeat's details: training progress (`{ epoch, loss }`) becomes the training gauges. */
  recordHeartbeat(step: string, workflowId: string, details: unknown): void {
    if (!isRecord(details)) return;
    const epoch = numberAt(details, 'epoch');
    if (epoch === undefined) return;
    this.trainingEpoch.set({ workflow_id: workflowId, step }, epoch);
    const loss = numberAt(details, 'loss');
    if (loss !== undefined) this.trainingLoss.set({ workflow_id: workflowId, step }, loss);
  }

  /** The exposition, with the transform lag read now. */
  async render(): Promise<string> {
    this.transformLagRows.clear();
    this.transformLagSeconds.clear();
    let lagFailure = '';
    if (this.pool) {
      try {
        for (const l of await readTransformLag(this.pool)) {
          this.transformLagRows.set({ transform: l.transform }, l.rows);
          this.transformLagSeconds.set({ transform: l.transform }, l.seconds);
        }
      } catch (err) {
        // A slow or unreachable database must not take the other metrics down: the counter and a comment say what happened.
        this.lagErrors.inc();
        lagFailure = `# the transform lag could not be read: ${(err as Error).message.replace(/\s+/g, ' ')}\n`;
      }
    }
    return lagFailure + renderMetrics(this.all);
  }
}
