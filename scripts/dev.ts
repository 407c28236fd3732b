/**
 * `npm run dev`: local Temporal (with the Web UI) and PostgreSQL, and both workers (sluice-cpu and
 * sluice-gpu) in one process, until Ctrl-C.
 */
import { loadConfig } from '../config';
import { createWorkerSet } from '../workers/bootstrap';
import { provisionLocalStack, withStackEndpoint } from './provision';

async function main(): Promise<void> {
  const config = loadConfig();
  const stack = await provisionLocalStack(config);
  const workerConfig = withStackEndpoint(config, stack);
  try {
    const workers = await createWorkerSet({
      config: workerConfig,
      databaseUrl: stack.postgres.url,
      queues: ['cpu', 'gpu'],
      migrate: false,
    });
    process.stdout.write(
      `sluice dev: Temporal ${stack.temporal.address}, UI ${stack.temporal.uiUrl ?? '(none)'}; workers on ${config.taskQueues.cpu} and ${config.taskQueues.gpu}. Ctrl-C to stop.\n` +
        `  export TEMPORAL_ADDRESS=${stack.temporal.address} TEMPORAL_NAMESPACE=${stack.temporal.namespace} DATABASE_URL=${stack.postgres.url}\n`,
    );
    await workers.run();
  } finally {
    await stack.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`sluice dev failed: ${err.message}\n`);
  process.exit(1);
});
