/**
 * Throwaway databases on a PostgreSQL server (tests, benchmarks): created under a unique name with
 * sluice's roles granted, migrated as sluice_owner, used as sluice_worker, and dropped with every
 * connection to them.
 */
import { randomBytes } from 'node:crypto';
import { Client, type Pool } from 'pg';
import { loadConfig } from '../config';
import { migrate } from './migrate';
import { createPool } from './pool';
import { ensureRoles, loadRolePasswords } from './roles';
import { quoteIdent } from './sql';

export interface ScratchDatabase {
  /** Connects as sluice_worker (what workers use). */
  url: string;
  /** Connects as sluice_owner (migrations, test fixtures that need DDL in schema sluice). */
  ownerUrl: string;
  /** The superuser the database was made with (tests that probe what the roles may not do compare with it). */
  adminUrl: string;
  name: string;
  /** A pool of sluice_worker connections. */
  pool: Pool;
  /** A small pool of sluice_owner connections, made on first use (fixtures: reference tables in sluice_reference). */
  ownerPool(): Pool;
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

/** Where role passwords are kept by default: beside the embedded PostgreSQL's data. */
export function defaultRolePasswordsFile(): string {
  return loadConfig().rolePasswordsFile;
}

/**
 * A new database `<prefix>_<random hex>` on the server of `adminUrl` (a superuser), with sluice's
 * roles, migrated unless `migrate` is false.
 */
export async function createScratchDatabase(
  adminUrl: string,
  options: { prefix: string; poolMax?: number; applicationName?: string; migrate?: boolean; rolePasswordsFile?: string },
): Promise<ScratchDatabase> {
  const name = `${options.prefix}_${randomBytes(5).toString('hex')}`;
  await onServer(adminUrl, `CREATE DATABASE ${quoteIdent(name)}`);
  let owner: Pool | undefined;
  const drop = async (): Promise<void> => {
    await pool?.end();
    await owner?.end();
    await onServer(adminUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  };
  let pool: Pool | undefined;
  try {
    const roles = await ensureRoles(adminUrl, loadRolePasswords(options.rolePasswordsFile ?? defaultRolePasswordsFile()), {
      database: name,
    });
    if (options.migrate ?? true) {
      const ownerPool = createPool(roles.ownerUrl, { max: 1, applicationName: `${options.prefix}-migrate` });
      try {
        await migrate(ownerPool);
      } finally {
        await ownerPool.end();
      }
    }
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    pool = createPool(roles.workerUrl, { max: options.poolMax ?? 4, applicationName: options.applicationName ?? options.prefix });
    const ownerPool = (): Pool => (owner ??= createPool(roles.ownerUrl, { max: 2, applicationName: `${options.prefix}-owner` }));
    return { url: roles.workerUrl, ownerUrl: roles.ownerUrl, adminUrl: u.toString(), name, pool, ownerPool, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}
