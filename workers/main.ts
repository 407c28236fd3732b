/** Entry point shared by workers/cpu.ts and workers/gpu.ts: configuration, then run until a signal. */
import { Runtime } from '@temporalio/worker';
import { createLogLine } from '../activities';
import { loadConfig, type QueueKind } from '../config';
import { createWorkerSet } from './bootstrap';
import { createRuntimeLogger } from './logging';
import { freeLoopbackPort } from './metricsServer';

export async function runWorkerProcess(queues: QueueKind[]): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) {
    throw new Error(
      'DATABASE_URL is not set. Workers need the PostgreSQL that holds the sluice log (for a local setup, run `npm run dev`).',
    );
  }
  // Once per process and before any connection: the runtime's logger, and (with SLUICE_METRICS_PORT)
  // its Prometheus exporter on a loopback port that the worker's /metrics reads at each scrape.
  const runtimeMetricsAddress = config.metrics.port === undefined ? undefined : `127.0.0.1:${await freeLoopbackPort()}`;
  Runtime.install({
    logger: createRuntimeLogger(config.logFormat ?? 'json', config.logLevel ?? 'INFO'),
    ...(runtimeMetricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: runtimeMetricsAddress } } } } : {}),
  });
  const set = await createWorkerSet({
    config,
    databaseUrl: config.databaseUrl,
    queues,
    runtimeMetricsUrl: runtimeMetricsAddress ? `http://${runtimeMetricsAddress}/metrics` : undefined,
  });
  await set.run();
}

export function main(queues: QueueKind[]): void {
  runWorkerProcess(queues).then(
    () => process.exit(0),
    (err: Error) => {
      const format = process.env.SLUICE_LOG_FORMAT === 'text' ? 'text' : 'json';
      process.stderr.write(`${createLogLine(format, 'ERROR', err.message)}\n`);
      process.exit(1);
    },
  );
}
