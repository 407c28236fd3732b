/**
 * Applies the SQL migrations in db/migrations in order, each once, each in its own transaction,
 * recorded in sluice.schema_migrations. A session advisory lock makes concurrent runs (two workers
 * starting together) safe: the second waits, then finds nothing left to do.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Pool } from 'pg';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
/** Arbitrary constant key for pg_advisory_lock: "sluice migrations". */
const MIGRATION_LOCK_KEY = 0x51_1ce_0001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  sha256: string;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`Migration file name ${path.join(dir, file)} must look like 0001_name.sql`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new Error(`Two migrations share version ${version} in ${dir}`);
    seen.add(version);
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    return { version, name: file, sql, sha256: createHash('sha256').update(sql).digest('hex') };
  });
}

export async function migrate(pool: Pool, options: { dir?: string; log?: (msg: string) => void } = {}): Promise<MigrateResult> {
  const migrations = readMigrations(options.dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query('CREATE SCHEMA IF NOT EXISTS sluice');
      await client.query(`CREATE TABLE IF NOT EXISTS sluice.schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        sha256 text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number; name: string; sha256: string }>(
        'SELECT version, name, sha256 FROM sluice.schema_migrations ORDER BY version',
      );
      const done = new Map(rows.map((r) => [r.version, r]));
      const applied: string[] = [];
      for (const m of migrations) {
        const prior = done.get(m.version);
        if (prior) {
          if (prior.sha256 !== m.sha256) {
            throw new Error(
              `Migration ${m.name} was changed after it was applied (recorded sha256 ${prior.sha256.slice(0, 12)}, file ${m.sha256.slice(0, 12)}). ` +
                'Applied migrations are immutable: add a new migration instead.',
            );
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO sluice.schema_migrations (version, name, sha256) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            m.sha256,
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(`Migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
        options.log?.(`applied migration ${m.name}`);
        applied.push(m.name);
      }
      return { applied, alreadyApplied: migrations.length - applied.length };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
