import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../client/cli';
import { contractImpact } from '../../contracts/impact';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

/** What used a contract version: log rows, quarantine, datasets, models and runs, from a real database. */
describe('contract impact', () => {
  let db: TestDatabase;
  let dir: string;
  const sha = (c: string): string => c.repeat(64);

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-impact-'));
    await db.pool.query(`
      INSERT INTO sluice.raw_events (source, event_id, contract, contract_version, payload, batch_id) VALUES
        ('orders', 'a', 'orders', '1.0.0', '{}', 'batch-1'), ('orders', 'b', 'orders', '1.0.0', '{}', 'batch-2'),
        ('orders', 'c', 'orders', '2.0.0', '{}', 'batch-3'), ('orders_eu', 'a', 'orders', '1.0.0', '{}', 'batch-4');
      INSERT INTO sluice.quarantine (source, event_id, contract, contract_version, payload, batch_id, reason) VALUES
        ('orders', 'q1', 'orders', '1.0.0', '{}', 'batch-1', '{}');
      INSERT INTO sluice.datasets (id, transform, transform_version, contract_versions, row_count) VALUES
        ('${sha('a')}', 'daily_orders', 1, '{"orders": ["1.0.0"]}', 10),
        ('${sha('b')}', 'daily_orders', 2, '{"orders": ["1.0.0", "2.0.0"]}', 20),
        ('${sha('c')}', 'daily_orders', 3, '{"orders": ["2.0.0"]}', 30);
      INSERT INTO sluice.models (name, version, dataset_id, code_version, trainer, onnx_uri, onnx_sha256, workflow_id, run_id) VALUES
        ('churn', 1, '${sha('a')}', 'git:1', 'logreg', 'file:///m1', '${sha('d')}', 'train-1', 'r1'),
        ('churn', 2, '${sha('c')}', 'git:2', 'logreg', 'file:///m2', '${sha('e')}', 'train-2', 'r2');
      INSERT INTO sluice.validations (workflow_id, run_id, contract, contract_version, dataset, row_count, passed, errors, warnings, report_sha256, html_sha256) VALUES
        ('validate-1', 'r9', 'orders', '1.0.0', '{}', 3, true, 0, 0, '${sha('1')}', '${sha('2')}');
      INSERT INTO sluice.run_events (workflow_id, run_id, workflow_type, step, status, details) VALUES
        ('export-1', 'r7', 'export', 'exportDataset', 'completed', '{"contract": "orders", "contractVersion": "1.0.0", "rows": 3}'),
        ('export-2', 'r8', 'export', 'exportDataset', 'completed', '{"contract": "orders", "contractVersion": "2.0.0"}');
    `);
  });
  afterAll(async () => {
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists the log rows, quarantine, datasets, models and runs of exactly that version', async () => {
    const i = await contractImpact(db.pool, 'orders', '1.0.0');
    expect(i.logRows).toEqual([
      { source: 'orders', rows: 2, fromSeq: expect.any(String), toSeq: expect.any(String), batches: 2 },
      { source: 'orders_eu', rows: 1, fromSeq: expect.any(String), toSeq: expect.any(String), batches: 1 },
    ]);
    expect(i.quarantinedRows).toEqual([{ source: 'orders', rows: 1 }]);
    expect(i.datasets.map((d) => `${d.transform} v${d.transformVersion}`)).toEqual(['daily_orders v1', 'daily_orders v2']);
    expect(i.models).toEqual([{ name: 'churn', version: 1, datasetId: sha('a') }]);
    expect(i.runs).toEqual([
      { workflowId: 'export-1', runId: 'r7', step: 'exportDataset' },
      { workflowId: 'batch:batch-1', runId: '', step: 'ingest' },
      { workflowId: 'batch:batch-2', runId: '', step: 'ingest' },
      { workflowId: 'batch:batch-4', runId: '', step: 'ingest' },
      { workflowId: 'validate-1', runId: 'r9', step: 'validate' },
    ]);
    const none = await contractImpact(db.pool, 'orders', '9.9.9');
    expect(none).toMatchObject({ logRows: [], quarantinedRows: [], datasets: [], models: [], runs: [] });
  });

  it('`sluice contracts diff` prints the impact of the old version for a breaking change', async () => {
    const schema = (props: Record<string, unknown>) => ({ type: 'object', properties: props });
    const write = (v: string, s: Record<string, unknown>): string => {
      const f = path.join(dir, `orders.v${v}.json`);
      fs.writeFileSync(f, JSON.stringify({ contract: 'orders', version: v, owner: 'o', schema: s }));
      return f;
    };
    const a = write('1.0.0', schema({ id: { type: 'string', maxLength: 9 }, note: { type: 'string', maxLength: 9 } }));
    const b = write('1.1.0', schema({ id: { type: 'string', maxLength: 9 } }));
    const out: string[] = [];
    const code = await runCli(['contracts', 'diff', a, b], {
      out: (t) => void out.push(t),
      err: () => undefined,
      env: { DATABASE_URL: db.url },
    });
    expect(code).toBe(1);
    const text = out.join('');
    expect(text).toMatch(/breaking\s+field_removed\s+\/note: field removed/);
    expect(text).toMatch(/impact of orders@1\.0\.0:\n {2}log rows: orders 2 rows \(seq \d+\.\.\d+, 2 batches\); orders_eu 1 rows/);
    expect(text).toMatch(/ {2}models: churn v1\n/);
    expect(text).toMatch(/ {2}runs: .*validate validate-1\/r9/);
  });
});
