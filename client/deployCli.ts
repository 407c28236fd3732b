/**
 * `sluice rollback <endpoint> [--who W] [--reason R] [--json]`: restores the endpoint's previous
 * champion through Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SLUICE_TASK_QUEUE_CPU): by the
 * running deploy's `rollback` update during its watch period, otherwise by a `rollback` workflow
 * under `deploy-<endpoint>`. Exit codes: 0 rolled back, 1 refused (no previous champion, a deploy
 * running, unknown endpoint), 2 usage.
 */
import { loadConfig } from '../config';
import type { CliIo } from './contracts';
import { DeployRefusedError } from './deploy';
import { SluiceClient } from './sluiceClient';
import { flag } from './cliArgs';

export const ROLLBACK_USAGE = `  rollback <endpoint> [--who W] [--reason R] [--json]
                                                   restore the endpoint's previous champion (who: --who or $USER)
`;

export async function rollbackCommand(args: string[], io: CliIo): Promise<number> {
  const endpoint = args[0];
  const who = flag(args, '--who') ?? io.env.USER ?? '';
  if (!endpoint || endpoint.startsWith('--') || !who.trim()) {
    io.err(`usage: sluice${ROLLBACK_USAGE}`);
    return 2;
  }
  const reason = flag(args, '--reason');
  const client = await SluiceClient.connect({ config: loadConfig(io.env) });
  try {
    const r = await client.rollback(endpoint, { who, ...(reason ? { reason } : {}) });
    if (args.includes('--json')) io.out(`${JSON.stringify(r, null, 2)}\n`);
    else io.out(`${r.endpoint}: ${r.model}@${r.from} → ${r.model}@${r.to} (previous is now ${r.model}@${r.previous})\n`);
    return 0;
  } catch (err) {
    if (err instanceof DeployRefusedError) {
      if (args.includes('--json')) io.out(`${JSON.stringify({ error: { code: err.type, message: err.message } }, null, 2)}\n`);
      io.err(`sluice rollback: ${err.message} [${err.type}]\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}
