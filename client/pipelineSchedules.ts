/**
 * A pipeline spec's `schedules` as Temporal Schedules (client/schedules.ts applies them
 * idempotently): one schedule per entry, id `pipeline-<name>-<schedule>`, each tick a `pipeline`
 * run of the spec version that was applied, trigger key `schedule-<schedule>` (the server suffixes
 * each tick's workflow id with its time, so ticks never collide). A schedule that an earlier version
 * of the spec declared and the applied one does not is deleted.
 */
import type { Client, ScheduleDescription } from '@temporalio/client';
import { intervalSeconds } from '../activities/pipeline/triggers';
import type { PipelineInput, PipelineSpec } from '../api/workflows/pipeline';
import { applySchedules, type ApplySchedulesResult, type ScheduleDeclaration } from './schedules';

/** The Temporal Schedule id of a pipeline's schedule entry. */
export function pipelineScheduleId(pipeline: string, schedule: string): string {
  return `pipeline-${pipeline}-${schedule}`;
}

/** Whether a described schedule starts runs of this pipeline (ids alone are ambiguous: `a` + `b-x`, `a-b` + `x`). */
function startsRunsOf(pipeline: string, d: ScheduleDescription): boolean {
  const input = (d.action as { args?: unknown[] }).args?.[0] as Partial<PipelineInput> | undefined;
  return d.action.workflowType === 'pipeline' && input?.pipeline === pipeline;
}

export function pipelineScheduleDeclarations(spec: PipelineSpec, version: number, taskQueue: string): ScheduleDeclaration[] {
  return (spec.schedules ?? []).map((s) => {
    const input: PipelineInput = {
      pipeline: spec.name,
      specVersion: version,
      triggerKey: `schedule-${s.name}`,
      reason: s.reason ?? `schedule ${s.name} of pipeline ${spec.name} v${version}`,
    };
    return {
      id: pipelineScheduleId(spec.name, s.name),
      ...('cron' in s ? { cron: s.cron } : { interval: intervalSeconds(s.every) * 1000 }),
      workflowType: 'pipeline',
      args: [input],
      taskQueue,
      workflowId: `pipeline-${spec.name}-schedule-${s.name}`,
    };
  });
}

/** Every schedule id the pipeline's spec versions declared (what an apply may have to delete). */
export function declaredScheduleIds(versions: readonly PipelineSpec[]): string[] {
  return [...new Set(versions.flatMap((v) => (v.schedules ?? []).map((s) => pipelineScheduleId(v.name, s.name))))];
}

/**
 * Creates or updates the schedules of an applied spec version, and deletes those of `earlier`
 * versions (every version applied so far) that it no longer declares; a second apply of the same
 * version changes nothing.
 */
export async function applyPipelineSchedules(
  client: Client,
  spec: PipelineSpec,
  version: number,
  taskQueue: string,
  earlier: readonly PipelineSpec[] = [],
): Promise<ApplySchedulesResult> {
  return applySchedules(client, pipelineScheduleDeclarations(spec, version, taskQueue), {
    previousIds: declaredScheduleIds(earlier.filter((v) => v.name === spec.name)),
    owns: (d) => startsRunsOf(spec.name, d),
  });
}
