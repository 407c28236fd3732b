/**
 * Shared worker bootstrap: one Temporal connection (plain, mTLS or API key), one PostgreSQL pool,
 * a worker per task queue, graceful shutdown on SIGINT/SIGTERM.
 *
 * Shutdown: the SDK's Runtime catches the signal, workers stop polling, running activities get
 * `shutdownGraceSeconds` to finish; after that they are cancelled (a heartbeating activity sees the
 * cancellation and cleans up), and Temporal retries them elsewhere.
 */
import * as fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createCpuActivities, createGpuActivities, DeviceSlots, stderrLog, WorkerMetrics, type ActivityDeps } from '../activities';
import { LocalArtifactStore } from '../activities/artifacts';
import { ContractRegistry } from '../contracts/registry';
import { redactUrl, type QueueKind, type SluiceConfig } from '../config';
import { connectWithBackoff } from '../config/retry';
import { temporalConnectOptions } from '../config/temporal';
import { createPool, waitForPostgres } from '../db/pool';
import { migrate } from '../db/migrate';
import { resolveDatabaseAccess } from '../db/roles';
import { startMetricsServer, type MetricsServer } from './metricsServer';

export type Logger = (message: string) => void;

export interface WorkerSetOptions {
  config: SluiceConfig;
  /** Temporal address (defaults to config, then localhost:7233 like the Temporal SDKs). */
  address?: string;
  databaseUrl: string;
  queues: QueueKind[];
  /** Prebuilt workflow bundle (tests build it once); default: bundle workflows/ at start. */
  workflowBundlePath?: string;
  /** Override task queue names (tests isolate themselves with unique queues). */
  taskQueues?: { cpu: string; gpu: string };
  log?: Logger;
  /** Apply pending migrations before polling (default true). */
  migrate?: boolean;
  /** Give up connecting after this long (default 5 minutes: a worker may start before its server). */
  connectTimeoutMs?: number;
  /**
   * The Temporal runtime's Prometheus URL, appended to the worker's /metrics (workers/main.ts
   * installs the runtime with it; in-process tests have none).
   */
  runtimeMetricsUrl?: string;
  /**
   * Stop on SIGINT / SIGTERM (default true). False when the caller orders the stop of several parts
   * and calls {@link WorkerSet.shutdown} itself (`npm start`).
   */
  stopOnSignals?: boolean;
}

export interface WorkerSet {
  workers: Worker[];
  connection: NativeConnection;
  pool: Pool;
  /** GET /metrics of this worker set (SLUICE_METRICS_PORT); undefined when disabled. */
  metricsUrl: string | undefined;
  /** Runs until shutdown (a signal or {@link WorkerSet.shutdown}), then closes connections. */
  run(): Promise<void>;
  shutdown(): void;
}

function workflowSource(opts: WorkerSetOptions): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  const bundle = opts.workflowBundlePath ?? process.env.SLUICE_WORKFLOW_BUNDLE;
  if (bundle && fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('../workflows') };
}

