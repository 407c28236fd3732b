/**
 * Signal, query and update definitions: the names other services use to talk to running
 * workflows (any Temporal SDK, the Temporal CLI). Plain definition objects, built here without the
 * workflow runtime so that activities and clients can import them; `setHandler` accepts them as
 * they are. Wire names never change (recorded histories and other services use them).
 */
import type { QueryDefinition, SignalDefinition, UpdateDefinition } from '@temporalio/common';
import type { DataLanded, IngestBatchRequest, IngestBatchResult, IngestStatus } from './workflows/ingest';
import type { BackfillProgress } from './workflows/backfill';
import type { TransformStatus } from './workflows/transform';
import type { ApprovalDecision, ApprovalRequest, DeploymentState, RollbackRequest, RollbackResult } from './workflows/deploy';
import type { PipelineStatus, RerunAnswer, RerunRequest } from './workflows/pipeline';
import type { PipelineDataLanded, PipelineTriggerState } from './workflows/pipelineTrigger';

function signal<Args extends unknown[]>(name: string): SignalDefinition<Args> {
  return { type: 'signal', name } as SignalDefinition<Args>;
}
function query<Ret, Args extends unknown[] = []>(name: string): QueryDefinition<Ret, Args> {
  return { type: 'query', name } as QueryDefinition<Ret, Args>;
}
function update<Ret, Args extends unknown[]>(name: string): UpdateDefinition<Ret, Args> {
  return { type: 'update', name } as UpdateDefinition<Ret, Args>;
}

/** Sent to each `transform` workflow that reads `source` (signal-with-start) when a batch lands. */
export const dataLandedSignal = signal<[DataLanded]>('dataLanded');

/** Sends one batch to a source's `ingest` workflow and answers with its counts (update-with-start). */
export const ingestBatchUpdate = update<IngestBatchResult, [IngestBatchRequest]>('ingestBatch');
/** Fire-and-forget form of {@link ingestBatchUpdate}, for signal-with-start from any SDK. */
export const ingestBatchSignal = signal<[IngestBatchRequest]>('ingestBatchAsync');
/** Counts and queue of a source's `ingest` workflow. */
export const ingestStatusQuery = query<IngestStatus>('ingestStatus');

/** State of a `transform` workflow: version, watermark, chunks, rows. */
export const transformStatusQuery = query<TransformStatus>('status');

/** Phase and counts of a `backfill` workflow. */
export const backfillProgressQuery = query<BackfillProgress>('progress');

/** Approves a deployment awaiting approval; answers with the decision. Refused when `who` or `reason` is empty, or nothing is pending. */
export const approveUpdate = update<ApprovalDecision, [ApprovalRequest]>('approve');
/** Rejects a deployment awaiting approval; answers with the decision. Same refusals as {@link approveUpdate}. */
export const rejectUpdate = update<ApprovalDecision, [ApprovalRequest]>('reject');
/** Rolls a promoted deployment back (during its watch period) and answers with what it did. */
export const rollbackUpdate = update<RollbackResult, [RollbackRequest]>('rollback');
/** Fire-and-forget form of {@link rollbackUpdate}. */
export const rollbackSignal = signal<[RollbackRequest]>('rollbackAsync');
/** Step, status, gate numbers, decision and shadow comparison of a `deploy` workflow. */
export const deploymentStatusQuery = query<DeploymentState>('deploymentStatus');
/**
 * Reruns a pipeline run from a step (`{ fromStep, reason }`), reusing the recorded outputs of the
 * steps before it. Fire-and-forget: a refused request is recorded in the run's memo, nobody is told.
 */
export const rerunSignal = signal<[RerunRequest]>('rerun');
/** {@link rerunSignal} with an answer: accepted, or refused with why (unknown step, a run in progress, step not reached). */
export const rerunUpdate = update<RerunAnswer, [RerunRequest]>('rerun');
/** Each step of a pipeline run: state, attempt, counts, durations, links and references. */
export const pipelineStatusQuery = query<PipelineStatus>('status');

/** Rows landed on a source a pipeline subscribes to (sent by ingestion to `pipeline-trigger-<name>`). */
export const pipelineDataLandedSignal = signal<[PipelineDataLanded]>('pipelineDataLanded');
/** Pending rows and the runs a pipeline's trigger has started. */
export const pipelineTriggerQuery = query<PipelineTriggerState>('triggerState');
