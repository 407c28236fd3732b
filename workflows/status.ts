/**
 * SluiceStatus on every workflow: `running` once it starts, `completed` when it returns, and
 * `failed` (or `cancelled`) upserted BEFORE the failure leaves the workflow, so that a UI filter
 * `SluiceStatus="failed"` finds every failed run and none that failed still says `running`.
 *
 * Upserting search attributes adds commands, so runs recorded before this change replay without
 * it: {@link sluiceStatusPatched} is the `sluice-status` patch, called once at the start of each
 * workflow (before its first command), and the helpers below do nothing in runs without it.
 */
import { ContinueAsNew, isCancellation, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { SLUICE_STATUS, SluicePipeline, SluiceStatus } from '../api/searchAttributes';

/** Patch id of SluiceStatus set by every workflow (docs/architecture.md, determinism 1). */
export const SLUICE_STATUS_PATCH = 'sluice-status';

/** Whether this run sets SluiceStatus throughout (new runs: yes; runs recorded before the patch: no). Call before the first command. */
export function sluiceStatusPatched(): boolean {
  return patched(SLUICE_STATUS_PATCH);
}

/**
 * The SluicePipeline a run files itself under: the one its parent gave it at start (a child of a
 * `pipeline` run), or else its own default (a transform's name, a model's name).
 */
export function pipelineOf(fallback: string): string {
  return workflowInfo().typedSearchAttributes.get(SluicePipeline) ?? fallback;
}

/**
 * Runs a workflow body and, in patched runs, says `failed` (or `cancelled`) in SluiceStatus before
 * its failure propagates; `onFailure` updates the workflow's own status first (a query must not
 * still answer `processing`). Continue-as-new passes through untouched.
 */
export async function withSluiceStatus<T>(enabled: boolean, body: () => Promise<T>, onFailure?: () => void): Promise<T> {
  if (!enabled) return body();
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) {
      onFailure?.();
      const value = isCancellation(err) ? SLUICE_STATUS.cancelled : SLUICE_STATUS.failed;
      if (workflowInfo().typedSearchAttributes.get(SluiceStatus) !== value) upsertSearchAttributes([{ key: SluiceStatus, value }]);
    }
    throw err;
  }
}
