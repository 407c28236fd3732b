import { patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { InputCheckActivities, SnapshotActivities } from '../activities';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { SnapshotInput, SnapshotResult } from '../api/workflows/snapshot';
import { ACTIVITY_OPTIONS, LOCAL_ACTIVITY_OPTIONS, LOCAL_QUICK_CALLS_PATCH } from './activityOptions';
import { pipelineOf, sluiceStatusPatched, withSluiceStatus } from './status';

export type { SnapshotInput, SnapshotResult };

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const checkLocal = proxyLocalActivities<InputCheckActivities>(LOCAL_ACTIVITY_OPTIONS.inputCheck);
const datasets = proxyActivities<SnapshotActivities>(ACTIVITY_OPTIONS.snapshot);

/**
 * Snapshots a derived table version (or a log range of it) as a dataset: an Arrow IPC file with
 * a hash-based train/validation/test split and float32 .npy matrices in the artifact store, and a
 * row in sluice.datasets (id = sha256 of the Arrow bytes, with schema, column statistics, contract
 * versions, spec and producing run). The history carries the dataset id and URIs, never rows.
 * Idempotent: the same rows and spec give the same id, and the existing row. Search attributes:
 * SluicePipeline = transform, SluiceDataset = the id's first 12 hex digits. Throws
 * SLUICE_INVALID_INPUT, SLUICE_DATASET_INVALID, SLUICE_DATASET_NOT_FOUND.
 */
export async function snapshot(input: SnapshotInput): Promise<SnapshotResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => snapshotBody(input, statusPatched));
}

async function snapshotBody(input: SnapshotInput, statusPatched: boolean): Promise<SnapshotResult> {
  await (patched(LOCAL_QUICK_CALLS_PATCH) ? checkLocal : check).checkWorkflowInput('snapshot', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: statusPatched ? pipelineOf(input.transform) : input.transform },
    { key: SluiceStep, value: 'snapshot' },
    { key: SluiceStatus, value: 'running' },
  ]);
  let result: SnapshotResult;
  try {
    const { runEventDetails: _details, ...r } = await datasets.snapshotDataset(input);
    result = r;
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    throw err;
  }
  upsertSearchAttributes([
    { key: SluiceDataset, value: result.datasetId.slice(0, 12) },
    { key: SluiceStatus, value: 'completed' },
  ]);
  return result;
}
