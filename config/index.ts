/**
 * Configuration from environment variables, validated once at start.
 *
 * Every variable has a default that works on a laptop; a bad value fails fast with the variable's
 * name, the value and what was expected, before any connection is attempted.
 */
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { DEFAULT_TASK_QUEUES } from '../api/queues';

export { DEFAULT_TASK_QUEUES, type QueueKind } from '../api/queues';

export interface TemporalConnectionConfig {
  /** host:port of an existing server; undefined means "provision a dev server". */
  address: string | undefined;
  namespace: string;
  apiKey: string | undefined;
  tls: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string } | undefined;
}

export interface SluiceConfig {
  temporal: TemporalConnectionConfig;
  /** Temporal CLI binary to run `temporal server start-dev` with, when no address is given. */
  temporalCliPath: string | undefined;
  databaseUrl: string | undefined;
  /**
   * The sluice_owner URL migrations run with (SLUICE_DATABASE_OWNER_URL), when DATABASE_URL is the
   * worker's. Not needed when DATABASE_URL is a superuser: sluice then creates the roles itself.
   */
  databaseOwnerUrl: string | undefined;
  /** Where the passwords of the roles sluice creates are kept (mode 0600): `<SLUICE_DATA_DIR>/postgres-roles.json`. */
  rolePasswordsFile: string;
  /**
   * The passwords to give sluice_owner and sluice_worker when creating them, from
   * SLUICE_DB_OWNER_PASSWORD and SLUICE_DB_WORKER_PASSWORD (both or neither; hex, 32 to 128
   * digits), instead of the file: containers that share a database share these.
   */
  rolePasswords: { owner: string; worker: string } | undefined;
  dataDir: string;
  cacheDir: string;
  artifactsDir: string;
  taskQueues: { cpu: string; gpu: string };
  gpuCount: number;
  /**
   * Score with ONNX Runtime's CUDA provider (SLUICE_ONNX_CUDA=true) on this worker. Off by default:
   * the npm build of onnxruntime-node has no CUDA provider, and a GPU host says so on purpose.
   * Steps that score fall back to the CPU, and say so, when the provider does not load.
   */
  onnxCuda: boolean;
  /**
   * Run `command` trainers (an executable named in the train input) on this worker
   * (SLUICE_COMMAND_TRAINERS=true). Off by default: whoever can start a workflow could otherwise
   * run any program on the worker's host.
   */
  commandTrainers: boolean;
  /** The interpreter that a command trainer's `python3`/`python` stands for (SLUICE_PYTHON; default /usr/bin/python3 where it exists). */
  python: string;
  cpuActivityConcurrency: number;
  /** Chunks of a file batch written at once, each on its own connection (1: one at a time); unset: the log writer's default. */
  ingestCopyStreams: number | undefined;
  /**
   * Directories file ingestion may read from (absolute, symlinks resolved when checked); any other
   * path that reaches a worker in a workflow input is refused (SLUICE_INGEST_ROOTS).
   */
  ingestRoots: string[];
  shutdownGraceSeconds: number;
  devServer: { port: number; uiPort: number; embeddedPostgresPort: number };
  httpIngest: HttpIngestConfig;
  serve: ServeConfig;
  /**
   * The worker's Prometheus endpoint (SLUICE_METRICS_HOST, SLUICE_METRICS_PORT): sluice's metrics
   * and the Temporal runtime's on GET /metrics; `port` undefined (unset, empty or 0): no endpoint.
   */
  metrics: { host: string; port: number | undefined };
  /** SLUICE_LOG_FORMAT: `json` (one object a line) or `text`; undefined: the process decides (workers: json). */
  logFormat: 'json' | 'text' | undefined;
  /** SLUICE_LOG_LEVEL: the Temporal runtime's log level; undefined: the process decides (workers: INFO). */
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | undefined;
}

