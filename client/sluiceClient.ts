import { Client, type Connection, type WorkflowHandle } from '@temporalio/client';
import { describeIssues, validateWorkflowInput } from '../contracts/workflowInputs';
import type { ValidationIssue } from '../contracts/registry';
import type { HealthCheckResult } from '../workflows';
import { loadConfig, type SluiceConfig } from './config';
import { connectTemporal } from './connection';
import { ingestEvents, ingestFile, redriveQuarantine, type IngestBatchResult, type IngestFileOptions, type IngestLocation, type IngestOptions } from './ingest';
import { registerTransform, startBackfill, type BackfillInput, type RegisterTransformInput, type RegisterTransformResult } from './transform';

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

/** A workflow input that breaks its schema in contracts/workflows, caught before anything starts. */
export class InvalidWorkflowInputError extends Error {
  constructor(readonly workflowType: string, readonly issues: ValidationIssue[]) {
    super(`Invalid input for workflow ${workflowType}: ${describeIssues(issues)}`);
    this.name = 'InvalidWorkflowInputError';
  }
}

export interface StartOptions {
  workflowId: string;
  taskQueue?: string;
  memo?: Record<string, unknown>;
}

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

  /** Checks `input` against the workflow's input contract and throws {@link InvalidWorkflowInputError} when it breaks it. */
  assertValidInput(workflowType: string, input: unknown): void {
    const r = validateWorkflowInput(workflowType, input);
    if (!r.ok) throw new InvalidWorkflowInputError(workflowType, r.issues);
  }

  /** Starts any public sluice workflow by name after checking its input contract. */
  async start(workflowType: string, input: unknown, options: StartOptions): Promise<WorkflowHandle & { firstExecutionRunId: string }> {
    this.assertValidInput(workflowType, input);
    const handle = await this.temporal.workflow.start(workflowType, {
      taskQueue: options.taskQueue ?? this.taskQueue,
      workflowId: options.workflowId,
      args: [input],
      memo: options.memo,
    });
    return handle;
  }

  /** Runs the `healthCheck` workflow and waits for its result. */
  async healthCheck(options: { workflowId?: string; gpuTaskQueue?: string } = {}): Promise<{ workflowId: string; runId: string; result: HealthCheckResult }> {
    const handle = await this.start('healthCheck', { queues: { cpu: this.taskQueue, gpu: options.gpuTaskQueue ?? this.config.taskQueues.gpu } }, {
      workflowId: options.workflowId ?? `health-${new Date().toISOString().replace(/[:.]/g, '-')}`,
    });
    const result = (await handle.result()) as HealthCheckResult;
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, result };
  }

  /** Registers a transform version (validated and planned by PostgreSQL; a version never changes). */
  async registerTransform(input: RegisterTransformInput): Promise<RegisterTransformResult> {
    return registerTransform(this, input);
  }

  /** Starts a rebuild of a transform version from a log range; query `progress`, await `result()`. */
  async backfill(input: BackfillInput, workflowId?: string): Promise<WorkflowHandle> {
    return startBackfill(this, input, workflowId);
  }

  /** Sends a small batch of events to the source's ingest workflow; answers with its counts (client/ingest.ts). */
  async ingest(source: string, events: unknown[], options: IngestOptions = {}): Promise<IngestBatchResult> {
    return ingestEvents(this, source, events, options);
  }

  /** Ingests an NDJSON, CSV or Arrow IPC file by reference (streamed with COPY, never through history). */
  async ingestFile(source: string, location: IngestLocation, options: IngestFileOptions): Promise<IngestBatchResult> {
    return ingestFile(this, source, location, options);
  }

  /** Sends the source's unresolved quarantine through the newest contract again (after a contract fix). */
  async redriveQuarantine(source: string, options: { batchId?: string } = {}): Promise<IngestBatchResult> {
    return redriveQuarantine(this, source, options);
  }

  async close(): Promise<void> {
    await this.ownConnection?.close();
  }
}
