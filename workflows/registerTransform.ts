/**
 * `registerTransform`: registers a transform version through Temporal, so that every service
 * (any SDK, the CLI) registers the same way and the registration is visible in the UI.
 */
import { patched, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { InputCheckActivities, TransformActivities } from '../activities';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { RegisterTransformInput, RegisterTransformResult } from '../api/workflows/registerTransform';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { sluiceStatusPatched, withSluiceStatus } from './status';

export type { RegisterTransformInput, RegisterTransformResult };

/** Patch id of registration that also starts the incremental workflow (docs/architecture.md, determinism 1). */
export const REGISTER_STARTS_TRANSFORM_PATCH = 'register-starts-transform';

/**
 * Validates and registers one transform version (activities/transform/registry.ts): stored, its
 * table created, the first version made live, all or nothing; then starts (or wakes) the
 * transform's incremental workflow, which catches up on the log already there. Idempotent for identical SQL.
 * Errors: SLUICE_INVALID_INPUT, SLUICE_INVALID_TRANSFORM, SLUICE_TRANSFORM_VERSION_CONFLICT.
 */
export async function registerTransform(input: RegisterTransformInput): Promise<RegisterTransformResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => register(input, statusPatched));
}

async function register(input: RegisterTransformInput, statusPatched: boolean): Promise<RegisterTransformResult> {
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('registerTransform', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.name },
    { key: SluiceStep, value: 'registerTransform' },
    { key: SluiceDataset, value: `${input.name}__v${input.version}` },
    ...(statusPatched ? [{ key: SluiceStatus, value: 'running' }] : []),
  ]);
  const result = await proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.register).registerTransformVersion(input);
  // Without this, a transform registered on a source whose data had already landed stayed empty
  // until the next batch arrived. Runs recorded before the patch did not start it.
  if (patched(REGISTER_STARTS_TRANSFORM_PATCH)) {
    await proxyActivities<TransformActivities>(ACTIVITY_OPTIONS.signalDownstream).startIncrementalTransform({
      transform: input.name,
      version: input.version,
      options: input.incremental,
    });
  }
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return result;
}
