/** `npm run temporal`: only the Temporal dev server (found, cached or built), until Ctrl-C. */
import * as path from 'node:path';
import { loadConfig } from '../config';
import { ensureTemporal } from './provision';

async function main(): Promise<void> {
  const config = loadConfig();
  const server = await ensureTemporal(config, { dataDir: path.join(config.dataDir, 'temporal') });
  process.stdout.write(`Temporal ${server.address} (namespace ${server.namespace}), UI ${server.uiUrl ?? '(none)'}. Ctrl-C to stop.\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
