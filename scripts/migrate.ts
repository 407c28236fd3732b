/**
 * `npm run migrate`: applies db/migrations to DATABASE_URL (or the embedded PostgreSQL) as
 * sluice_owner: creating the roles first when DATABASE_URL is a superuser, otherwise with
 * SLUICE_DATABASE_OWNER_URL.
 */
import * as path from 'node:path';
import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { migrate } from '../db/migrate';
import { resolveDatabaseAccess } from '../db/roles';
import { ensurePostgres } from './provision';

async function main(): Promise<void> {
  const config = loadConfig();
  const pg = await ensurePostgres(config, { dataDir: path.join(config.dataDir, 'postgres') });
  const access = await resolveDatabaseAccess(pg.url, {
    passwordsFile: config.rolePasswordsFile,
    passwords: config.rolePasswords,
    ownerUrl: config.databaseOwnerUrl,
  });
  if (!access.ownerUrl) {
    await pg.stop();
    throw new Error(
      'DATABASE_URL is not a superuser, so sluice cannot create its roles, and SLUICE_DATABASE_OWNER_URL (the sluice_owner role that migrations run as) is not set',
    );
  }
  const pool = createPool(access.ownerUrl, { max: 1 });
  try {
    const r = await migrate(pool, { log: (m) => process.stdout.write(`${m}\n`) });
    process.stdout.write(`${r.applied.length} applied, ${r.alreadyApplied} already applied\n`);
  } finally {
    await pool.end();
    await pg.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
