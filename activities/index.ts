/**
 * All activities, built from the resources a worker owns ({@link ActivityDeps}). The CPU worker
 * registers {@link createCpuActivities}, the GPU worker {@link createGpuActivities}; both are
 * wrapped so that every step records run events and maps domain errors to error codes.
 * Workflows proxy the per-domain types (`IngestActivities`, …), never all of them.
 */
import type { ActivityDeps } from './deps';
import { createDeployActivities } from './deploy';
import { createEvaluateActivities } from './evaluate';
import { createHealthActivities } from './health';
import { createIngestActivities } from './ingest';
import { createPipelineActivities } from './pipeline';
import { createInlineStepActivities } from './pipeline/inlineSteps';
import { createMonitorActivities } from './monitor';
import { createRegistryActivities } from './registry';
import { createValidateActivities } from './validate';
import { createSnapshotActivities } from './snapshot';
import { recordRunEvents } from './runEvents';
import { createTrainActivities } from './train/activities';
import { DeviceSlots } from './train/deviceSlots';
import { createTransformActivities } from './transform';
import { createWorkflowInputActivities } from './workflowInput';

// Each domain adds its factory here (one line each).
export function createCpuActivities(deps: ActivityDeps) {
  const validate = createValidateActivities(deps);
  const registry = createRegistryActivities(deps);
  const snapshot = createSnapshotActivities(deps);
  return recordRunEvents(
    deps.pool,
    {
      ...createWorkflowInputActivities(),
      ...createHealthActivities(deps),
      ...createIngestActivities(deps),
      ...createTransformActivities(deps),
      ...validate,
      // CPU fallback for training where no GPU worker runs (the workflow picks the queue).
      ...createTrainActivities(deps),
      ...createEvaluateActivities(deps),
      ...registry,
      ...snapshot,
      ...createDeployActivities(deps),
      ...createPipelineActivities(deps),
      ...createInlineStepActivities({ validate, snapshot, registry, http: deps.config.httpIngest }),
      ...createMonitorActivities(deps),
    },
    deps.metrics,
  );
}

/** `devices`: the worker's GPU slots (SLUICE_GPU_COUNT), built once per worker; each command trainer holds one while it runs. */
export function createGpuActivities(deps: ActivityDeps, options: { devices?: DeviceSlots } = {}) {
  const health = createHealthActivities(deps);
  return recordRunEvents(
    deps.pool,
    {
      probeRuntime: health.probeRuntime,
      ...createTrainActivities(deps, { devices: options.devices ?? new DeviceSlots(deps.config.gpuCount) }),
    },
    deps.metrics,
  );
}

export type CpuActivities = ReturnType<typeof createCpuActivities>;
export type GpuActivities = ReturnType<typeof createGpuActivities>;
export type HealthActivities = ReturnType<typeof createHealthActivities>;
export type IngestActivities = ReturnType<typeof createIngestActivities>;
export type { TransformActivities } from './transform';
export type { TrainActivities } from './train/activities';
export type ValidateActivities = ReturnType<typeof createValidateActivities>;
export type EvaluateActivities = ReturnType<typeof createEvaluateActivities>;
export type RegistryActivities = ReturnType<typeof createRegistryActivities>;
export type { DeployActivities, PreparedDeployment, Rescored } from './deploy';
export type SnapshotActivities = ReturnType<typeof createSnapshotActivities>;
export type { InputCheckActivities } from './workflowInput';
export type { PipelineActivities } from './pipeline';
export type { InlineStepActivities } from './pipeline/inlineSteps';
export type { MonitorActivities } from './monitor';
export type { ActivityDeps, ActivityLogger } from './deps';
export { stderrLogger } from './deps';
export { DeviceSlots, type DeviceSlot } from './train/deviceSlots';
export { insertRunEvent, recordRunEvents, type RunEventInput } from './runEvents';
export { readTransformLag, TRANSFORM_LAG_ROWS_CAP, WorkerMetrics, type TransformLag } from './workerMetrics';
export { Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, renderMetrics } from './prometheus';
export { createLogLine, stderrLog, type LogFormat, type LogLine } from './log';
export type { ChunkPlan, ChunkRunResult, RunChunkResult } from './transform';
