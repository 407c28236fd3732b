/** PostgreSQL connection pools, with a reachability check that names the address and the variable. */
import { Pool, type PoolConfig } from 'pg';
import { redactUrl } from '../config';
import { connectWithBackoff, type RetryOptions } from '../config/retry';

export interface CreatePoolOptions {
  max?: number;
  applicationName?: string;
}

export function createPool(databaseUrl: string, options: CreatePoolOptions = {}): Pool {
  const config: PoolConfig = {
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'sluice',
    connectionTimeoutMillis: 10_000,
  };
  const pool = new Pool(config);
  // An idle client that errors (server restart) must not crash the process; the pool drops it and
  // the next query reconnects or fails with its own error.
  pool.on('error', (err) => process.stderr.write(`[sluice] idle PostgreSQL connection lost: ${err.message}\n`));
  return pool;
}

/** Waits until PostgreSQL at `databaseUrl` answers `SELECT 1`, with backoff. */
export async function waitForPostgres(databaseUrl: string, retry: RetryOptions = {}, variable = 'DATABASE_URL'): Promise<void> {
  await connectWithBackoff(
    { service: 'PostgreSQL', address: redactUrl(databaseUrl), variable },
    async () => {
      const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 3_000 });
      try {
        await pool.query('SELECT 1');
      } finally {
        await pool.end();
      }
    },
    retry,
  );
}
