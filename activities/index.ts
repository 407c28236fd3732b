/**
 * All activities, built from their resources. The CPU worker registers {@link createCpuActivities},
 * the GPU worker {@link createGpuActivities}; both are wrapped so that every step records run events.
 */
import type { Pool } from 'pg';
import { createHealthActivities } from './health';
import { recordRunEvents } from './runEvents';

export interface ActivityDeps {
  pool: Pool;
  artifactsDir: string;
}

export function createCpuActivities(deps: ActivityDeps) {
  return recordRunEvents(deps.pool, {
    ...createHealthActivities(deps),
  });
}

export function createGpuActivities(deps: ActivityDeps) {
  const health = createHealthActivities(deps);
  return recordRunEvents(deps.pool, {
    probeRuntime: health.probeRuntime,
  });
}

export type CpuActivities = ReturnType<typeof createCpuActivities>;
export type GpuActivities = ReturnType<typeof createGpuActivities>;
export { insertRunEvent, recordRunEvents, type RunEventInput } from './runEvents';
