/** `npm run temporal`: only the Temporal dev server (found, cached or built), until Ctrl-C (a second one forces the exit). */
import * as path from 'node:path';
import { loadConfig } from '../config';
import { ensureTemporal } from './provision';
import type { TemporalEndpoint } from './provision/temporal';
import { serverStopStep, stopInOrder, watchStopSignals } from './shutdown';

const out = (m: string): void => {
  process.stdout.write(`${m}\n`);
};

async function main(): Promise<number> {
  const config = loadConfig();
  const held: { server?: TemporalEndpoint } = {};
  const signals = watchStopSignals({ log: out, force: () => held.server?.kill?.() });
  const started = await ensureTemporal(config, { dataDir: path.join(config.dataDir, 'temporal'), ownProcessGroup: true });
  held.server = started;
  out(`Temporal ${started.address} (namespace ${started.namespace}), UI ${started.uiUrl ?? '(none)'}. Ctrl-C to stop.`);
  await signals.requested;
  const stopped = await stopInOrder([serverStopStep('Temporal dev server', started, 15_000)], out);
  signals.dispose();
  return stopped ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