/** The scoring service (`workers/serve.ts`). */
export interface ServeConfig {
  port: number;
  /** Interface to listen on: loopback unless widened on purpose (SLUICE_SERVE_HOST=0.0.0.0 in a container). */
  host: string;
  /** Bearer token clients must send; the service refuses to start without one. */
  token: string | undefined;
  /** Largest request body; past it, 413. */
  maxBodyBytes: number;
  /** Most rows in one request; past it, 413. */
  maxRows: number;
  /** How often the service re-reads what every endpoint serves (the fallback when a NOTIFY is missed). */
  pollMs: number;
  /** The prediction log is written at least this often (ms)… */
  logFlushMs: number;
  /** …or as soon as this many events wait. */
  logFlushEvents: number;
  /** Past this many events waiting to be written, predict answers 503 (the log is behind). */
  logMaxBufferedEvents: number;
}

/** Defaults of {@link ServeConfig}. */
export const SERVE_DEFAULTS: Omit<ServeConfig, 'token'> = {
  port: 8090,
  host: '127.0.0.1',
  maxBodyBytes: 8 * 1024 * 1024,
  maxRows: 10_000,
  pollMs: 5_000,
  logFlushMs: 200,
  logFlushEvents: 5_000,
  logMaxBufferedEvents: 200_000,
};

/** The HTTP ingest endpoint (`workers/httpIngest.ts`). Byte limits answer 413/414/431/503, never a reset connection. */
export interface HttpIngestConfig {
  port: number;
  /** Interface to listen on: loopback unless widened on purpose (SLUICE_HTTP_HOST=0.0.0.0 in a container). */
  host: string;
  /** Bearer token clients must send; the endpoint refuses to start without one. */
  token: string | undefined;
  /** Largest request body after Content-Encoding is decoded (the bytes spooled to disk). */
  maxBodyBytes: number;
  /** Largest total of bytes spooled to disk by all requests in flight at once; past it, 503 with Retry-After. */
  maxSpoolBytes: number;
  /** Largest request line plus headers (Node's maxHeaderSize); past it, 431 (or 414 when the URL alone is too long). */
  maxHeaderBytes: number;
  /** Largest request URL (path and query); past it, 414. */
  maxUrlBytes: number;
  /**
   * Base URL browsers reach the HTTP service at (SLUICE_PUBLIC_URL), for the artifact links in
   * workflow memos; default http://<host>:<port> of the listener.
   */
  publicUrl?: string;
  /**
   * Days an `Idempotency-Key` claim is kept (SLUICE_HTTP_IDEMPOTENCY_KEY_DAYS; 0 = forever). After
   * that, the same key with the same body still maps to the same batch (deduplicated below the
   * endpoint); only another body under the old key is no longer refused.
   */
  idempotencyKeyDays: number;
}

const GIB = 1024 * 1024 * 1024;

/** Defaults of {@link HttpIngestConfig}, for embedding the endpoint without reading the environment. */
export const HTTP_INGEST_DEFAULTS: Omit<HttpIngestConfig, 'token'> = {
  port: 8080,
  host: '127.0.0.1',
  maxBodyBytes: GIB,
  // Two bodies at the largest size at once: enough for steady traffic, and a bound on the disk a
  // burst of uploads can take before the endpoint says "later".
  maxSpoolBytes: 2 * GIB,
  maxHeaderBytes: 16 * 1024,
  maxUrlBytes: 4 * 1024,
  idempotencyKeyDays: 30,
};

export interface ConfigIssue {
  variable: string;
  value: string;
  expected: string;
}

