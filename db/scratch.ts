/**
 * Throwaway databases on a PostgreSQL server (tests, benchmarks): created under a unique name,
 * migrated, and dropped with every connection to them.
 */
import { randomBytes } from 'node:crypto';
import { Client, type Pool } from 'pg';
import { migrate } from './migrate';
import { createPool } from './pool';
import { quoteIdent } from './sql';

export interface ScratchDatabase {
  url: string;
  name: string;
  pool: Pool;
  /** Closes the pool and drops the database (connections still open to it are terminated). */
  drop(): Promise<void>;
}

async function onServer(adminUrl: string, sql: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A new database `<prefix>_<random hex>` on the server of `adminUrl`, migrated unless `migrate` is false. */
export async function createScratchDatabase(
  adminUrl: string,
  options: { prefix: string; poolMax?: number; applicationName?: string; migrate?: boolean },
): Promise<ScratchDatabase> {
  const name = `${options.prefix}_${randomBytes(5).toString('hex')}`;
  await onServer(adminUrl, `CREATE DATABASE ${quoteIdent(name)}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const pool = createPool(url, { max: options.poolMax ?? 4, applicationName: options.applicationName ?? options.prefix });
  const drop = async (): Promise<void> => {
    await pool.end();
    await onServer(adminUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  };
  try {
    if (options.migrate ?? true) await migrate(pool);
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, name, pool, drop };
}
