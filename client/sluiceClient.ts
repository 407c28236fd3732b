import { Client, type Connection } from '@temporalio/client';
import type { HealthCheckResult } from '../workflows';
import { loadConfig, type SluiceConfig } from './config';
import { connectTemporal } from './connection';

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

  /** Runs the `healthCheck` workflow and waits for its result. */
  async healthCheck(options: { workflowId?: string; gpuTaskQueue?: string } = {}): Promise<{ workflowId: string; runId: string; result: HealthCheckResult }> {
    const handle = await this.temporal.workflow.start('healthCheck', {
      taskQueue: this.taskQueue,
      workflowId: options.workflowId ?? `health-${new Date().toISOString().replace(/[:.]/g, '-')}`,
      args: [{ queues: { cpu: this.taskQueue, gpu: options.gpuTaskQueue ?? this.config.taskQueues.gpu } }],
    });
    const result = (await handle.result()) as HealthCheckResult;
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, result };
  }

  async close(): Promise<void> {
    await this.ownConnection?.close();
  }
}
