/**
 * Gives sluice a Temporal endpoint, in this order:
 *   1. TEMPORAL_ADDRESS: an existing server (self-hosted, docker-compose, Temporal Cloud);
 *   2. a `temporal` CLI at TEMPORAL_CLI_PATH or on PATH;
 *   3. one cached by an earlier run under the user's cache directory;
 *   4. built with `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` when Go is present;
 *   5. the Temporal SDK's own download of the CLI (needs internet).
 * For 2–5 it runs `temporal server start-dev` with a persistent database file, the Web UI, the
 * sluice namespace and sluice's search attributes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import type { SluiceConfig } from '../../config';
import { connectTemporal } from '../../client/connection';
import { connectWithBackoff } from '../../config/retry';
import { SEARCH_ATTRIBUTE_KEYS, SEARCH_ATTRIBUTE_NAMES } from '../../api/searchAttributes';
import {
  findOnPath,
  findFreePort,
  hasExited,
  isPortFree,
  isProcessAlive,
  signalGroup,
  stopChild,
  stopOnExit,
  type Logger,
} from './process';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

/**
 * Dynamic config of the dev server sluice starts (docker-compose's server reads the same values
 * from docker/temporal-dynamicconfig.yaml; test/unit/dockerCompose.test.ts keeps them equal).
 *
 * - Queue reads of the history service: each shard reads its transfer (tasks for matching:
 *   activity and workflow tasks), timer and visibility queues at most 20 times a second by
 *   default, and the dev server has one shard for everything. Once the limiter's burst is spent
 *   (about a second of activity) every task a workflow schedules waits up to 50 ms in history
 *   before matching sees it: a plain SDK workflow of no-op activities goes from about 18 ms to
 *   exactly 100 ms per activity (its activity task and the workflow task after it, 2 × 50 ms).
 *   The reads are still triggered by new tasks only; the limit now just does not space them.
 * - Eager activity execution: an activity scheduled by a workflow task goes back to the worker
 *   in the answer to that task's completion, when the worker has a free slot on the same task
 *   queue, instead of through matching and an activity poll. Servers default it off.
 * - Updates in flight per workflow: every batch sent to a source's `ingest` workflow (HTTP, client)
 *   is an update, and a server takes 10 at once per workflow by default; the rest are refused and
 *   the client retries them with a growing backoff. 60 producers sending a 10-event batch each at
 *   once took 5.6–11 s with 10, 0.9 s with 100 (the workflow appends the batches waiting together
 *   in one activity).
 */
export const TEMPORAL_DEV_DYNAMIC_CONFIG = [
  'history.transferProcessorMaxPollRPS=1000',
  'history.timerProcessorMaxPollRPS=1000',
  'history.visibilityProcessorMaxPollRPS=1000',
  'system.enableActivityEagerExecution=true',
  'history.maxInFlightUpdates=100',
];

/**
 * SQLite settings of the dev server's database file. The CLI leaves SQLite's defaults (a rollback
 * journal and synchronous=FULL): every history write then waits for three or more fsyncs, about
 * 2 ms each on a virtual disk, and a plain SDK workflow of no-op activities runs 29 ms per
 * activity here against 17 ms with these two and 14 ms with an in-memory database. A write-ahead
 * log with synchronous=NORMAL does not fsync on commit: a committed write survives the server's
 * crash or SIGKILL (it is in the log file), only a power cut or an operating-system crash can lose
 * the last ones, and the file stays consistent either way (https://www.sqlite.org/wal.html).
 */
export const TEMPORAL_DEV_SQLITE_PRAGMAS = ['journal_mode=WAL', 'synchronous=NORMAL'];

/** The dev server's command-line flags for {@link TEMPORAL_DEV_DYNAMIC_CONFIG} and {@link TEMPORAL_DEV_SQLITE_PRAGMAS}. */
export function devServerTuningArgs(): string[] {
  return [
    ...TEMPORAL_DEV_DYNAMIC_CONFIG.flatMap((kv) => ['--dynamic-config-value', kv]),
    ...TEMPORAL_DEV_SQLITE_PRAGMAS.flatMap((kv) => ['--sqlite-pragma', kv]),
  ];
}

