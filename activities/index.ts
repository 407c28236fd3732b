/**
 * All activities, built from their resources. The CPU worker registers {@link createCpuActivities},
 * the GPU worker {@link createGpuActivities}; both are wrapped so that every step records run events.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { SluiceConfig } from '../client/config';
import { createHealthActivities } from './health';
import { createIngestActivities } from './ingest';
import { createQualityActivities } from './quality';
import { recordRunEvents } from './runEvents';
import { createTransformActivities } from './transform';
import { createWorkflowInputActivities } from './workflowInput';

export interface ActivityDeps {
  pool: Pool;
  artifactsDir: string;
  /** Client for activities that start or signal other workflows (dataLanded events). */
  temporal: Client;
  config: SluiceConfig;
}

// Each domain adds its factory here (one line each).
export function createCpuActivities(deps: ActivityDeps) {
  return recordRunEvents(deps.pool, {
    ...createWorkflowInputActivities(),
    ...createHealthActivities(deps),
    ...createIngestActivities(deps),
    ...createTransformActivities(deps),
    ...createQualityActivities(deps),
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
export type { ChunkPlan, ChunkRunResult, RunChunkResult } from './transform';
