/**
 * Transforms from a client: register a version, keep the incremental workflow running, rebuild
 * (backfill) a version and follow its progress. Everything goes through Temporal workflows whose
 * inputs are checked against contracts/workflows before they start.
 */
import { WorkflowIdReusePolicy, type WorkflowHandle } from '@temporalio/client';
import { dataLandedSignal, transformWorkflowId, type DataLanded } from '../workflows/events';
import type { BackfillInput, BackfillProgress, BackfillResult } from '../workflows/backfill';
import type { RegisterTransformInput, RegisterTransformResult } from '../workflows/transformRegistration';
import type { TransformInput, TransformStatus } from '../workflows/transform';
import type { SluiceClient } from './sluiceClient';

export type { BackfillInput, BackfillProgress, BackfillResult, RegisterTransformInput, RegisterTransformResult, TransformInput, TransformStatus };

/** Registers a transform version and waits for the result (idempotent: same workflow id per version). */
export async function registerTransform(client: SluiceClient, input: RegisterTransformInput): Promise<RegisterTransformResult> {
  client.assertValidInput('registerTransform', input);
  return client.temporal.workflow.execute('registerTransform', {
    taskQueue: client.taskQueue,
    workflowId: `register-transform-${input.name}-v${input.version}`,
    args: [input],
    // A failed registration (bad SQL) may be retried with the same name and version once fixed.
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  }) as Promise<RegisterTransformResult>;
}

/**
 * Wakes the incremental `transform` workflow of a transform, starting it if it is not running
 * (signal-with-start, the same call ingestion makes when data lands).
 */
export async function notifyTransform(
  client: SluiceClient,
  input: TransformInput,
  landed: DataLanded = { source: '', fromSeq: '0', toSeq: '0', batchId: 'manual' },
): Promise<WorkflowHandle> {
  client.assertValidInput('transform', input);
  return client.temporal.workflow.signalWithStart('transform', {
    taskQueue: client.taskQueue,
    workflowId: transformWorkflowId(input.transform),
    args: [input],
    signal: dataLandedSignal,
    signalArgs: [landed],
  });
}

/** Status of the incremental workflow (`statusQuery`). */
export async function transformStatus(client: SluiceClient, transform: string): Promise<TransformStatus> {
  return client.temporal.workflow.getHandle(transformWorkflowId(transform)).query<TransformStatus>('status');
}

/** Starts a backfill; follow it with {@link backfillProgress}, wait with `handle.result()`. */
export async function startBackfill(client: SluiceClient, input: BackfillInput, workflowId?: string): Promise<WorkflowHandle> {
  return client.start('backfill', input, { workflowId: workflowId ?? `backfill-${input.transform}-${Date.now().toString(36)}` });
}

export async function backfillProgress(client: SluiceClient, workflowId: string): Promise<BackfillProgress> {
  return client.temporal.workflow.getHandle(workflowId).query<BackfillProgress>('progress');
}
