import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CpuActivities, GpuActivities } from '../activities';
import type { DatabaseHealth, RuntimeHealth } from '../activities/health';
import { DEFAULT_TASK_QUEUES, type TaskQueues } from './queues';
import { SluicePipeline, SluiceStatus, SluiceStep } from './searchAttributes';

const QUICK = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } } as const;

export interface HealthCheckInput {
  queues?: Partial<TaskQueues>;
}

export interface HealthCheckResult {
  database: DatabaseHealth;
  cpu: RuntimeHealth;
  gpu: RuntimeHealth;
}

/**
 * Proves the installation end to end: a workflow on the CPU queue reads the database and probes
 * ONNX Runtime on both the CPU and the GPU queue. Read-only; safe to run any time.
 */
export async function healthCheck(input: HealthCheckInput = {}): Promise<HealthCheckResult> {
  const queues = { ...DEFAULT_TASK_QUEUES, ...input.queues };
  await proxyActivities<CpuActivities>({ ...QUICK, retry: { maximumAttempts: 1 } }).checkWorkflowInput('healthCheck', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: 'health' },
    { key: SluiceStep, value: 'healthCheck' },
    { key: SluiceStatus, value: 'running' },
  ]);
  const cpu = proxyActivities<CpuActivities>({ ...QUICK, taskQueue: input.queues?.cpu ?? workflowInfo().taskQueue });
  const gpu = proxyActivities<GpuActivities>({ ...QUICK, taskQueue: queues.gpu });
  const [database, cpuRuntime, gpuRuntime] = await Promise.all([cpu.describeDatabase(), cpu.probeRuntime(), gpu.probeRuntime()]);
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return { database, cpu: cpuRuntime, gpu: gpuRuntime };
}
