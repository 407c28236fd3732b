/**
 * `npm run dev`: local Temporal (with the Web UI) and PostgreSQL, and both workers (sluice-cpu and
 * sluice-gpu) in one process, until Ctrl-C (or SIGTERM), which stops them in order: the workers
 * drain, then Temporal, then PostgreSQL (scripts/shutdown.ts); a second Ctrl-C forces the exit.
 */
import { Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createWorkerSet } from '../workers/bootstrap';
import { provisionLocalStack, withStackEndpoint, type LocalStack } from './provision';
import { serverStopStep, stopInOrder, watchStopSignals, type StopStep } from './shutdown';

const out = (m: string): void => {
  process.stdout.write(`${m}\n`);
};

async function main(): Promise<number> {
  const config = loadConfig();
  Runtime.install({ shutdownSignals: [] }); // the stop is ordered below
  let stack: LocalStack | undefined;
  const signals = watchStopSignals({ log: out, force: () => stack?.kill() });
  const steps: StopStep[] = [];
  let failed = false;
  try {
    stack = await provisionLocalStack(config, { ownProcessGroups: true });
    const { temporal, postgres } = stack;
    steps.push(serverStopStep('Temporal dev server', temporal, 15_000), serverStopStep('PostgreSQL', postgres, 25_000));
    if (!signals.received()) {
      const workerConfig = withStackEndpoint(config, stack);
      const workers = await createWorkerSet({
        config: workerConfig,
        databaseUrl: postgres.url,
        queues: ['cpu', 'gpu'],
        migrate: false,
        stopOnSignals: false,
      });
      const running = workers.run();
      running.catch(() => undefined); // observed below and by the stop step
      steps.unshift({
        name: 'workers',
        timeoutMs: (config.shutdownGraceSeconds + 15) * 1000,
        stop: async () => {
          workers.shutdown();
          await running;
        },
      });
      out(
        `sluice dev: Temporal ${temporal.address}, UI ${temporal.uiUrl ?? '(none)'}; workers on ${config.taskQueues.cpu} and ${config.taskQueues.gpu}. Ctrl-C to stop.\n` +
          `  export TEMPORAL_ADDRESS=${temporal.address} TEMPORAL_NAMESPACE=${temporal.namespace} DATABASE_URL=${postgres.url}`,
      );
      await Promise.race([signals.requested, running]);
    }
  } catch (err) {
    failed = true;
    process.stderr.write(`sluice dev failed: ${(err as Error).message}\n`);
  }
  if (!signals.received()) out('Stopping:');
  const stopped = await stopInOrder(steps, out);
  signals.dispose();
  return stopped && !failed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`sluice dev failed: ${err.message}\n`);
    process.exit(1);
  },
);