/** Everything a dev server's speed depends on that sluice sets, as recorded and compared on reuse. */
export function devServerSettings(dynamicConfig: readonly string[], sqlitePragmas: readonly string[]): string[] {
  return [...dynamicConfig, ...sqlitePragmas.map((p) => `sqlite ${p}`)];
}

export type TemporalSource =
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_CLI_PATH'
  | 'PATH'
  | 'cache'
  | 'go install'
  | 'sdk download'
  | 'running dev server';

export interface TemporalEndpoint {
  address: string;
  namespace: string;
  /** Web UI base URL, when known. */
  uiUrl: string | undefined;
  source: TemporalSource;
  /** The dev server's pid when this call started it. */
  pid?: number;
  /** Stops the server if this call started it; a no-op otherwise. */
  stop(): Promise<void>;
  /** Kills the server at once if this call started it (a forced exit). */
  kill?(): void;
  /** When this call started the server: whether it still runs (false once it exited, for any reason). */
  running?(): boolean;
}

export interface EnsureTemporalOptions {
  /** Directory for the dev server's database file, pid and logs. */
  dataDir: string;
  log?: Logger;
  /** Fixed ports, or pick free ones when the preferred ones are taken (default true). */
  allowOtherPorts?: boolean;
  /** Reuse a dev server left running in the same data dir by an earlier run (default true). */
  reuseRunning?: boolean;
  /** Build the CLI with Go when none is found (default: unless SLUICE_TEMPORAL_BUILD=false). */
  allowBuild?: boolean;
  /** Fall back to the SDK's download (default: unless SLUICE_TEMPORAL_DOWNLOAD=false). */
  allowDownload?: boolean;
  /** How long to wait for TEMPORAL_ADDRESS to answer (default 30 s). */
  connectTimeoutMs?: number;
  /**
   * Start the dev server in its own process group (default false), so that a Ctrl-C in the terminal
   * reaches only the caller, which stops the server itself after what depends on it (`npm start`).
   */
  ownProcessGroup?: boolean;
}

interface DevServerState {
  pid: number;
  address: string;
  uiUrl: string;
  namespace: string;
  cli: string;
  /** The `--dynamic-config-value`s it was started with (absent: started by a sluice from before they were recorded). */
  dynamicConfig?: string[];
  /** The `--sqlite-pragma`s it was started with (absent: none, or a sluice from before they were recorded). */
  sqlitePragmas?: string[];
}

/**
 * What a dev server started with `started` (its recorded {@link devServerSettings}; undefined when
 * not recorded) lacks of the current dynamic config and SQLite pragmas, or of other values it has:
 * empty when it runs with today's settings.
 */
export function devServerConfigDrift(started: readonly string[] | undefined): string[] {
  const had = new Set(started ?? []);
  const now = new Set(devServerSettings(TEMPORAL_DEV_DYNAMIC_CONFIG, TEMPORAL_DEV_SQLITE_PRAGMAS));
  return [
    ...[...now].filter((v) => !had.has(v)).map((v) => `without ${v}`),
    ...[...had].filter((v) => !now.has(v)).map((v) => `with ${v}`),
  ];
}

const consoleLogger: Logger = (msg) => process.stderr.write(`[sluice] ${msg}\n`);

export function cachedCliPath(cacheDir: string): string {
  return path.join(cacheDir, 'temporal-cli', TEMPORAL_CLI_VERSION, process.platform === 'win32' ? 'temporal.exe' : 'temporal');
}

/** Registers sluice's custom search attributes (Keyword) where they are missing. */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  const missing = SEARCH_ATTRIBUTE_NAMES.filter((name) => !known.has(name));
  if (missing.length === 0) return [];
  const KEYWORD = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
  });
  return missing;
}

interface CliCandidate {
  path: string;
  source: TemporalSource;
}

