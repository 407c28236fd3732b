// healthCheck with one planted change (the GPU probe is skipped): replaying a real history
// against it must fail with a DeterminismViolationError.
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { CpuActivities } from '../../../activities';
import { SluicePipeline, SluiceStatus, SluiceStep } from '../../../api/searchAttributes';

const QUICK = { startToCloseTimeout: '30 seconds' } as const;

export async function healthCheck(input: { queues?: { cpu?: string } } = {}): Promise<unknown> {
  upsertSearchAttributes([
    { key: SluicePipeline, value: 'health' },
    { key: SluiceStep, value: 'healthCheck' },
    { key: SluiceStatus, value: 'running' },
  ]);
  const cpu = proxyActivities<CpuActivities>({ ...QUICK, taskQueue: input.queues?.cpu });
  await cpu.checkWorkflowInput('healthCheck', input);
  const [database, runtime] = await Promise.all([cpu.describeDatabase(), cpu.probeRuntime()]);
  return { database, runtime };
}
