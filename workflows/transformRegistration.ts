/**
 * `registerTransform`: registers a transform version through Temporal, so that every service
 * (any SDK, the CLI) registers the same way and the registration is visible in the UI.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { CpuActivities } from '../activities';
import type { RegisterTransformInput, RegisterTransformResult } from '../activities/transform';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from './searchAttributes';

const INPUT_CHECK = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } } as const;
const REGISTER = { startToCloseTimeout: '2 minutes', retry: { maximumAttempts: 5 } } as const;

export type { RegisterTransformInput, RegisterTransformResult };

/**
 * Validates and registers one transform version (activities/transform/registry.ts): stored, its
 * table created, the first version made live, all or nothing. Idempotent for identical SQL.
 * Errors: SLUICE_INVALID_INPUT, SLUICE_INVALID_TRANSFORM, SLUICE_TRANSFORM_VERSION_CONFLICT.
 */
export async function registerTransform(input: RegisterTransformInput): Promise<RegisterTransformResult> {
  await proxyActivities<CpuActivities>(INPUT_CHECK).checkWorkflowInput('registerTransform', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.name },
    { key: SluiceStep, value: 'registerTransform' },
    { key: SluiceDataset, value: `${input.name}__v${input.version}` },
  ]);
  const result = await proxyActivities<CpuActivities>(REGISTER).registerTransformVersion(input);
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return result;
}
