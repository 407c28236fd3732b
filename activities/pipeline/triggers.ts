/**
 * The `dataLanded` trigger of pipelines: ingestion calls {@link signalPipelineTriggers} after a
 * batch lands, and every pipeline whose latest applied spec lists the source and asks for
 * `triggers.dataLanded` gets a signal (signal-with-start) on its trigger workflow, which debounces
 * and starts the runs (workflows/pipelineTrigger.ts).
 */
import { pipelineDataLandedSignal } from '../../api/messages';
import type { DataLanded } from '../../api/workflows/ingest';
import { INTERVAL_PATTERN, type PipelineSpec } from '../../api/workflows/pipeline';
import { pipelineTriggerWorkflowId, type PipelineTriggerInput } from '../../api/workflows/pipelineTrigger';
import { inGroups, SIGNALS_AT_ONCE } from '../concurrency';
import type { ActivityDeps } from '../deps';

const INTERVAL_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** `30s`, `15m`, `6h`, `1d` in seconds (the spec's Interval pattern). */
export function intervalSeconds(interval: string): number {
  const m = new RegExp(INTERVAL_PATTERN).exec(interval);
  if (!m) throw new Error(`not an interval: ${JSON.stringify(interval)} (e.g. 30s, 15m, 6h, 1d)`);
  return Number(m[1]) * INTERVAL_SECONDS[m[2] as keyof typeof INTERVAL_SECONDS];
}

/** The trigger input a spec asks for, or undefined when it does not subscribe to landed data. */
export function triggerInputOf(spec: PipelineSpec): PipelineTriggerInput | undefined {
  const t = spec.triggers?.dataLanded;
  if (!t) return undefined;
  return {
    pipeline: spec.name,
    ...(t.minRows !== undefined ? { minRows: t.minRows } : {}),
    ...(t.maxWait !== undefined ? { maxWaitSeconds: intervalSeconds(t.maxWait) } : {}),
  };
}

/** Signals the trigger of every subscribed pipeline; answers how many. Safe to repeat (runs are keyed by log offset). */
export async function signalPipelineTriggers(
  deps: Pick<ActivityDeps, 'pool' | 'temporal' | 'config'>,
  landed: DataLanded,
): Promise<number> {
  const { rows: specs } = await deps.pool.query<{ spec: PipelineSpec }>(
    `SELECT DISTINCT ON (name) spec FROM sluice.pipeline_specs
      WHERE spec->'triggers' ? 'dataLanded'
      ORDER BY name, version DESC`,
  );
  const subscribed = specs.filter((r) => r.spec.triggers?.dataLanded && r.spec.sources.some((s) => s.source === landed.source));
  if (subscribed.length === 0) return 0;
  const { rows } = await deps.pool.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM sluice.raw_events WHERE source = $1 AND seq >= $2 AND seq <= $3',
    [landed.source, landed.fromSeq, landed.toSeq],
  );
  const count = Number(rows[0]?.n ?? 0);
  await inGroups(subscribed, SIGNALS_AT_ONCE, async ({ spec }) => {
    const input = triggerInputOf(spec) as PipelineTriggerInput;
    await deps.temporal.workflow.signalWithStart('pipelineTrigger', {
      workflowId: pipelineTriggerWorkflowId(spec.name),
      taskQueue: deps.config.taskQueues.cpu,
      args: [input],
      signal: pipelineDataLandedSignal,
      signalArgs: [{ ...landed, rows: count }],
    });
  });
  return subscribed.length;
}