export type ConfigResult = { ok: true; value: SluiceConfig } | { ok: false; issues: ConfigIssue[] };

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      'Invalid sluice configuration:\n' +
        issues.map((i) => `  ${i.variable}=${JSON.stringify(i.value)}: expected ${i.expected}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class EnvReader {
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly env: Env) {}

  string(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.issues.push({ variable: name, value: raw, expected: `an integer from ${min} to ${max}` });
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (['true', '1'].includes(raw)) return true;
    if (['false', '0'].includes(raw)) return false;
    this.issues.push({ variable: name, value: raw, expected: 'true or false' });
    return fallback;
  }

  hostPort(name: string): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(raw)) {
      this.issues.push({ variable: name, value: raw, expected: 'host:port, e.g. localhost:7233' });
      return undefined;
    }
    return raw;
  }

  postgresUrl(name: string): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    let ok = false;
    try {
      const u = new URL(raw);
      ok = u.protocol === 'postgres:' || u.protocol === 'postgresql:';
    } catch {
      ok = false;
    }
    if (!ok) this.issues.push({ variable: name, value: redactUrl(raw), expected: 'postgres://user:password@host:port/database' });
    return ok ? raw : undefined;
  }

  /** An IP address or a DNS name to listen on. */
  host(name: string, fallback: string): string {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (isIP(raw) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(raw)) {
      this.issues.push({
        variable: name,
        value: raw,
        expected: 'an IP address or host name to listen on, e.g. 127.0.0.1 (this host only) or 0.0.0.0 (every interface)',
      });
      return fallback;
    }
    return raw;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.issues.push({ variable: name, value: raw, expected: `one of ${allowed.join(', ')}` });
      return undefined;
    }
    return raw as T;
  }

  identifier(name: string, fallback: string): string {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(raw)) {
      this.issues.push({ variable: name, value: raw, expected: 'letters, digits, ".", "_" or "-" (at most 200)' });
      return fallback;
    }
    return raw;
  }
}

/** Hides the password of a connection URL, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** The user's cache directory (XDG on Linux, ~/Library/Caches on macOS), for things kept between runs. */
export function defaultCacheDir(env: Env = process.env): string {
  if (env.SLUICE_CACHE_DIR) return path.resolve(env.SLUICE_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'sluice');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'sluice');
  if (process.platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'sluice', 'cache');
  return path.join(os.homedir(), '.cache', 'sluice');
}

function httpIngestConfig(r: EnvReader): HttpIngestConfig {
  const d = HTTP_INGEST_DEFAULTS;
  const maxHeaderBytes = r.int('SLUICE_HTTP_MAX_HEADER_BYTES', d.maxHeaderBytes, 1024, 1024 * 1024);
  const c: HttpIngestConfig = {
    port: r.int('SLUICE_HTTP_PORT', d.port, 0, 65535),
    host: r.host('SLUICE_HTTP_HOST', d.host),
    token: r.string('SLUICE_INGEST_TOKEN'),
    publicUrl: r.string('SLUICE_PUBLIC_URL')?.replace(/\/+$/, ''),
    maxBodyBytes: r.int('SLUICE_HTTP_MAX_BODY_BYTES', d.maxBodyBytes, 1, Number.MAX_SAFE_INTEGER),
    maxSpoolBytes: r.int('SLUICE_HTTP_MAX_SPOOL_BYTES', d.maxSpoolBytes, 1, Number.MAX_SAFE_INTEGER),
    maxHeaderBytes,
    // A URL longer than the header limit never reaches the handler (the parser stops first).
    maxUrlBytes: r.int('SLUICE_HTTP_MAX_URL_BYTES', Math.min(d.maxUrlBytes, maxHeaderBytes), 64, maxHeaderBytes),
    idempotencyKeyDays: r.int('SLUICE_HTTP_IDEMPOTENCY_KEY_DAYS', d.idempotencyKeyDays, 0, 36_500),
  };
  // A body the spool can never hold would be answered "retry later" forever.
  if (c.maxBodyBytes > c.maxSpoolBytes) {
    r.issues.push({
      variable: 'SLUICE_HTTP_MAX_BODY_BYTES',
      value: String(c.maxBodyBytes),
      expected: `at most SLUICE_HTTP_MAX_SPOOL_BYTES (${c.maxSpoolBytes})`,
    });
  }
  return c;
}

function serveConfig(r: EnvReader): ServeConfig {
  const d = SERVE_DEFAULTS;
  return {
    port: r.int('SLUICE_SERVE_PORT', d.port, 0, 65535),
    host: r.host('SLUICE_SERVE_HOST', d.host),
    token: r.string('SLUICE_SERVE_TOKEN'),
    maxBodyBytes: r.int('SLUICE_SERVE_MAX_BODY_BYTES', d.maxBodyBytes, 1024, 1024 * 1024 * 1024),
    maxRows: r.int('SLUICE_SERVE_MAX_ROWS', d.maxRows, 1, 1_000_000),
    pollMs: r.int('SLUICE_SERVE_POLL_MS', d.pollMs, 50, 3_600_000),
    logFlushMs: r.int('SLUICE_SERVE_LOG_FLUSH_MS', d.logFlushMs, 1, 60_000),
    logFlushEvents: r.int('SLUICE_SERVE_LOG_FLUSH_EVENTS', d.logFlushEvents, 1, 1_000_000),
    logMaxBufferedEvents: r.int('SLUICE_SERVE_LOG_MAX_BUFFERED', d.logMaxBufferedEvents, 1, 100_000_000),
  };
}

/** The HTTP endpoint spools request bodies here, under the artifact store's directory. */
export function httpSpoolDir(artifactsDir: string): string {
  return path.join(artifactsDir, 'ingest-spool');
}

/**
 * SLUICE_INGEST_ROOTS: directories separated like PATH (":" here); default the HTTP spool and
 * `<SLUICE_DATA_DIR>/data`. Each must be absolute (a relative root would move with the worker's
 * working directory).
 */
function rolePasswords(r: EnvReader): { owner: string; worker: string } | undefined {
  const owner = r.string('SLUICE_DB_OWNER_PASSWORD');
  const worker = r.string('SLUICE_DB_WORKER_PASSWORD');
  if (owner === undefined && worker === undefined) return undefined;
  const hex = /^[0-9a-f]{32,128}$/;
  for (const [name, v] of [
    ['SLUICE_DB_OWNER_PASSWORD', owner],
    ['SLUICE_DB_WORKER_PASSWORD', worker],
  ] as const) {
    if (v === undefined || !hex.test(v)) {
      r.issues.push({
        variable: name,
        value: v === undefined ? '' : '<redacted>',
        expected: '32 to 128 lower-case hex digits (e.g. openssl rand -hex 24), set together with the other role password',
      });
      return undefined;
    }
  }
  return { owner: owner as string, worker: worker as string };
}

function ingestRoots(r: EnvReader, cwd: string, dataDir: string, artifactsDir: string): string[] {
  const raw = r.string('SLUICE_INGEST_ROOTS');
  if (raw === undefined) return [httpSpoolDir(artifactsDir), path.join(dataDir, 'data')];
  const roots = raw.split(path.delimiter).filter((p) => p !== '');
  const relative = roots.find((p) => !path.isAbsolute(p));
  if (relative !== undefined || roots.length === 0) {
    r.issues.push({ variable: 'SLUICE_INGEST_ROOTS', value: raw, expected: `absolute directories separated by "${path.delimiter}"` });
    return [httpSpoolDir(artifactsDir), path.join(dataDir, 'data')];
  }
  return roots.map((p) => path.resolve(cwd, p));
}

/** Parses the environment; never throws. */
export function parseConfig(env: Env = process.env, cwd: string = process.cwd()): ConfigResult {
  const r = new EnvReader(env);
  const dataDir = path.resolve(cwd, r.string('SLUICE_DATA_DIR') ?? '.sluice');
  const certPath = r.string('TEMPORAL_TLS_CERT');
  const keyPath = r.string('TEMPORAL_TLS_KEY');
  const caPath = r.string('TEMPORAL_TLS_CA');
  const serverName = r.string('TEMPORAL_TLS_SERVER_NAME');
  const tlsFlag = r.string('TEMPORAL_TLS');
  if (tlsFlag !== undefined && !['true', 'false', '1', '0'].includes(tlsFlag)) {
    r.issues.push({ variable: 'TEMPORAL_TLS', value: tlsFlag, expected: 'true or false' });
  }
  if ((certPath === undefined) !== (keyPath === undefined)) {
    r.issues.push({
      variable: certPath === undefined ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY',
      value: '',
      expected: 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY to be set together (mTLS client certificate and key)',
    });
  }
  const apiKey = r.string('TEMPORAL_API_KEY');
  const wantsTls = tlsFlag === 'true' || tlsFlag === '1' || certPath !== undefined || caPath !== undefined || apiKey !== undefined;
  const tls = tlsFlag === 'false' || tlsFlag === '0' || !wantsTls ? undefined : { certPath, keyPath, caPath, serverName };

  const artifactsDir = path.resolve(cwd, r.string('SLUICE_ARTIFACTS') ?? path.join(dataDir, 'artifacts'));
  const value: SluiceConfig = {
    temporal: {
      address: r.hostPort('TEMPORAL_ADDRESS'),
      namespace: r.identifier('TEMPORAL_NAMESPACE', 'sluice'),
      apiKey,
      tls,
    },
    temporalCliPath: r.string('TEMPORAL_CLI_PATH'),
    databaseUrl: r.postgresUrl('DATABASE_URL'),
    databaseOwnerUrl: r.postgresUrl('SLUICE_DATABASE_OWNER_URL'),
    rolePasswordsFile: path.resolve(cwd, r.string('SLUICE_ROLE_PASSWORDS_FILE') ?? path.join(dataDir, 'postgres-roles.json')),
    rolePasswords: rolePasswords(r),
    dataDir,
    cacheDir: defaultCacheDir(env),
    artifactsDir,
    taskQueues: {
      cpu: r.identifier('SLUICE_TASK_QUEUE_CPU', DEFAULT_TASK_QUEUES.cpu),
      gpu: r.identifier('SLUICE_TASK_QUEUE_GPU', DEFAULT_TASK_QUEUES.gpu),
    },
    gpuCount: r.int('SLUICE_GPU_COUNT', 1, 1, 64),
    onnxCuda: r.bool('SLUICE_ONNX_CUDA', false),
    commandTrainers: r.bool('SLUICE_COMMAND_TRAINERS', false),
    // The system interpreter, not a pyenv/venv shim first on PATH: Debian's python3-torch lives there.
    python: r.string('SLUICE_PYTHON') ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'),
    cpuActivityConcurrency: r.int('SLUICE_CPU_CONCURRENCY', Math.max(2, os.cpus().length * 2), 1, 1024),
    ingestCopyStreams: r.string('SLUICE_INGEST_COPY_STREAMS') === undefined ? undefined : r.int('SLUICE_INGEST_COPY_STREAMS', 1, 1, 16),
    ingestRoots: ingestRoots(r, cwd, dataDir, artifactsDir),
    shutdownGraceSeconds: r.int('SLUICE_SHUTDOWN_GRACE_SECONDS', 30, 0, 3600),
    devServer: {
      port: r.int('SLUICE_TEMPORAL_PORT', 7233, 1, 65535),
      uiPort: r.int('SLUICE_TEMPORAL_UI_PORT', 8233, 1, 65535),
      embeddedPostgresPort: r.int('SLUICE_PG_PORT', 54329, 1, 65535),
    },
    httpIngest: httpIngestConfig(r),
    serve: serveConfig(r),
    metrics: { host: r.host('SLUICE_METRICS_HOST', '127.0.0.1'), port: r.int('SLUICE_METRICS_PORT', 0, 0, 65535) || undefined },
    logFormat: r.oneOf('SLUICE_LOG_FORMAT', ['json', 'text'] as const),
    logLevel: r.oneOf('SLUICE_LOG_LEVEL', ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const),
  };
  return r.issues.length > 0 ? { ok: false, issues: r.issues } : { ok: true, value };
}

/** Parses the environment and throws a {@link ConfigError} listing every bad variable. */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): SluiceConfig {
  const result = parseConfig(env, cwd);
  if (!result.ok) throw new ConfigError(result.issues);
  return result.value;
}
