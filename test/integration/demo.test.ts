// The README's main command, run as a user runs it (against the test server and a fresh database).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { LocalArtifactStore } from '../../activities/artifacts';
import { pipelineWorkflowId } from '../../api';
import { createTestDatabase, createTestNamespace, testTemporalAddress, uniqueName, type TestDatabase } from '../helpers/env';

const root = path.resolve(__dirname, '../..');

describe('npm start (the demo)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs the whole loop: counts balance, the pipeline run completes, the model is promoted, every scored row is in the log', async () => {
    const connection = await Connection.connect({ address: testTemporalAddress() });
    const namespace = await createTestNamespace(connection);
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
    try {
      const r = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['scripts/demo.ts', '--exit'], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 280_000,
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
      const count = async (sql: string, params: unknown[] = []): Promise<number> =>
        (await db.pool.query<{ n: number }>(sql, params)).rows[0]!.n;
      expect([
        await count("SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'page_views'"),
        await count("SELECT count(*)::int AS n FROM sluice.quarantine WHERE source = 'page_views'"),
        await count('SELECT count(*)::int AS n FROM sluice_derived.page_views_typed'),
      ]).toEqual([accepted, quarantined, accepted]);

      // the pipeline run: one line per step as it completed, and Temporal says it completed
      for (const step of ['ingest', 'transform', 'validate', 'snapshot', 'train', 'deploy']) expect(out).toMatch(new RegExp(`✓ ${step} `));
      const key = /trigger key (\S+)/.exec(out)?.[1];
      const run = await new Client({ connection, namespace }).workflow.getHandle(pipelineWorkflowId('demo', key ?? '?')).describe();
      expect(run.status.name).toBe('COMPLETED');

      // the ML steps: one dataset snapshot of the derived table, one model trained on it, registered and promoted
      const datasets = await db.pool.query<{ id: string; row_count: string }>('SELECT id, row_count::text FROM sluice.datasets');
      expect(datasets.rows).toHaveLength(1);
      expect(Number(datasets.rows[0]!.row_count)).toBe(accepted);
      const models = await db.pool.query('SELECT name, version, dataset_id FROM sluice.models');
      expect(models.rows).toEqual([{ name: 'page_views_device', version: 1, dataset_id: datasets.rows[0]!.id }]);
      const champion = await db.pool.query(
        "SELECT version FROM sluice.model_aliases WHERE name = 'page_views_device' AND alias = 'champion'",
      );
      expect(champion.rows).toEqual([{ version: 1 }]);
      expect(out).toMatch(/validate .*passed: \d+ rows/);
      expect(out).toMatch(/model {7}page_views_device@1: \d+ epochs on \S+, test accuracy 0\.\d{3}/);
      // the data docs and model card links name HTML artifacts the run stored (the HTTP service that served them has stopped)
      const artifacts = new LocalArtifactStore(path.join(dataDir, 'artifacts'));
      for (const what of ['data docs', 'model card']) {
        const sha = new RegExp(`${what}: http://127\\.0\\.0\\.1:\\d+/v1/artifacts/([0-9a-f]{64})\\?sig=[0-9a-f]{32}`).exec(out)?.[1];
        expect({
          what,
          html: sha ? (await artifacts.get(sha)).toString('utf8', 0, 200).toLowerCase().includes('<html') : 'no link',
        }).toEqual({
          what,
          html: true,
        });
      }
      expect(out).toMatch(/deployment +page_views_device@1 → page-device: promoted, champion 1/);

      // the scored requests: each row answered is one prediction event in the log, none quarantined
      const scored = /predictions (\d+) rows scored in (\d+) requests .*, (\d+) logged to predictions_page_device/.exec(out);
      expect(scored).not.toBeNull();
      const [rows, requests, logged] = scored!.slice(1).map(Number) as [number, number, number];
      expect(requests).toBe(50);
      expect(rows).toBeGreaterThanOrEqual(requests);
      expect([
        logged,
        await count("SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'predictions_page_device'"),
        await count(
          "SELECT count(DISTINCT payload->>'request_id')::int AS n FROM sluice.raw_events WHERE source = 'predictions_page_device'",
        ),
        await count("SELECT count(*)::int AS n FROM sluice.quarantine WHERE source = 'predictions_page_device'"),
      ]).toEqual([rows, rows, requests, 0]);
    } finally {
      await connection.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