/** Finds a Temporal CLI without building or downloading anything. */
export function findTemporalCli(cfg: SluiceConfig): CliCandidate | undefined {
  if (cfg.temporalCliPath) {
    if (!fs.existsSync(cfg.temporalCliPath)) {
      throw new Error(`TEMPORAL_CLI_PATH=${cfg.temporalCliPath} does not exist. Point it at a Temporal CLI binary or unset it.`);
    }
    return { path: cfg.temporalCliPath, source: 'TEMPORAL_CLI_PATH' };
  }
  const onPath = findOnPath('temporal');
  if (onPath) return { path: onPath, source: 'PATH' };
  const cached = cachedCliPath(cfg.cacheDir);
  if (fs.existsSync(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

/** Whether the process that holds a build lock still runs; `unknown` while its pid is not written yet. */
function lockOwner(lockDir: string): 'alive' | 'dead' | 'unknown' {
  let text = '';
  try {
    text = fs.readFileSync(path.join(lockDir, 'pid'), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const pid = Number(text || '0');
  if (!pid) return 'unknown';
  return isProcessAlive(pid) ? 'alive' : 'dead';
}

/**
 * Builds the Temporal CLI with `go install` into the cache, printing progress. Concurrent callers
 * (two test runs) wait for one build through a lock directory.
 */
export async function buildTemporalCli(cacheDir: string, log: Logger = consoleLogger): Promise<string> {
  const target = cachedCliPath(cacheDir);
  if (fs.existsSync(target)) return target;
  const go = findOnPath('go') ?? (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) throw new Error('Go is not installed');
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const lockDir = `${target}.lock`;
  const lockDeadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = lockOwner(lockDir);
      const since = fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs;
      if (since === undefined) continue; // released meanwhile
      // Gone, or never got as far as writing its pid in a minute (a process that died right after mkdir).
      if (owner === 'dead' || (owner === 'unknown' && Date.now() - since > 60_000)) {
        log(`removing a stale build lock (${lockDir})`);
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (fs.existsSync(target)) return target;
      if (Date.now() > lockDeadline) throw new Error(`timed out waiting for another build of the Temporal CLI (${lockDir})`);
      log('another process is building the Temporal CLI; waiting…');
      await new Promise((r) => setTimeout(r, 5_000));
    }
  }
  try {
    if (fs.existsSync(target)) return target;
    const gobin = fs.mkdtempSync(path.join(dir, 'build-'));
    const started = Date.now();
    log(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go (first run only, several minutes; cached at ${target})`);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, ['install', '-v', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
        env: { ...process.env, GOBIN: gobin, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let packages = 0;
      let downloads = 0;
      let lastReport = Date.now();
      const tail: string[] = [];
      const onLine = (line: string): void => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (line.startsWith('go: downloading')) downloads++;
        else if (/^[\w.-]+(\/[\w.\-~]+)+$/.test(line.trim())) packages++;
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          log(`  …${Math.round((Date.now() - started) / 1000)}s: ${downloads} modules downloaded, ${packages} packages compiled`);
        }
      };
      let buf = '';
      const onData = (d: Buffer): void => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        lines.forEach(onLine);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('exit', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`go install exited with ${code}:\n${tail.join('\n')}`));
      });
    });
    const built = path.join(gobin, path.basename(target));
    fs.renameSync(built, target);
    fs.rmSync(gobin, { recursive: true, force: true });
    log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

function readState(file: string): DevServerState | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DevServerState;
  } catch {
    return undefined;
  }
}

async function reachable(address: string): Promise<boolean> {
  let c: Connection | undefined;
  try {
    c = await Connection.connect({ address, connectTimeout: 2_000 });
    await c.healthService.check({});
    return true;
  } catch {
    return false;
  } finally {
    await c?.close().catch(() => undefined);
  }
}

async function startDevServer(cli: CliCandidate, cfg: SluiceConfig, opts: EnsureTemporalOptions, log: Logger): Promise<TemporalEndpoint> {
  const dir = opts.dataDir;
  fs.mkdirSync(dir, { recursive: true });
  const stateFile = path.join(dir, 'server.json');
  const namespace = cfg.temporal.namespace;

  const previous = readState(stateFile);
  if (previous) {
    if (isProcessAlive(previous.pid) && (opts.reuseRunning ?? true) && (await reachable(previous.address))) {
      log(`reusing the Temporal dev server already running from ${dir} (pid ${previous.pid}, ${previous.address})`);
      const drift = devServerConfigDrift(
        Array.isArray(previous.dynamicConfig)
          ? devServerSettings(previous.dynamicConfig, Array.isArray(previous.sqlitePragmas) ? previous.sqlitePragmas : [])
          : undefined,
      );
      // Not restarted here: another sluice process (npm run dev in another terminal) may be using it.
      if (drift.length > 0)
        log(
          `that dev server was started with other settings than this sluice's (${drift.join('; ')}): workflows may run slower ` +
            `until it is restarted (stop it: kill ${previous.pid}; the next start starts a new one on the same data)`,
        );
      return {
        address: previous.address,
        namespace: previous.namespace,
        uiUrl: previous.uiUrl,
        source: 'running dev server',
        stop: async () => undefined,
      };
    }
    if (isProcessAlive(previous.pid)) {
      throw new Error(
        `A Temporal dev server (pid ${previous.pid}) holds ${dir} but does not answer at ${previous.address}. ` +
          `Stop it (kill ${previous.pid}) or set SLUICE_DATA_DIR to another directory.`,
      );
    }
    log(`removing stale dev-server state in ${dir} (pid ${previous.pid} is gone)`);
    fs.rmSync(stateFile, { force: true });
  }

  const allowOther = opts.allowOtherPorts ?? true;
  const pickPort = async (preferred: number, what: string, variable: string): Promise<number> => {
    if (await isPortFree(preferred)) return preferred;
    if (!allowOther) throw new Error(`Port ${preferred} for the Temporal ${what} is in use. Set ${variable} to a free port.`);
    const port = await findFreePort();
    log(`port ${preferred} (${what}) is in use; using ${port} instead (set ${variable} to choose)`);
    return port;
  };
  const port = await pickPort(cfg.devServer.port, 'frontend', 'SLUICE_TEMPORAL_PORT');
  let uiPort = await pickPort(cfg.devServer.uiPort, 'Web UI', 'SLUICE_TEMPORAL_UI_PORT');
  if (uiPort === port) uiPort = await findFreePort();
  // The HTTP API and metrics ports are ours to choose too: left to the CLI, it picks "a random free
  // port", which can be the frontend port we chose and have not bound yet (seen: the server then fails).
  const taken = new Set([port, uiPort]);
  const freshPort = async (): Promise<number> => {
    for (;;) {
      const p = await findFreePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  const httpPort = await freshPort();
  const metricsPort = await freshPort();
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://localhost:${uiPort}`;
  const dbFile = path.join(dir, 'temporal.db');
  const logFile = path.join(dir, 'server.log');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...devServerTuningArgs(),
    ...SEARCH_ATTRIBUTE_NAMES.flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
  ];
  log(`starting Temporal dev server (${cli.source}: ${cli.path}) on ${address}, UI ${uiUrl}, data ${dbFile}`);
  const out = fs.openSync(logFile, 'a');
  const group = opts.ownProcessGroup ?? false;
  const child: ChildProcess = spawn(cli.path, args, { stdio: ['ignore', out, out], detached: group });
  fs.closeSync(out);
  const removeExitHook = stopOnExit(child, 'SIGTERM', group);
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  const tailLog = (): string => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  };
  try {
    await connectWithBackoff(
      { service: 'the Temporal dev server', address, variable: 'TEMPORAL_ADDRESS' },
      async () => {
        if (exited) throw new Error(`the server ${exited}; last lines of ${logFile}:\n${tailLog()}`);
        const c = await Connection.connect({ address, connectTimeout: 2_000 });
        try {
          await c.workflowService.describeNamespace({ namespace });
        } finally {
          await c.close();
        }
      },
      { timeoutMs: 90_000, initialDelayMs: 200, maxDelayMs: 1_000 },
    );
  } catch (err) {
    await stopChild(child, 10_000, { group });
    removeExitHook();
    throw err;
  }
  fs.writeFileSync(
    stateFile,
    JSON.stringify({
      pid: child.pid ?? 0,
      address,
      uiUrl,
      namespace,
      cli: cli.path,
      dynamicConfig: TEMPORAL_DEV_DYNAMIC_CONFIG,
      sqlitePragmas: TEMPORAL_DEV_SQLITE_PRAGMAS,
    } satisfies DevServerState),
  );
  return {
    address,
    namespace,
    uiUrl,
    source: cli.source,
    pid: child.pid,
    stop: async () => {
      await stopChild(child, 10_000, { group });
      removeExitHook();
      fs.rmSync(stateFile, { force: true });
    },
    kill: () => {
      if (child.pid && !hasExited(child)) signalGroup(child.pid, 'SIGKILL', group);
    },
    running: () => !hasExited(child),
  };
}

async function startWithSdkDownload(cfg: SluiceConfig, opts: EnsureTemporalOptions, log: Logger): Promise<TemporalEndpoint> {
  // Loaded lazily: @temporalio/testing is only needed on this last path.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const uiPort = (await isPortFree(cfg.devServer.uiPort)) ? cfg.devServer.uiPort : await findFreePort();
  fs.mkdirSync(opts.dataDir, { recursive: true });
  log('downloading the Temporal CLI through the Temporal SDK');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      namespace: cfg.temporal.namespace,
      dbFilename: path.join(opts.dataDir, 'temporal.db'),
      ui: true,
      uiPort,
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
      // the same settings as a dev server started from a CLI (the download is the newest CLI)
      extraArgs: devServerTuningArgs(),
    },
  });
  const address = env.connection.options.address;
  return {
    address,
    namespace: cfg.temporal.namespace,
    uiUrl: `http://localhost:${uiPort}`,
    source: 'sdk download',
    stop: () => env.teardown(),
  };
}

