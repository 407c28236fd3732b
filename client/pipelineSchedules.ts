/**
 * A pipeline spec's `schedules` as Temporal Schedules (client/schedules.ts applies them
 * idempotently): one schedule per entry, id `pipeline-<name>-<schedule>`, each tick a `pipeline`
 * run of the spec version that was applied, trigger key `schedule-<schedule>` (the server suffixes
 * each tick's workflow id with its time, so ticks never collide).
 */
import type { Client } from '@temporalio/client';
import { intervalSeconds } from '../activities/pipeline/triggers';
import type { PipelineInput, PipelineSpec } from '../api/workflows/pipeline';
import { applySchedules, type ApplySchedulesResult, type ScheduleDeclaration } from './schedules';

export function pipelineScheduleDeclarations(spec: PipelineSpec, version: number, taskQueue: string): ScheduleDeclaration[] {
  return (spec.schedules ?? []).map((s) => {
    const input: PipelineInput = {
      pipeline: spec.name,
      specVersion: version,
      triggerKey: `schedule-${s.name}`,
      reason: s.reason ?? `schedule ${s.name} of pipeline ${spec.name} v${version}`,
    };
    return {
      id: `pipeline-${spec.name}-${s.name}`,
      ...('cron' in s ? { cron: s.cron } : { interval: intervalSeconds(s.every) * 1000 }),
      workflowType: 'pipeline',
      args: [input],
      taskQueue,
      workflowId: `pipeline-${spec.name}-schedule-${s.name}`,
    };
  });
}

/** Creates or updates the schedules of an applied spec version; a second apply of the same version changes nothing. */
export async function applyPipelineSchedules(
  client: Client,
  spec: PipelineSpec,
  version: number,
  taskQueue: string,
): Promise<ApplySchedulesResult> {
  return applySchedules(client, pipelineScheduleDeclarations(spec, version, taskQueue));
}
