/** A client-side connection to Temporal, shared by the client, the workers' activities and the scripts. */
import { Connection } from '@temporalio/client';
import type { TemporalConnectionConfig } from '../config';
import { connectWithBackoff, type RetryOptions } from '../config/retry';
import { temporalConnectOptions } from '../config/temporal';

/** A client-side connection to Temporal, retried with backoff. */
export async function connectTemporal(cfg: TemporalConnectionConfig, address: string, options: RetryOptions = {}): Promise<Connection> {
  const opts = temporalConnectOptions(cfg, address);
  return connectWithBackoff(
    { service: 'Temporal', address, variable: 'TEMPORAL_ADDRESS' },
    () => Connection.connect({ ...opts, connectTimeout: 5_000 }),
    options,
  );
}
