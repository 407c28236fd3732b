/** Entry point shared by workers/cpu.ts and workers/gpu.ts: configuration, then run until a signal. */
import { loadConfig, type QueueKind } from '../config';
import { createWorkerSet } from './bootstrap';

export async function runWorkerProcess(queues: QueueKind[]): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) {
    throw new Error(
      'DATABASE_URL is not set. Workers need the PostgreSQL that holds the sluice log (for a local setup, run `npm run dev`).',
    );
  }
  const set = await createWorkerSet({ config, databaseUrl: config.databaseUrl, queues });
  await set.run();
}

export function main(queues: QueueKind[]): void {
  runWorkerProcess(queues).then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`[sluice worker] ${err.message}\n`);
      process.exit(1);
    },
  );
}
