/**
 * Waking a transform's incremental workflow: signal-with-start, so a transform whose workflow is
 * not running (just registered, terminated, or never started) starts and catches up on the log
 * from its watermark. Safe to repeat: the workflow reads from the watermark, not from the signal.
 */
import type { Client } from '@temporalio/client';
import { transformWorkflowId } from '../../api/ids';
import { dataLandedSignal } from '../../api/messages';
import type { DataLanded } from '../../api/workflows/ingest';
import type { TransformInput } from '../../api/workflows/transform';

/** `input` is used only when the workflow is not running yet (a running one keeps its own). */
export async function wakeTransform(temporal: Client, taskQueue: string, input: TransformInput, landed: DataLanded): Promise<void> {
  await temporal.workflow.signalWithStart('transform', {
    workflowId: transformWorkflowId(input.transform),
    taskQueue,
    args: [input],
    signal: dataLandedSignal,
    signalArgs: [landed],
  });
}
