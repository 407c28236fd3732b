/**
 * `registerTransform`: registers a transform version through Temporal, so that every service
 * (any SDK, the CLI) registers the same way and the registration is visible in the UI.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { InputCheckActivities, TransformActivities } from '../activities';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { RegisterTransformInput, RegisterTransformResult } from '../api/workflows/registerTransform';
import { ACTIVITY_OPTIONS } from './activityOptions';

export type { RegisterTransformInput, RegisterTransformResult };

/**
 * Validates and registers one transform version (activities/transform/registry.ts): stored, its
 * table created, the first version made live, all or nothing. Idempotent for identical SQL.
 * Errors: SLUICE_INVALID_INPUT, SLUICE_INVALID_TRANSFORM, SLUICE_TRANSFORM_VERSION_CONFLICT.
 */
export async function registerTransform(input: RegisterTransformInput): Promise<RegisterTransformResult> {
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('registerTransform', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.name },
    { key: SluiceStep, value: 'registerTransform' },
    { key: SluiceDataset, value: `${input.name}__v${input.version}` },
  ]);
  const result = await proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.register).registerTransformVersion(input);
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return result;
}
