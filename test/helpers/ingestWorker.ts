/**
 * A CPU worker in its own process, for the ingest fault test (test/integration/ingestCrash.test.ts):
 * it is killed with SIGKILL in the middle of a COPY and a fresh one takes over.
 * Env: INGEST_TEST_DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SLUICE_TASK_QUEUE_CPU/GPU,
 * SLUICE_WORKFLOW_BUNDLE. Prints "ready" when it polls.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig } from '../../client/config';
import { createWorkerSet } from '../../workers/bootstrap';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const databaseUrl = process.env.INGEST_TEST_DATABASE_URL;
  if (!databaseUrl) throw new Error('INGEST_TEST_DATABASE_URL is not set');
  const config = loadConfig();
  const workers = await createWorkerSet({ config, databaseUrl, queues: ['cpu'], migrate: false, log: () => undefined, connectTimeoutMs: 15_000 });
  const running = workers.run();
  process.stdout.write('ready\n');
  await running;
}

main().catch((err: Error) => {
  process.stderr.write(`ingest test worker failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
