/**
 * The typed sluice client: every call goes through Temporal workflows whose inputs are checked
 * against their declarations (api/workflows) before anything starts. `start(workflows.backfill,
 * input)` infers the input and the result type from the declaration.
 */
import { InvalidWorkflowInputError } from './inputErrors';
import { applyPipelineSchedules } from './pipelineSchedules';
import type { ApplySchedulesResult } from './schedules';
import { randomUUID } from 'node:crypto';
import {
  Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  WorkflowIdReusePolicy,
  type Connection,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Pool } from 'pg';
import { checkValue, checkWorkflowInput } from '../api/check';
import { ingestWorkflowId, pipelineWorkflowId, registerTransformWorkflowId, transformWorkflowId } from '../api/ids';
import {
  backfillProgressQuery,
  dataLandedSignal,
  ingestBatchUpdate,
  pipelineStatusQuery,
  rerunUpdate,
  transformStatusQuery,
} from '../api/messages';
import { SluicePipeline } from '../api/searchAttributes';
import { workflows } from '../api/workflows';
import type { BackfillInput, BackfillProgress } from '../api/workflows/backfill';
import type { InputOf, ResultOf, WorkflowDef, WorkflowFn } from '../api/workflows/define';
import type { HealthCheckResult } from '../api/workflows/healthCheck';
import {
  IngestBatchRequestSchema,
  type DataLanded,
  type IngestBatchRequest,
  type IngestBatchResult,
  type IngestLocation,
} from '../api/workflows/ingest';
import type { RegisterTransformInput, RegisterTransformResult } from '../api/workflows/registerTransform';
import type { PipelineInput, PipelineSpec, PipelineStatus, RerunAnswer, RerunRequest } from '../api/workflows/pipeline';
import type { TransformInput, TransformStatus } from '../api/workflows/transform';
import { applyPipelineSpec, getPipelineSpec, listPipelineSpecs, type AppliedPipelineSpec } from '../activities/pipeline';
import {
  listDatasets,
  listModels,
  modelLineage,
  modelsUsing,
  type DatasetListEntry,
  type ModelListEntry,
} from '../activities/registry/queries';
import type { ModelLineage, ModelVersionRef, ModelsUsingQuery } from '../api/models';
import { checkPipelineSpec, formatSpecIssues, type SpecIssue } from '../contracts/pipelineSpec';
import { createPool } from '../db/pool';
import { loadConfig, type SluiceConfig } from '../config';
import { connectTemporal } from './connection';
import { fileBatch, inlineBatch, type IngestFileOptions, type IngestOptions } from './ingest';
import {
  approveDeployment,
  deploymentStatus,
  rejectDeployment,
  rollbackDeployment,
  startDeploy,
  type DeployHandle,
  type DeploymentStatus,
} from './deploy';
import type {
  ApprovalDecision,
  ApprovalRequest,
  DeployInput,
  DeployResult,
  RollbackRequest,
  RollbackResult,
} from '../api/workflows/deploy';

export interface SluiceClientOptions {
  config?: SluiceConfig;
  /** Overrides TEMPORAL_ADDRESS. */
  address?: string;
  namespace?: string;
  taskQueue?: string;
  /** An existing connection to reuse (not closed by {@link SluiceClient.close}). */
  connection?: Connection;
}

/** Deep link to a workflow run in the Temporal Web UI. */
export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}

/** A pipeline spec that breaks its schema or its references; each issue names the file, line and field. */
export class InvalidPipelineSpecError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(`Invalid pipeline spec:\n${formatSpecIssues(issues)}`);
    this.name = 'InvalidPipelineSpecError';
  }
}

export interface StartPipelineOptions {
  /** What started it (an event id, a schedule tick, a request id): one run per pipeline and key. */
  triggerKey: string;
  reason: string;
  /** Spec version (default: the newest applied). */
  version?: number;
  rerunWindowAfterFailureSeconds?: number;
  rerunWindowAfterSuccessSeconds?: number;
}

