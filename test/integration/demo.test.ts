// The README's main command, run as a user runs it (against the test server and a fresh database).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { createTestDatabase, createTestNamespace, testTemporalAddress, uniqueName, type TestDatabase } from '../helpers/env';

const root = path.resolve(__dirname, '../..');

describe('npm run demo', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs the pipeline end to end: counts balance, the transform catches up, validation passes, the rebuild hashes', async () => {
    const connection = await Connection.connect({ address: testTemporalAddress() });
    const namespace = await createTestNamespace(connection);
    await connection.close();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-demo-'));
    const queue = uniqueName('demo');
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_NAMESPACE: namespace,
      // a superuser, as on a first start: the demo creates the roles, migrates as sluice_owner and runs as sluice_worker
      DATABASE_URL: db.adminUrl,
      SLUICE_DATA_DIR: dataDir,
      SLUICE_TASK_QUEUE_CPU: `${queue}-cpu`,
      SLUICE_TASK_QUEUE_GPU: `${queue}-gpu`,
      SLUICE_DEMO_EVENTS: '3000',
    };
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['scripts/demo.ts', '--exit'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 170_000,
    });
    const out = r.stdout;
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr + out }).toEqual({ status: 0, stderr: '' });
    const counts = /received (\d+) = accepted (\d+) \+ quarantined (\d+) \+ duplicates (\d+) ✓/.exec(out);
    expect(counts).not.toBeNull();
    const [received, accepted, quarantined, duplicates] = counts!.slice(1).map(Number) as [number, number, number, number];
    expect(received).toBe(accepted + quarantined + duplicates);
    expect(quarantined).toBeGreaterThan(0);
    expect(duplicates).toBeGreaterThan(0);
    // what the demo printed is what the database holds
    const log = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'page_views'");
    const quarantine = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM sluice.quarantine WHERE source = 'page_views'");
    expect([log.rows[0]!.n, quarantine.rows[0]!.n]).toEqual([accepted, quarantined]);
    const derived = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice_derived.page_views_typed');
    expect(derived.rows[0]!.n).toBe(accepted);
    // and the ML steps: one dataset snapshot of the derived table, one model trained on it and registered
    const models = await db.pool.query<{ name: string; version: number; dataset_id: string }>(
      'SELECT name, version, dataset_id FROM sluice.models',
    );
    const datasets = await db.pool.query<{ id: string; row_count: string }>('SELECT id, row_count::text FROM sluice.datasets');
    expect(datasets.rows).toHaveLength(1);
    expect(Number(datasets.rows[0]!.row_count)).toBe(accepted);
    expect(models.rows).toEqual([{ name: 'page_views_device', version: 1, dataset_id: datasets.rows[0]!.id }]);
    expect(out).toMatch(/page_views_device@1: \d+ epochs, test accuracy 0\.\d{3}/);
    expect(out).toMatch(/5\. validate page_views[\s\S]*passed/);
    expect(out).toMatch(new RegExp(`${accepted} rows, sha256 [0-9a-f]{16}…`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
