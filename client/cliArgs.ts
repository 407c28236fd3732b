/** Shared pieces of the `sluice` commands: arguments and the Temporal client they open. */
import { loadConfig } from '../config';
import { SluiceClient } from './sluiceClient';

/** The value after `--name` in `args` (undefined when the flag is absent or last). */
export function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Runs `fn` with a client configured from the command's environment, closed afterwards. */
export async function withClient<T>(io: { env: Record<string, string | undefined> }, fn: (client: SluiceClient) => Promise<T>): Promise<T> {
  const client = await SluiceClient.connect({ config: loadConfig(io.env) });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
