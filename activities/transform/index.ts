/**
 * Transform activities: registration, incremental chunks, backfill chunks, hash and switch.
 * Every chunk runs in one transaction (idempotent under retries); see chunks.ts.
 */
import { Context } from '@temporalio/activity';
import type { TransformInput } from '../../api/workflows/transform';
import type { ActivityDeps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { wakeTransform } from './wake';
import {
  discardBuild,
  finishBackfill,
  prepareBackfill,
  type FinishBackfillInput,
  type FinishBackfillResult,
  type PrepareBackfillInput,
  type PreparedBackfill,
} from './backfill';
import {
  planIncrementalChunks,
  processBuildChunk,
  processIncrementalChunk,
  runPlannedChunk,
  type BuildChunkInput,
  type BuildChunkResult,
  type ChunkPlan,
  type PlanChunksInput,
  type PlannedChunk,
  type RunChunkInput,
  type RunChunkResult,
  type TransformChunkResult,
} from './chunks';
import { runIncrementalChunks, type ChunkRunInput, type ChunkRunProgress, type ChunkRunResult } from './chunkRun';
import { registerTransformVersion, type RegisterTransformInput, type RegisterTransformResult } from './registry';

export function createTransformActivities(deps: Pick<ActivityDeps, 'pool' | 'temporal' | 'config'>) {
  return {
    /**
     * Starts (or wakes) the incremental `transform` workflow of a registered transform, which then
     * catches up on the log that is already there. Idempotent (signal-with-start on the transform's
     * workflow id).
     */
    async startIncrementalTransform(input: {
      transform: string;
      version: number;
      options?: Omit<TransformInput, 'transform'>;
    }): Promise<void> {
      await wakeTransform(
        deps.temporal,
        deps.config.taskQueues.cpu,
        { ...input.options, transform: input.transform },
        {
          source: '',
          fromSeq: '0',
          toSeq: '0',
          batchId: `registered-v${input.version}`,
        },
      );
    },

    /**
     * Registers a transform version (validated, planned read-only, stored, table created, first
     * version made live) in one transaction. Idempotent for identical SQL. Throws
     * SLUICE_INVALID_TRANSFORM, SLUICE_TRANSFORM_VERSION_CONFLICT.
     */
    async registerTransformVersion(input: RegisterTransformInput): Promise<RegisterTransformResult> {
      return registerTransformVersion(deps.pool, input);
    },

    /**
     * Runs incremental chunks of the live version back to back from its watermark, up to
     * `parallelism` side by side, committed in log order, for about `runSeconds` or until caught
     * up; returns the totals (see chunkRun.ts). Heartbeats its totals; a retry resumes them and
     * goes on from the watermark (every chunk is idempotent). Cancellation cancels the running
     * statements. Throws SLUICE_UNKNOWN_TRANSFORM; SLUICE_INVALID_TRANSFORM when the SQL fails on data.
     */
    async runTransformChunks(input: Omit<ChunkRunInput, 'workflowId'>): Promise<ChunkRunResult> {
      const workflowId = Context.current().info.workflowExecution?.workflowId;
      return withHeartbeat((hb) =>
        runIncrementalChunks(
          deps.pool,
          { ...input, workflowId },
          { signal: hb.signal, progress: hb.progress, resume: hb.previous as ChunkRunProgress | undefined },
        ),
      );
    },

    /**
     * Plans the next chunks of the live version after its watermark (or after the chunks in
     * flight): consecutive ranges of at most `maxRows` rows per source, up to the commit horizon.
     * Reads only. Local activity. Throws SLUICE_UNKNOWN_TRANSFORM.
     */
    async planTransformChunks(input: PlanChunksInput): Promise<ChunkPlan> {
      return planIncrementalChunks(deps.pool, input);
    },

    /**
     * Runs one planned chunk: its rows and the watermark in one transaction, committed in log
     * order (chunks run side by side, each commits when the watermark stands right before it).
     * Idempotent: a range already under the watermark is `replayed`; a chunk whose turn does not
     * come is rolled back as `deferred`. Local activity. Throws SLUICE_INVALID_TRANSFORM when the SQL fails on data.
     */
    async runTransformChunk(input: RunChunkInput): Promise<RunChunkResult> {
      const ctx = Context.current();
      return runPlannedChunk(
        deps.pool,
        { ...input, workflowId: input.workflowId ?? ctx.info.workflowExecution?.workflowId },
        ctx.cancellationSignal,
      );
    },

    /**
     * One-at-a-time incremental chunk, for `transform` histories recorded before planned chunks
     * (workflows/transform.ts keeps them replaying): the next chunk after the watermark (at most
     * `maxRows` rows per source), rows and watermark in one transaction. Idempotent. Local activity.
     * Throws SLUICE_UNKNOWN_TRANSFORM; SLUICE_INVALID_TRANSFORM when the SQL fails on data.
     */
    async processTransformChunk(input: { transform: string; maxRows: number }): Promise<TransformChunkResult> {
      return processIncrementalChunk(deps.pool, input.transform, input.maxRows);
    },

    /**
     * Resolves a backfill's version and range and creates its build table. Idempotent.
     * Throws SLUICE_UNKNOWN_TRANSFORM, SLUICE_INVALID_RANGE.
     */
    async prepareBackfill(input: PrepareBackfillInput): Promise<PreparedBackfill> {
      return prepareBackfill(deps.pool, input);
    },

    /** Writes one chunk of a backfill range into the build table, with its marker. Idempotent. */
    async buildTransformChunk(input: BuildChunkInput): Promise<BuildChunkResult> {
      return withHeartbeat(() => processBuildChunk(deps.pool, input));
    },

    /**
     * Hashes the build, checks it against earlier builds of the same range, switches the view
     * atomically. Idempotent. Throws SLUICE_NOT_DETERMINISTIC.
     */
    async finishBackfill(input: FinishBackfillInput): Promise<FinishBackfillResult> {
      return withHeartbeat((hb) => finishBackfill(deps.pool, input, (rows) => hb.progress({ rowsHashed: rows })));
    },

    /** Drops the build table of a backfill that failed. Idempotent. */
    async discardBuild(input: { buildId: string }): Promise<void> {
      await discardBuild(deps.pool, input.buildId);
    },
  };
}

export type TransformActivities = ReturnType<typeof createTransformActivities>;
export type {
  ChunkRunResult,
  TransformChunkResult,
  ChunkPlan,
  PlannedChunk,
  RunChunkResult,
  BuildChunkResult,
  PreparedBackfill,
  FinishBackfillResult,
  RegisterTransformInput,
  RegisterTransformResult,
};
export { contentHash, type ContentHash } from './contentHash';