export interface StartedPipeline {
  workflowId: string;
  runId: string;
  specVersion: number;
  /** false when a run with this trigger key exists already: that run is the answer, none is started. */
  started: boolean;
}

export interface StartOptions {
  workflowId: string;
  taskQueue?: string;
  memo?: Record<string, unknown>;
  workflowIdReusePolicy?: WorkflowIdReusePolicy;
}

/** A handle whose `result()` and `query` are typed by the workflow's declaration. */
export type SluiceWorkflowHandle<D extends WorkflowDef> = WorkflowHandleWithFirstExecutionRunId<WorkflowFn<D>>;

export class SluiceClient {
  private constructor(
    readonly temporal: Client,
    readonly config: SluiceConfig,
    readonly taskQueue: string,
    private readonly ownConnection: Connection | undefined,
  ) {}

  static async connect(options: SluiceClientOptions = {}): Promise<SluiceClient> {
    const config = options.config ?? loadConfig();
    const namespace = options.namespace ?? config.temporal.namespace;
    const address = options.address ?? config.temporal.address ?? 'localhost:7233';
    const connection = options.connection ?? (await connectTemporal(config.temporal, address, { timeoutMs: 30_000 }));
    const client = new Client({ connection, namespace });
    return new SluiceClient(client, config, options.taskQueue ?? config.taskQueues.cpu, options.connection ? undefined : connection);
  }

  /** Checks `input` against the workflow's declaration; throws {@link InvalidWorkflowInputError} naming each bad field. */
  assertValidInput<D extends WorkflowDef>(def: D, input: unknown): asserts input is InputOf<D> {
    const r = checkWorkflowInput(def, input);
    if (!r.ok) throw new InvalidWorkflowInputError(def.name, r.issues);
  }

  /** Starts any public sluice workflow after checking its input; the handle is typed by the declaration. */
  async start<D extends WorkflowDef>(def: D, input: InputOf<D>, options: StartOptions): Promise<SluiceWorkflowHandle<D>> {
    this.assertValidInput(def, input);
    return this.temporal.workflow.start<WorkflowFn<D>>(def.name, {
      taskQueue: options.taskQueue ?? this.taskQueue,
      workflowId: options.workflowId,
      args: [input] as Parameters<WorkflowFn<D>>,
      memo: options.memo,
      workflowIdReusePolicy: options.workflowIdReusePolicy,
    });
  }

  /** Starts a workflow and waits for its result. */
  async execute<D extends WorkflowDef>(def: D, input: InputOf<D>, options: StartOptions): Promise<ResultOf<D>> {
    const handle = await this.start(def, input, options);
    return handle.result();
  }

  /** A handle on a running or finished workflow, typed by its declaration. */
  handle<D extends WorkflowDef>(_def: D, workflowId: string, runId?: string): WorkflowHandle<WorkflowFn<D>> {
    return this.temporal.workflow.getHandle<WorkflowFn<D>>(workflowId, runId);
  }

  /**
   * What the workflow's running activity last reported in its heartbeat (a training's epoch and
   * checkpoint, a file batch's chunk), decoded; undefined before it has reported anything. The
   * server holds what the worker last flushed (workers flush at least every 5 s).
   */
  async activityProgress<T>(workflowId: string): Promise<T | undefined> {
    const description = await this.temporal.workflow.getHandle(workflowId).describe();
    const payload = description.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
    // A heartbeat without details is an empty (null) payload.
    if (!payload?.data?.length) return undefined;
    return defaultPayloadConverter.fromPayload<T>(payload);
  }

