/**
 * A CPU worker in its own process, for fault tests that SIGKILL it: the test database and task
 * queue come from the environment (SLUICE_FAULT_DATABASE_URL, SLUICE_FAULT_TASK_QUEUE).
 * Prints "ready" on stdout once it polls.
 */
import { loadConfig } from '../../client/config';
import { createWorkerSet } from '../../workers/bootstrap';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  const base = loadConfig({ ...process.env, TEMPORAL_ADDRESS: env('SLUICE_TEST_TEMPORAL_ADDRESS'), TEMPORAL_NAMESPACE: env('SLUICE_TEST_NAMESPACE') });
  const queue = env('SLUICE_FAULT_TASK_QUEUE');
  const set = await createWorkerSet({
    config: { ...base, taskQueues: { cpu: queue, gpu: `${queue}-gpu` }, shutdownGraceSeconds: 1 },
    databaseUrl: env('SLUICE_FAULT_DATABASE_URL'),
    queues: ['cpu'],
    migrate: false,
    log: () => undefined,
  });
  const running = set.run();
  process.stdout.write('ready\n');
  await running;
}

main().catch((err: Error) => {
  process.stderr.write(`backfill fault worker: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
