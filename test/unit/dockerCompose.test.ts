// No container engine runs here, so the compose file is checked as data: what a user would start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../../config';
import { TEMPORAL_DEV_DYNAMIC_CONFIG } from '../../scripts/provision/temporal';

type Service = {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { resources?: { reservations?: { devices?: { driver: string; count: number; capabilities: string[] }[] } } };
  healthcheck?: { test: string[] };
};

const root = path.resolve(__dirname, '../..');
const composeText = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');

/**
 * Compose's interpolation, as `docker compose` applies it to the values of the parsed YAML (not to
 * comments): `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`,
 * and `$$` for a `$`.
 */
function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}/g,
    (match, name: string, op: string | undefined, arg: string | undefined) => {
      if (match === '$$') return '$';
      const value = env[name];
      const missing = op?.startsWith(':') ? !value : value === undefined;
      if (missing && op?.endsWith('?')) throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
      if (missing && op?.endsWith('-')) return arg ?? '';
      return value ?? '';
    },
  );
}

function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  return value;
}

/** The variables .env.example lists, with the values it gives them. */
const envExample = Object.fromEntries(
  fs
    .readFileSync(path.join(root, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
/** What a user's .env would hold: every listed variable set (letters and digits, as .env.example asks). */
const dotEnv = Object.fromEntries(Object.keys(envExample).map((k, i) => [k, `${'5ec2e7'.repeat(8)}${i.toString(16).padStart(2, '0')}`]));
type Compose = { services: Record<string, Service>; volumes: Record<string, unknown> };
const rawDoc = YAML.parse(composeText, { merge: true }) as Compose;
const composeWith = (env: Record<string, string | undefined>) => mapStrings(rawDoc, (v) => interpolate(v, env)) as Compose;
/** The file as compose sees it with a complete .env. */
const services = composeWith(dotEnv).services;
/** Before interpolation. */
const raw = rawDoc.services;

describe('docker-compose.yml', () => {
  it('has PostgreSQL, Temporal, its UI and both workers', () => {
    expect(Object.keys(services).sort()).toEqual([
      'db-setup',
      'ingest-http',
      'postgres',
      'serve',
      'temporal',
      'temporal-setup',
      'temporal-ui',
      'worker-cpu',
      'worker-gpu',
    ]);
  });

  it('pins every image and builds the workers from the Dockerfile in this repo', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image) expect({ name, pinned: /:[\w.-]+$/.test(s.image) && !s.image.endsWith(':latest') }).toEqual({ name, pinned: true });
      else expect(s.build).toBeDefined();
    }
    const build = services['worker-cpu']?.build;
    expect(build).toBeDefined();
    expect(fs.existsSync(path.join(root, build!.context, build!.dockerfile))).toBe(true);
    // the GPU worker reuses the image the CPU worker builds
    expect(services['worker-gpu']?.image).toBe(services['worker-cpu']?.image);
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/npm run build/);
  });

  it('worker entry points exist as sources of the compiled files they run', () => {
    for (const name of ['worker-cpu', 'worker-gpu', 'ingest-http', 'serve']) {
      const cmd = services[name]?.command ?? [];
      expect(cmd[0]).toBe('node');
      const compiled = cmd[1] ?? '';
      expect(compiled).toMatch(/^dist\/workers\/\w+\.js$/);
      expect(fs.existsSync(path.join(root, compiled.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    }
  });

  it('publishes the ports users connect to on 127.0.0.1 only', () => {
    expect(services.postgres?.ports).toEqual(['127.0.0.1:5432:5432']);
    expect(services.temporal?.ports).toEqual(['127.0.0.1:7233:7233']);
    expect(services['temporal-ui']?.ports).toEqual(['127.0.0.1:8080:8080']);
    expect(services['ingest-http']?.ports).toEqual(['127.0.0.1:8088:8080']);
    expect(services.serve?.ports).toEqual(['127.0.0.1:8090:8090']);
    for (const [name, s] of Object.entries(services)) {
      for (const port of s.ports ?? [])
        expect({ name, port, loopback: port.startsWith('127.0.0.1:') }).toEqual({ name, port, loopback: true });
    }
    // Exposing one is a deliberate act, documented in the file.
    expect(composeText).toMatch(/docker-compose\.override\.yml/);
    expect(composeText).toMatch(/ports: !override/);
    expect(composeText).toMatch(/mTLS/);
    expect(composeText).toMatch(/API keys/);
  });

  it('takes every password and token from .env as required variables, listed in .env.example; .env is neither committed nor built in', () => {
    const references: string[] = [];
    mapStrings(rawDoc, (v) => {
      for (const m of v.matchAll(/\$\{([^}]*)\}/g)) references.push(m[1] ?? '');
      return v;
    });
    expect(references.length).toBeGreaterThan(0);
    for (const ref of references) expect(ref).toMatch(/^[A-Z_][A-Z0-9_]*:\?\S.*$/); // ${VAR:?message}: no default, no silent empty value
    const required = [...new Set(references.map((r) => r.slice(0, r.indexOf(':'))))].sort();
    expect(required).toEqual([
      'SLUICE_DB_OWNER_PASSWORD',
      'SLUICE_DB_WORKER_PASSWORD',
      'SLUICE_INGEST_TOKEN',
      'SLUICE_POSTGRES_PASSWORD',
      'SLUICE_SERVE_TOKEN',
    ]);
    expect(Object.keys(envExample).sort()).toEqual(required);
    // The example holds no secret to copy by mistake.
    for (const value of Object.values(envExample)) expect(value).toBe('');
    expect(() => composeWith({})).toThrow(/SLUICE_\w+_PASSWORD.*\.env/);
    expect(() => composeWith({ ...dotEnv, SLUICE_INGEST_TOKEN: '' })).toThrow(/SLUICE_INGEST_TOKEN.*\.env/);
    expect(() => composeWith({ ...dotEnv, SLUICE_SERVE_TOKEN: '' })).toThrow(/SLUICE_SERVE_TOKEN.*\.env/);
    // Where each one goes.
    const requires = (value: string | undefined, name: string) => expect(value).toMatch(new RegExp(`\\$\\{${name}:\\?`));
    requires(raw.postgres?.environment?.POSTGRES_PASSWORD, 'SLUICE_POSTGRES_PASSWORD');
    requires(raw.temporal?.environment?.POSTGRES_PWD, 'SLUICE_POSTGRES_PASSWORD');
    for (const name of ['worker-cpu', 'worker-gpu', 'ingest-http', 'serve'])
      requires(raw[name]?.environment?.DATABASE_URL, 'SLUICE_DB_WORKER_PASSWORD');
    // the superuser's password reaches only PostgreSQL, Temporal's persistence and the one-shot that creates the roles
    requires(raw['db-setup']?.environment?.DATABASE_URL, 'SLUICE_POSTGRES_PASSWORD');
    requires(raw['db-setup']?.environment?.SLUICE_DB_OWNER_PASSWORD, 'SLUICE_DB_OWNER_PASSWORD');
    requires(raw['db-setup']?.environment?.SLUICE_DB_WORKER_PASSWORD, 'SLUICE_DB_WORKER_PASSWORD');
    for (const [name, svc] of Object.entries(raw)) {
      if (['postgres', 'temporal', 'db-setup'].includes(name)) continue;
      expect({ name, superuser: JSON.stringify(svc.environment ?? {}).includes('SLUICE_POSTGRES_PASSWORD') }).toEqual({
        name,
        superuser: false,
      });
    }
    requires(raw['ingest-http']?.environment?.SLUICE_INGEST_TOKEN, 'SLUICE_INGEST_TOKEN');
    requires(raw.serve?.environment?.SLUICE_SERVE_TOKEN, 'SLUICE_SERVE_TOKEN');
    expect(composeText).not.toMatch(/sluice:sluice@|PASSWORD: sluice|PWD: sluice/);
    const lines = (file: string) =>
      fs
        .readFileSync(path.join(root, file), 'utf8')
        .split('\n')
        .map((l) => l.trim());
    expect(lines('.gitignore')).toContain('.env');
    expect(lines('.dockerignore')).toContain('.env');
  });

  it('Temporal persists to the compose PostgreSQL with its credentials', () => {
    const pg = services.postgres!.environment!;
    const t = services.temporal!.environment!;
    expect(t.DB).toBe('postgres12');
    expect(t.POSTGRES_SEEDS).toBe('postgres');
    expect(t.POSTGRES_USER).toBe(pg.POSTGRES_USER);
    expect(t.POSTGRES_PWD).toBe(pg.POSTGRES_PASSWORD);
    expect(pg.POSTGRES_PASSWORD).toBe(dotEnv.SLUICE_POSTGRES_PASSWORD);
    expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it("gives Temporal sluice's dynamic config, the same values as the dev server's", () => {
    const t = services.temporal as Service & { volumes?: string[] };
    const inContainer = `/etc/temporal/${t.environment!.DYNAMIC_CONFIG_FILE_PATH}`;
    const mount = (t.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === inContainer);
    expect(mount).toBeDefined();
    const file = path.join(root, mount![0]!);
    const values = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, { value: unknown; constraints?: unknown }[]>;
    const asDevServer = Object.entries(values).map(([key, [first, ...rest]]) => {
      expect(rest).toEqual([]);
      expect(first!.constraints).toBeUndefined();
      return `${key}=${String(first!.value)}`;
    });
    expect(asDevServer.sort()).toEqual([...TEMPORAL_DEV_DYNAMIC_CONFIG].sort());
    // what the dev server gets must not leave task dispatch spaced by the default 20 reads/s
    expect(TEMPORAL_DEV_DYNAMIC_CONFIG).toContain('history.transferProcessorMaxPollRPS=1000');
  });

  it('gives the workers a valid sluice configuration pointing at the compose services, as sluice_worker', () => {
    const pg = services.postgres!.environment!;
    for (const name of ['worker-cpu', 'worker-gpu']) {
      const env = services[name]!.environment!;
      const parsed = parseConfig(env);
      expect(parsed.ok).toBe(true);
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      const db = new URL(env.DATABASE_URL!);
      expect([db.hostname, db.username, db.password, db.pathname]).toEqual([
        'postgres',
        'sluice_worker',
        dotEnv.SLUICE_DB_WORKER_PASSWORD,
        `/${pg.POSTGRES_DB}`,
      ]);
      expect(services[name]!.depends_on?.['db-setup']).toEqual({ condition: 'service_completed_successfully' });
    }
    // db-setup creates the roles with the superuser, then migrates as sluice_owner
    const setup = services['db-setup']!;
    expect(setup.command).toEqual(['node', 'dist/scripts/migrate.js']);
    expect(fs.existsSync(path.join(root, 'scripts/migrate.ts'))).toBe(true);
    const parsedSetup = parseConfig(setup.environment!);
    expect(parsedSetup.ok && parsedSetup.value.rolePasswords).toEqual({
      owner: dotEnv.SLUICE_DB_OWNER_PASSWORD,
      worker: dotEnv.SLUICE_DB_WORKER_PASSWORD,
    });
    expect(new URL(setup.environment!.DATABASE_URL!).username).toBe(pg.POSTGRES_USER);
    expect(services['worker-gpu']!.environment!.SLUICE_GPU_COUNT).toBe('1');
  });

  it("the HTTP ingest endpoint shares the artifacts volume with the CPU worker, requires a token, and listens on the container's interfaces", () => {
    const http = services['ingest-http']!;
    expect(raw['ingest-http']!.environment!.SLUICE_INGEST_TOKEN).toMatch(/^\$\{SLUICE_INGEST_TOKEN:\?/);
    expect(http.environment!.SLUICE_ARTIFACTS).toBe(services['worker-cpu']!.environment!.SLUICE_ARTIFACTS);
    expect((http as { volumes?: string[] }).volumes).toEqual((services['worker-cpu'] as { volumes?: string[] }).volumes);
    // Inside the container loopback would be unreachable through the published port.
    const parsed = parseConfig(http.environment!);
    expect(parsed.ok && parsed.value.httpIngest).toMatchObject({ host: '0.0.0.0', port: 8080, token: dotEnv.SLUICE_INGEST_TOKEN });
    expect(http.ports).toEqual([`127.0.0.1:8088:${http.environment!.SLUICE_HTTP_PORT}`]);
  });

  it("the scoring service reads the shared artifacts volume, requires a token, and listens on the container's interfaces", () => {
    const serve = services.serve!;
    expect(serve.image).toBe(services['worker-cpu']?.image);
    expect(serve.environment!.SLUICE_ARTIFACTS).toBe(services['worker-cpu']!.environment!.SLUICE_ARTIFACTS);
    expect((serve as { volumes?: string[] }).volumes).toEqual((services['worker-cpu'] as { volumes?: string[] }).volumes);
    const parsed = parseConfig(serve.environment!);
    expect(parsed.ok && parsed.value.serve).toMatchObject({ host: '0.0.0.0', port: 8090, token: dotEnv.SLUICE_SERVE_TOKEN });
    expect(serve.ports).toEqual([`127.0.0.1:8090:${serve.environment!.SLUICE_SERVE_PORT}`]);
  });

  it('reserves an NVIDIA GPU for the GPU worker only', () => {
    const devices = services['worker-gpu']?.deploy?.resources?.reservations?.devices ?? [];
    expect(devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(services['worker-cpu']?.deploy).toBeUndefined();
  });

  it('orders start-up through health checks, and every dependency exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        if (condition === 'service_healthy') expect(services[dep]?.healthcheck).toBeDefined();
      }
    }
    expect(services['worker-cpu']?.depends_on?.['temporal-setup']?.condition).toBe('service_completed_successfully');
    // PostgreSQL is healthy before the roles and migrations are set up, and they before any worker starts
    expect(services['db-setup']?.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(services['worker-cpu']?.depends_on?.['db-setup']?.condition).toBe('service_completed_successfully');
  });

  it('registers the sluice namespace and every sluice search attribute', () => {
    const script = JSON.stringify(services['temporal-setup']);
    expect(script).toContain('namespace create -n sluice');
    for (const sa of ['SluicePipeline', 'SluiceStep', 'SluiceStatus', 'SluiceDataset', 'SluiceModel']) expect(script).toContain(sa);
  });
});
