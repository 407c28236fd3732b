// No container engine runs here, so the compose file is checked as data: what a user would start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../../config';

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
const doc = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = doc.services;

describe('docker-compose.yml', () => {
  it('has PostgreSQL, Temporal, its UI and both workers', () => {
    expect(Object.keys(services).sort()).toEqual(['ingest-http', 'postgres', 'temporal', 'temporal-setup', 'temporal-ui', 'worker-cpu', 'worker-gpu']);
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
    for (const name of ['worker-cpu', 'worker-gpu', 'ingest-http']) {
      const cmd = services[name]?.command ?? [];
      expect(cmd[0]).toBe('node');
      const compiled = cmd[1] ?? '';
      expect(compiled).toMatch(/^dist\/workers\/\w+\.js$/);
      expect(fs.existsSync(path.join(root, compiled.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    }
  });

  it('publishes the ports users connect to', () => {
    expect(services.postgres?.ports).toContain('5432:5432');
    expect(services.temporal?.ports).toContain('7233:7233');
    expect(services['temporal-ui']?.ports).toContain('8080:8080');
  });

  it('Temporal persists to the compose PostgreSQL with its credentials', () => {
    const pg = services.postgres!.environment!;
    const t = services.temporal!.environment!;
    expect(t.DB).toBe('postgres12');
    expect(t.POSTGRES_SEEDS).toBe('postgres');
    expect(t.POSTGRES_USER).toBe(pg.POSTGRES_USER);
    expect(t.POSTGRES_PWD).toBe(pg.POSTGRES_PASSWORD);
    expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('gives the workers a valid sluice configuration pointing at the compose services', () => {
    const pg = services.postgres!.environment!;
    for (const name of ['worker-cpu', 'worker-gpu']) {
      const env = services[name]!.environment!;
      const parsed = parseConfig(env);
      expect(parsed.ok).toBe(true);
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      const db = new URL(env.DATABASE_URL!);
      expect([db.hostname, db.username, db.password, db.pathname]).toEqual(['postgres', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
    }
    expect(services['worker-gpu']!.environment!.SLUICE_GPU_COUNT).toBe('1');
  });

  it('the HTTP ingest endpoint shares the artifacts volume with the CPU worker and requires a token', () => {
    const http = services['ingest-http']!;
    expect(http.environment!.SLUICE_INGEST_TOKEN).toMatch(/^\$\{SLUICE_INGEST_TOKEN:\?/);
    expect(http.environment!.SLUICE_ARTIFACTS).toBe(services['worker-cpu']!.environment!.SLUICE_ARTIFACTS);
    expect((http as { volumes?: string[] }).volumes).toEqual((services['worker-cpu'] as { volumes?: string[] }).volumes);
    expect(http.ports).toContain('8088:8080');
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
    expect(services['worker-cpu']?.depends_on?.postgres?.condition).toBe('service_healthy');
  });

  it('registers the sluice namespace and every sluice search attribute', () => {
    const script = JSON.stringify(services['temporal-setup']);
    expect(script).toContain('namespace create -n sluice');
    for (const sa of ['SluicePipeline', 'SluiceStep', 'SluiceStatus', 'SluiceDataset', 'SluiceModel']) expect(script).toContain(sa);
  });
});