/** Connects, migrates and creates the workers for `queues`; call `run()` to start polling. */
export async function createWorkerSet(opts: WorkerSetOptions): Promise<WorkerSet> {
  const cfg = opts.config;
  const logFormat = cfg.logFormat ?? 'json';
  const log = opts.log ?? ((m: string) => stderrLog(logFormat, 'INFO', m));
  const address = opts.address ?? cfg.temporal.address ?? 'localhost:7233';
  const connectOpts = temporalConnectOptions(cfg.temporal, address);
  const retry = (what: string) => ({
    timeoutMs: opts.connectTimeoutMs ?? 5 * 60_000,
    onRetry: (attempt: number, delayMs: number, err: Error) =>
      log(`waiting for ${what} (attempt ${attempt}, next in ${delayMs} ms): ${err.message.split('\n')[0]}`),
  });
  await waitForPostgres(opts.databaseUrl, retry(`PostgreSQL at ${redactUrl(opts.databaseUrl)} (DATABASE_URL)`));
  // A superuser DATABASE_URL creates the roles and is not used again; the worker connects as sluice_worker.
  const access =
    (opts.migrate ?? true)
      ? await resolveDatabaseAccess(opts.databaseUrl, {
          passwordsFile: cfg.rolePasswordsFile,
          passwords: cfg.rolePasswords,
          ownerUrl: cfg.databaseOwnerUrl,
        })
      : { workerUrl: opts.databaseUrl, ownerUrl: undefined };
  if ('adminUrl' in access && access.adminUrl) {
    log(
      'DATABASE_URL is a superuser: used only to create the roles sluice_owner, sluice_worker and sluice_transform; connecting as sluice_worker',
    );
  }
  if (opts.migrate ?? true) {
    if (access.ownerUrl) {
      const ownerPool = createPool(access.ownerUrl, { max: 1, applicationName: 'sluice-migrate' });
      try {
        const result = await migrate(ownerPool, { log });
        if (result.applied.length === 0) log(`database schema up to date (${result.alreadyApplied} migrations)`);
      } finally {
        await ownerPool.end();
      }
    } else {
      log('not migrating: DATABASE_URL is not a superuser and SLUICE_DATABASE_OWNER_URL is not set');
    }
  }
  const pool = createPool(access.workerUrl, {
    max: Math.max(4, cfg.cpuActivityConcurrency),
    applicationName: `sluice-worker-${opts.queues.join('+')}`,
  });
  // Whatever was opened is closed again when a later step fails.
  const opened: { close(): Promise<void> }[] = [{ close: () => pool.end() }];
  const closeOpened = async (): Promise<void> => {
    for (const o of opened.reverse()) await o.close().catch(() => undefined);
  };
  let connection: NativeConnection;
  let clientConnection: Connection;
  try {
    connection = await connectWithBackoff(
      { service: 'Temporal', address, variable: 'TEMPORAL_ADDRESS' },
      () => NativeConnection.connect(connectOpts),
      retry(`Temporal at ${address} (TEMPORAL_ADDRESS)`),
    );
    opened.push(connection);
    clientConnection = await Connection.connect({ ...connectOpts, connectTimeout: 10_000 });
    opened.push(clientConnection);
  } catch (err) {
    await closeOpened();
    throw err;
  }
  // port 0 (given in a config object, as tests do; SLUICE_METRICS_PORT=0 disables): a free port.
  const metrics = cfg.metrics.port === undefined ? undefined : new WorkerMetrics(pool);
  let metricsServer: MetricsServer | undefined;
  if (metrics && cfg.metrics.port !== undefined) {
    try {
      metricsServer = await startMetricsServer({
        metrics,
        host: cfg.metrics.host,
        port: cfg.metrics.port,
        runtimeMetricsUrl: opts.runtimeMetricsUrl,
      });
    } catch (err) {
      await closeOpened();
      throw err;
    }
    opened.push(metricsServer);
    log(`metrics on ${metricsServer.url}${opts.runtimeMetricsUrl ? ` (with the Temporal runtime's from ${opts.runtimeMetricsUrl})` : ''}`);
  }
  const queues = opts.taskQueues ?? cfg.taskQueues;
  const temporal = new Client({ connection: clientConnection, namespace: cfg.temporal.namespace });
  // Built once per worker process and shared by every activity (docs/architecture.md, layers).
  const deps: ActivityDeps = {
    pool,
    artifacts: new LocalArtifactStore(cfg.artifactsDir),
    contracts: ContractRegistry.fromDirectory(),
    temporal,
    config: { ...cfg, taskQueues: queues },
    log: (message, fields) => stderrLog(logFormat, 'INFO', message, fields),
    now: () => new Date(),
    metrics,
  };
  const common = {
    connection,
    namespace: cfg.temporal.namespace,
    shutdownGraceTime: `${cfg.shutdownGraceSeconds}s`,
    // Heartbeat details are where a retried activity resumes (a training checkpoint, a file's last
    // committed chunk): send them at least every 5 s, not the SDK's up to 60 s.
    maxHeartbeatThrottleInterval: '5 seconds',
  } as const;
  const workers: Worker[] = [];
  try {
    for (const kind of opts.queues) {
      if (kind === 'cpu') {
        workers.push(
          await Worker.create({
            ...common,
            ...workflowSource(opts),
            taskQueue: queues.cpu,
            activities: createCpuActivities(deps),
            maxConcurrentActivityTaskExecutions: cfg.cpuActivityConcurrency,
          }),
        );
      } else {
        // One activity per GPU at a time: training jobs must not share a device. Each command
        // trainer holds one of the device indexes 0..gpuCount-1 (its CUDA_VISIBLE_DEVICES).
        workers.push(
          await Worker.create({
            ...common,
            taskQueue: queues.gpu,
            // Training names its latest checkpoint in its heartbeats: send them every second, so that a
            // retry after a crash starts from the newest one and the server's heartbeat timeout (as short
            // as 2 s) is not eaten by the throttle. At most SLUICE_GPU_COUNT activities run here.
            maxHeartbeatThrottleInterval: '1 second',
            activities: createGpuActivities(deps, { devices: new DeviceSlots(cfg.gpuCount) }),
            maxConcurrentActivityTaskExecutions: cfg.gpuCount,
          }),
        );
      }
      log(
        `${kind} worker ready on task queue ${kind === 'cpu' ? queues.cpu : queues.gpu} (namespace ${cfg.temporal.namespace}, ${address})`,
      );
    }
  } catch (err) {
    await closeOpened();
    throw err;
  }

  const shutdown = (): void => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    workers,
    connection,
    pool,
    metricsUrl: metricsServer?.url,
    shutdown,
    async run() {
      const onSignal = (signal: NodeJS.Signals): void => {
        log(`${signal} received: finishing running activities (up to ${cfg.shutdownGraceSeconds}s), then exiting`);
        shutdown();
      };
      const signals = opts.stopOnSignals ?? true;
      if (signals) {
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      }
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await connection.close();
        await clientConnection.close();
        await metricsServer?.close();
        await pool.end();
        log('workers stopped');
      }
    },
  };
}