/** Provisions (or finds) a Temporal server; see the module comment for the order. */
export async function ensureTemporal(cfg: SluiceConfig, opts: EnsureTemporalOptions): Promise<TemporalEndpoint> {
  const log = opts.log ?? consoleLogger;
  if (cfg.temporal.address) {
    const connection = await connectTemporal(cfg.temporal, cfg.temporal.address, { timeoutMs: opts.connectTimeoutMs ?? 30_000 });
    try {
      const added = await registerSearchAttributes(connection, cfg.temporal.namespace);
      if (added.length > 0) log(`registered search attributes ${added.join(', ')} in namespace ${cfg.temporal.namespace}`);
    } catch (err) {
      log(
        `could not register sluice's search attributes in namespace ${cfg.temporal.namespace} (${(err as Error).message}); ` +
          `register them yourself: ${SEARCH_ATTRIBUTE_NAMES.map((n) => `${n}=Keyword`).join(' ')}`,
      );
    } finally {
      await connection.close();
    }
    return {
      address: cfg.temporal.address,
      namespace: cfg.temporal.namespace,
      uiUrl: process.env.TEMPORAL_UI_URL,
      source: 'TEMPORAL_ADDRESS',
      stop: async () => undefined,
    };
  }

  const tried: string[] = [];
  let cli = findTemporalCli(cfg);
  if (!cli) {
    tried.push(
      'TEMPORAL_ADDRESS (unset)',
      'TEMPORAL_CLI_PATH (unset)',
      '`temporal` on PATH (not found)',
      `cache ${cachedCliPath(cfg.cacheDir)} (empty)`,
    );
    if (opts.allowBuild ?? process.env.SLUICE_TEMPORAL_BUILD !== 'false') {
      try {
        cli = { path: await buildTemporalCli(cfg.cacheDir, log), source: 'go install' };
      } catch (err) {
        tried.push(`go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} (${(err as Error).message.split('\n')[0]})`);
      }
    } else tried.push('go install (disabled by SLUICE_TEMPORAL_BUILD=false)');
  }
  if (cli) return startDevServer(cli, cfg, opts, log);
  if (opts.allowDownload ?? process.env.SLUICE_TEMPORAL_DOWNLOAD !== 'false') {
    try {
      return await startWithSdkDownload(cfg, opts, log);
    } catch (err) {
      tried.push(`the Temporal SDK's download (${(err as Error).message.split('\n')[0]})`);
    }
  } else tried.push("the Temporal SDK's download (disabled by SLUICE_TEMPORAL_DOWNLOAD=false)");
  throw new Error(
    'Could not get a Temporal server. Tried:\n' +
      tried.map((t) => `  - ${t}`).join('\n') +
      '\nSet TEMPORAL_ADDRESS to a running server, or TEMPORAL_CLI_PATH to a Temporal CLI binary, or install Go (https://go.dev/dl/) so sluice can build one.',
  );
}