  /** Runs the `healthCheck` workflow and waits for its result. */
  async healthCheck(
    options: { workflowId?: string; gpuTaskQueue?: string } = {},
  ): Promise<{ workflowId: string; runId: string; result: HealthCheckResult }> {
    const handle = await this.start(
      workflows.healthCheck,
      { queues: { cpu: this.taskQueue, gpu: options.gpuTaskQueue ?? this.config.taskQueues.gpu } },
      { workflowId: options.workflowId ?? `health-${new Date().toISOString().replace(/[:.]/g, '-')}` },
    );
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, result: await handle.result() };
  }

  /**
   * Registers a transform version and waits for the result (workflow id per name and version;
   * a failed registration, e.g. bad SQL, may be retried under the same id once fixed). The
   * registration also starts the transform's incremental workflow, which catches up on the log.
   */
  async registerTransform(input: RegisterTransformInput): Promise<RegisterTransformResult> {
    return this.execute(workflows.registerTransform, input, {
      workflowId: registerTransformWorkflowId(input.name, input.version),
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
  }

  /**
   * Wakes the incremental `transform` workflow of a transform, starting it if it is not running
   * (signal-with-start, the same call ingestion makes when data lands).
   */
  async notifyTransform(
    input: TransformInput,
    landed: DataLanded = { source: '', fromSeq: '0', toSeq: '0', batchId: 'manual' },
  ): Promise<WorkflowHandle> {
    this.assertValidInput(workflows.transform, input);
    return this.temporal.workflow.signalWithStart(workflows.transform.name, {
      taskQueue: this.taskQueue,
      workflowId: transformWorkflowId(input.transform),
      args: [input],
      signal: dataLandedSignal,
      signalArgs: [landed],
    });
  }

  /** State of a transform's incremental workflow. */
  async transformStatus(transform: string): Promise<TransformStatus> {
    return this.temporal.workflow.getHandle(transformWorkflowId(transform)).query(transformStatusQuery);
  }

  /** Starts a rebuild of a transform version from a log range; follow it with {@link backfillProgress}, await `result()`. */
  async backfill(input: BackfillInput, workflowId?: string): Promise<SluiceWorkflowHandle<typeof workflows.backfill>> {
    return this.start(workflows.backfill, input, { workflowId: workflowId ?? `backfill-${input.transform}-${Date.now().toString(36)}` });
  }

  async backfillProgress(workflowId: string): Promise<BackfillProgress> {
    return this.temporal.workflow.getHandle(workflowId).query(backfillProgressQuery);
  }

  /** Sends a small batch of events to the source's ingest workflow; answers with its counts. */
  async ingest(source: string, events: unknown[], options: IngestOptions = {}): Promise<IngestBatchResult> {
    return this.sendBatch(source, inlineBatch(events, options), options.taskQueue);
  }

  /** Ingests an NDJSON, CSV or Arrow IPC file by reference (streamed with COPY, never through history). */
  async ingestFile(source: string, location: IngestLocation, options: IngestFileOptions): Promise<IngestBatchResult> {
    return this.sendBatch(source, fileBatch(location, options), options.taskQueue);
  }

  /** Sends the source's unresolved quarantine through the newest contract again (after a contract fix). */
  async redriveQuarantine(source: string, options: { batchId?: string; taskQueue?: string } = {}): Promise<IngestBatchResult> {
    return this.sendBatch(source, { kind: 'redrive', batchId: options.batchId ?? `redrive-${randomUUID()}` }, options.taskQueue);
  }

  /**
   * Sends one batch to the source's long-lived `ingest` workflow by update-with-start (starting it
   * when needed) and waits for its counts. The batch id is the update id: a re-sent batch is answered once.
   */
  async sendBatch(source: string, req: IngestBatchRequest, taskQueue?: string): Promise<IngestBatchResult> {
    const input = { source };
    this.assertValidInput(workflows.ingest, input);
    // The same check as the workflow's update validator.
    const batch = checkValue(IngestBatchRequestSchema, req);
    if (!batch.ok) throw new InvalidWorkflowInputError(ingestBatchUpdate.name, batch.issues);
    const startWorkflowOperation = new WithStartWorkflowOperation(workflows.ingest.name, {
      workflowId: ingestWorkflowId(source),
      taskQueue: taskQueue ?? this.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return this.temporal.workflow.executeUpdateWithStart(ingestBatchUpdate, { args: [req], updateId: req.batchId, startWorkflowOperation });
  }

  /**
   * Starts a `deploy` of `model@version` to its endpoint under the workflow id `deploy-<endpoint>`.
   * Another change of the endpoint running: policy onConflict 'refuse' throws DeployRefusedError
   * (SLUICE_DEPLOY_CONFLICT) at once, 'wait' waits for it to end (up to `waitTimeoutMs`) and starts then.
   */
  async deploy(input: DeployInput, options: { taskQueue?: string; waitTimeoutMs?: number } = {}): Promise<DeployHandle> {
    this.assertValidInput(workflows.deploy, input);
    return startDeploy(this.temporal, input, { taskQueue: options.taskQueue ?? this.taskQueue, waitTimeoutMs: options.waitTimeoutMs });
  }

  /**
   * Promotes `model@version` on its endpoint through the gated path and waits for the outcome: a
   * {@link deploy} (gate, then approval and shadow period when the policy asks for them, then the
   * atomic alias switch), resolved with its result (`status` promoted, rejected or expired; a failed
   * deployment throws). There is no way around the gate.
   */
  async promote(input: DeployInput, options: { taskQueue?: string; waitTimeoutMs?: number } = {}): Promise<DeployResult> {
    return (await this.deploy(input, options)).result();
  }

  /** Approves the endpoint's deployment awaiting approval; answers with the decision (DeployRefusedError when nothing is pending). */
  async approve(endpoint: string, req: ApprovalRequest): Promise<ApprovalDecision> {
    return approveDeployment(this.temporal, endpoint, req);
  }

  /** Rejects the endpoint's deployment awaiting approval; answers with the recorded decision. */
  async reject(endpoint: string, req: ApprovalRequest): Promise<ApprovalDecision> {
    return rejectDeployment(this.temporal, endpoint, req);
  }

  /** Restores the endpoint's previous champion (see client/deploy.ts rollbackDeployment) and says what it did. */
  async rollback(endpoint: string, req: RollbackRequest, options: { taskQueue?: string } = {}): Promise<RollbackResult> {
    return rollbackDeployment(this.temporal, endpoint, req, { taskQueue: options.taskQueue ?? this.taskQueue });
  }

  /** The endpoint's latest deploy or rollback: live state while it runs, its result once ended. */
  async deploymentStatus(endpoint: string): Promise<DeploymentStatus> {
    return deploymentStatus(this.temporal, endpoint);
  }

  /** A short-lived pool on the sluice database (DATABASE_URL): pipeline specs and the registry live beside the log. */
  private async withDatabase<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
    const url = this.config.databaseUrl;
    if (!url)
      throw new Error(
        'DATABASE_URL is not set: pipeline specs and the model registry are stored in the PostgreSQL that holds the sluice log',
      );
    const pool = createPool(url, { max: 1, applicationName: 'sluice-client' });
    try {
      return await fn(pool);
    } finally {
      await pool.end();
    }
  }

  /**
   * Registers a pipeline spec version (append-only): checked against contracts/pipelines/pipeline.schema.json
   * and its own references first ({@link InvalidPipelineSpecError}); the same spec applied again
   * returns its existing version (`created: false`). The spec's `schedules` become Temporal Schedules
   * of that version (client/pipelineSchedules.ts; created, updated or unchanged), and a schedule an
   * earlier version declared that this one does not is deleted. Files:
   * `loadPipelineSpecFile` (contracts/pipelineSpec.ts).
   */
  async applyPipeline(
    spec: PipelineSpec,
    options: { appliedBy?: string } = {},
  ): Promise<AppliedPipelineSpec & { schedules: ApplySchedulesResult }> {
    const checked = checkPipelineSpec(spec);
    if (!checked.ok) throw new InvalidPipelineSpecError(checked.issues);
    const appliedBy = options.appliedBy ?? process.env.USER ?? 'sluice-client';
    const { applied, versions } = await this.withDatabase(async (pool) => {
      const applied = await applyPipelineSpec(pool, checked.spec, appliedBy);
      return { applied, versions: (await listPipelineSpecs(pool, checked.spec.name)).map((v) => v.spec) };
    });
    const schedules = await applyPipelineSchedules(this.temporal, checked.spec, applied.version, this.taskQueue, versions);
    return { ...applied, schedules };
  }

  /**
   * Starts a run of an applied pipeline under workflow id `pipeline-<name>-<trigger key>`. The same
   * key never starts a second run, not even after the first has closed: the existing run is returned
   * with `started: false`.
   */
  async startPipeline(name: string, options: StartPipelineOptions): Promise<StartedPipeline> {
    const specVersion = options.version ?? (await this.withDatabase((pool) => getPipelineSpec(pool, name))).version;
    const input: PipelineInput = {
      pipeline: name,
      specVersion,
      triggerKey: options.triggerKey,
      reason: options.reason,
      queues: { cpu: this.taskQueue, gpu: this.config.taskQueues.gpu },
      ...(options.rerunWindowAfterFailureSeconds === undefined
        ? {}
        : { rerunWindowAfterFailureSeconds: options.rerunWindowAfterFailureSeconds }),
      ...(options.rerunWindowAfterSuccessSeconds === undefined
        ? {}
        : { rerunWindowAfterSuccessSeconds: options.rerunWindowAfterSuccessSeconds }),
    };
    this.assertValidInput(workflows.pipeline, input);
    const workflowId = pipelineWorkflowId(name, options.triggerKey);
    try {
      const handle = await this.temporal.workflow.start(workflows.pipeline.name, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [{ key: SluicePipeline, value: name }],
      });
      return { workflowId, runId: handle.firstExecutionRunId, specVersion, started: true };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const d = await this.temporal.workflow.getHandle(workflowId).describe();
      const existing = (d.memo?.specVersion as number | undefined) ?? specVersion;
      return { workflowId, runId: d.runId, specVersion: existing, started: false };
    }
  }

  /**
   * Asks a pipeline run to run again from a step (the `rerun` update): answers accepted, or
   * refused with why (unknown step, a run in progress, step not reached).
   */
  async rerun(workflowId: string, request: RerunRequest): Promise<RerunAnswer> {
    try {
      return await this.temporal.workflow.getHandle(workflowId).executeUpdate(rerunUpdate, { args: [request] });
    } catch (err) {
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      return { accepted: false, reason: err.cause?.message ?? err.message };
    }
  }

  /** Each step of a pipeline run: state, attempt, counts, durations, links and references. */
  async pipelineStatus(workflowId: string): Promise<PipelineStatus> {
    return this.temporal.workflow.getHandle(workflowId).query(pipelineStatusQuery);
  }

  /**
   * Lineage of a registered model, `<name>@<version>` or `<name>@<alias>`: its dataset (id,
   * sha256, transform and build, log range, contracts), code version, trainer, parameters, seed and
   * producing run; what `sluice lineage` prints. Read from the registry in PostgreSQL (DATABASE_URL).
   */
  async lineage(ref: string): Promise<ModelLineage> {
    return this.withDatabase((pool) => modelLineage(pool, ref));
  }

  /** The reverse of {@link lineage}: the models trained on a dataset, a log range, or a contract version. */
  async modelsUsing(query: ModelsUsingQuery): Promise<ModelVersionRef[]> {
    return this.withDatabase((pool) => modelsUsing(pool, query));
  }

  /** Registered model versions (of one name, when given), newest first, with their aliases and headline metric. */
  async listModels(name?: string): Promise<ModelListEntry[]> {
    return this.withDatabase((pool) => listModels(pool, name));
  }

  /** Dataset snapshots with their transform, row count and how many models used each. */
  async listDatasets(): Promise<DatasetListEntry[]> {
    return this.withDatabase((pool) => listDatasets(pool));
  }

  async close(): Promise<void> {
    await this.ownConnection?.close();
  }
}

export { InvalidWorkflowInputError };
