/**
 * Run events (docs/architecture.md, principle 7): every activity records a `started` row and a
 * `completed` or `failed` row in sluice.run_events, with the workflow, the attempt, counts and
 * timing. Workers wrap every activity with {@link recordRunEvents}, so steps cannot forget it.
 *
 * The `started` row of an attempt is written {@link STARTED_ROW_DELAY_MS} after it starts, or, when
 * the attempt ends sooner, in one statement with its end row (one commit instead of two for the
 * many short activities); either way it carries the attempt's start time and comes before its end
 * row. An attempt whose process dies within that time leaves no row (its retry does).
 */
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { SluiceError, toFailure } from './failures';
import type { WorkerMetrics } from './workerMetrics';

export interface RunEventInput {
  workflowId: string;
  runId: string;
  workflowType: string;
  step: string;
  attempt: number;
  status: 'started' | 'completed' | 'failed';
  counts?: Record<string, number>;
  durationMs?: number;
  error?: { type: string; message: string; internal?: string };
  details?: Record<string, unknown>;
  /** When it happened (default: when the row is written). */
  occurredAt?: Date;
}

export async function insertRunEvent(pool: Pool, e: RunEventInput): Promise<void> {
  await insertRunEvents(pool, [e]);
}

/** Inserts run events in one statement (one commit), in the order given. */
export async function insertRunEvents(pool: Pool, events: RunEventInput[]): Promise<void> {
  const rows = events.map((e) => ({
    workflowId: e.workflowId,
    runId: e.runId,
    workflowType: e.workflowType,
    step: e.step,
    attempt: e.attempt,
    status: e.status,
    counts: e.counts ?? {},
    details: e.details ?? {},
    // absent keys read as SQL NULL
    ...(e.durationMs === undefined ? {} : { durationMs: e.durationMs }),
    ...(e.error ? { error: e.error } : {}),
    ...(e.occurredAt ? { occurredAt: e.occurredAt.toISOString() } : {}),
  }));
  await pool.query(
    `INSERT INTO sluice.run_events (workflow_id, run_id, workflow_type, step, attempt, status, counts, duration_ms, error, details, occurred_at)
     SELECT e->>'workflowId', e->>'runId', e->>'workflowType', e->>'step', (e->>'attempt')::integer, e->>'status',
            e->'counts', (e->>'durationMs')::integer, e->'error', e->'details', coalesce((e->>'occurredAt')::timestamptz, now())
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n)
      ORDER BY n`,
    [JSON.stringify(rows)],
  );
}

/** How long an attempt runs before its `started` row is written on its own (see the module comment). */
export const STARTED_ROW_DELAY_MS = 50;

/** Numeric fields of an activity's result become the run event's counts. */
function countsOf(result: unknown): Record<string, number> {
  if (result === null || typeof result !== 'object') return {};
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(result as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v)) counts[k] = v;
  }
  return counts;
}

/**
 * An activity links what it produced (report URIs, digests, log ranges) by returning them under
 * `runEventDetails`. A result with `fromSeq`/`toSeq` (an ingest batch: the log range it wrote)
 * records them too, so every step that touched the log says which part.
 */
export function detailsOf(result: unknown): Record<string, unknown> | undefined {
  if (result === null || typeof result !== 'object') return undefined;
  const r = result as { runEventDetails?: unknown; fromSeq?: unknown; toSeq?: unknown };
  const range =
    (typeof r.fromSeq === 'string' || r.fromSeq === null) && (typeof r.toSeq === 'string' || r.toSeq === null)
      ? { fromSeq: r.fromSeq, toSeq: r.toSeq }
      : undefined;
  const d =
    r.runEventDetails !== null && typeof r.runEventDetails === 'object' && !Array.isArray(r.runEventDetails)
      ? (r.runEventDetails as Record<string, unknown>)
      : undefined;
  return range || d ? { ...range, ...d } : undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyActivity = (...args: any[]) => Promise<unknown>;

/**
 * Wraps each activity so that it records its start, end and failure in sluice.run_events, and,
 * given the worker's `metrics`, its duration, outcome, counts and heartbeat progress there.
 */
export function recordRunEvents<T extends Record<string, AnyActivity>>(pool: Pool, activities: T, metrics?: WorkerMetrics): T {
  const wrapped: Record<string, AnyActivity> = {};
  for (const [step, fn] of Object.entries(activities)) {
    wrapped[step] = async (...args: unknown[]) => {
      const ctx = Context.current();
      const info = ctx.info;
      const base = {
        // Standalone activities (started without a workflow) are recorded under their activity id.
        workflowId: info.workflowExecution?.workflowId ?? `activity:${info.activityId}`,
        runId: info.workflowExecution?.runId ?? '',
        workflowType: info.workflowType ?? '',
        step,
        attempt: info.attempt,
      };
      const started = Date.now();
      if (metrics) {
        // Every heartbeat of this attempt (withHeartbeat's included: it calls the context's) is seen by the metrics too.
        const send = ctx.heartbeat;
        (ctx as { heartbeat: (details?: unknown) => void }).heartbeat = (details) => {
          metrics.recordHeartbeat(step, base.workflowId, details);
          send(details);
        };
      }
      const startedRow: RunEventInput = { ...base, status: 'started', occurredAt: new Date(started) };
      let startedWrite: Promise<void> | undefined;
      const timer = setTimeout(() => {
        startedWrite = insertRunEvent(pool, startedRow);
        // awaited (and its failure reported) when the attempt ends
        startedWrite.catch(() => undefined);
      }, STARTED_ROW_DELAY_MS);
      /** The attempt's end row, after its started row or with it. */
      const recordEnd = async (end: RunEventInput): Promise<void> => {
        clearTimeout(timer);
        if (startedWrite) {
          await startedWrite;
          await insertRunEvent(pool, end);
        } else await insertRunEvents(pool, [startedRow, end]);
      };
      try {
        const result = await fn(...args);
        metrics?.recordStep({
          step,
          workflowId: base.workflowId,
          outcome: 'completed',
          seconds: (Date.now() - started) / 1000,
          args,
          result,
        });
        await recordEnd({
          ...base,
          status: 'completed',
          counts: countsOf(result),
          durationMs: Date.now() - started,
          details: detailsOf(result),
        });
        return result;
      } catch (err) {
        // Domain errors become typed failures here, the one place every activity passes through.
        const e = toFailure(err) as Error;
        metrics?.recordStep({
          step,
          workflowId: base.workflowId,
          outcome: 'failed',
          seconds: (Date.now() - started) / 1000,
          args,
          code: (e as { type?: string }).type ?? e.name,
        });
        await recordEnd({
          ...base,
          status: 'failed',
          durationMs: Date.now() - started,
          error: {
            type: (e as { type?: string }).type ?? e.name,
            message: e.message.slice(0, 4000),
            // What the failure leaves out on purpose (e.g. row values quoted by user SQL) stays in the database.
            ...(err instanceof SluiceError && err.options.internal ? { internal: err.options.internal.slice(0, 4000) } : {}),
          },
        }).catch((recordErr: Error) => {
          // The step's own error is what matters to Temporal; the lost run event is reported with it.
          e.message += ` (and its run event could not be recorded: ${recordErr.message})`;
        });
        throw e;
      }
    };
  }
  return wrapped as T;
}
