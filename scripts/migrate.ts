/** `npm run migrate`: applies db/migrations to DATABASE_URL (or the embedded PostgreSQL). */
import * as path from 'node:path';
import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { migrate } from '../db/migrate';
import { ensurePostgres } from './provision';

async function main(): Promise<void> {
  const config = loadConfig();
  const pg = await ensurePostgres(config, { dataDir: path.join(config.dataDir, 'postgres') });
  const pool = createPool(pg.url, { max: 1 });
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
