import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { HealthActivities, InputCheckActivities } from '../activities';
import { DEFAULT_TASK_QUEUES } from '../api/queues';
import { SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { HealthCheckInput, HealthCheckResult } from '../api/workflows/healthCheck';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { sluiceStatusPatched, withSluiceStatus } from './status';

export type { HealthCheckInput, HealthCheckResult };

/**
 * Proves the installation end to end: a workflow on the CPU queue reads the database and probes
 * ONNX Runtime on both the CPU and the GPU queue. Read-only; safe to run any time.
 */
export async function healthCheck(input: HealthCheckInput = {}): Promise<HealthCheckResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => checkHealth(input));
}

async function checkHealth(input: HealthCheckInput): Promise<HealthCheckResult> {
  const queues = { ...DEFAULT_TASK_QUEUES, ...input.queues };
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('healthCheck', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: 'health' },
    { key: SluiceStep, value: 'healthCheck' },
    { key: SluiceStatus, value: 'running' },
  ]);
  const cpu = proxyActivities<HealthActivities>({ ...ACTIVITY_OPTIONS.probe, taskQueue: input.queues?.cpu ?? workflowInfo().taskQueue });
  const gpu = proxyActivities<HealthActivities>({ ...ACTIVITY_OPTIONS.probe, taskQueue: queues.gpu });
  const [database, cpuRuntime, gpuRuntime] = await Promise.all([cpu.describeDatabase(), cpu.probeRuntime(), gpu.probeRuntime()]);
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  // What the probes record in their run events stays there.
  const { runEventDetails: _cpuDetails, ...cpuHealth } = cpuRuntime;
  const { runEventDetails: _gpuDetails, ...gpuHealth } = gpuRuntime;
  return { database, cpu: cpuHealth, gpu: gpuHealth };
}
