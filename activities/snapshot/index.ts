/** The snapshot step's activity: a derived table version as a dataset (Arrow IPC file + .npy matrices) in the artifact store. */
import { Context } from '@temporalio/activity';
import type { SnapshotInput, SnapshotResult } from '../../api/workflows/snapshot';
import type { ActivityDeps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { buildDatasetSnapshot } from './build';

export type SnapshotDatasetInput = SnapshotInput;

export interface SnapshotDatasetResult extends SnapshotResult {
  runEventDetails: Record<string, unknown>;
}

export type SnapshotDeps = Pick<ActivityDeps, 'pool' | 'artifacts'>;

export function createSnapshotActivities(deps: SnapshotDeps) {
  return {
    /**
     * Streams `sluice_derived.<transform>__v<N>` (rows with seq in [fromSeq, toSeq], ordered by
     * seq) into an Arrow IPC file with a `__split` column, writes float32 .npy matrices per split
     * next to it, and registers the dataset in sluice.datasets (id = sha256 of the Arrow bytes).
     * Read-only on the data, in one REPEATABLE READ snapshot. Idempotent: the same rows and spec
     * give the same bytes, so a retry or a second snapshot stores nothing new and returns the
     * existing row (`created: false`). Throws SLUICE_DATASET_INVALID (the spec does not fit the
     * data), SLUICE_DATASET_NOT_FOUND (no such table or version), SLUICE_INVALID_INPUT.
     */
    async snapshotDataset(input: SnapshotDatasetInput): Promise<SnapshotDatasetResult> {
      const info = Context.current().info;
      const workflowId = info.workflowExecution?.workflowId ?? `activity:${info.activityId}`;
      const runId = info.workflowExecution?.runId ?? '';
      const r = await withHeartbeat(
        (hb) =>
          buildDatasetSnapshot(deps.pool, deps.artifacts, input, {
            workflowId,
            runId,
            onProgress: (rows) => hb.progress({ rows }),
            signal: hb.signal,
          }),
        { everyMs: 5_000 },
      );
      return {
        datasetId: r.datasetId,
        transform: r.transform,
        version: r.version,
        rowCount: r.rowCount,
        uri: r.arrow.uri,
        size: r.arrow.size,
        splitCounts: r.splitCounts,
        npy: r.npy,
        coveredFromSeq: r.covered.fromSeq,
        coveredToSeq: r.covered.toSeq,
        created: r.created,
        workflowId: r.workflowId,
        runId: r.runId,
        runEventDetails: {
          datasetId: r.datasetId,
          uri: r.arrow.uri,
          transform: r.transform,
          version: r.version,
          fromSeq: r.covered.fromSeq,
          toSeq: r.covered.toSeq,
          created: r.created,
        },
      };
    },
  };
}

export { buildDatasetSnapshot, BATCH_ROWS, type SnapshotOutcome } from './build';
export { DatasetInvalidError, type DatasetIssue } from './errors';
export { murmur3, splitRule, type SplitRule } from './split';
