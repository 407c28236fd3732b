// The registry from the command line (models list, datasets list, lineage both ways, --json, exit
// codes) and from the client (the same answers as the CLI's --json).
import { insertModelVersion, moveModelAlias } from '../../activities/registry/queries';
import { SluiceClient } from '../../client';
import { runCli } from '../../client/cli';
import { createTestDatabase, testConfig, testTemporalAddress, type TestDatabase } from '../helpers/env';

const DATASET = 'd'.repeat(64);

describe('sluice models / datasets / lineage', () => {
  let db: TestDatabase;
  const run = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env: { DATABASE_URL: db.url } });
    return { code, out, err };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(
      `INSERT INTO sluice.datasets (id, transform, transform_version, log_range, contract_versions, row_count, artifact_uri)
       VALUES ($1, 'orders_typed', 1, '{"orders": {"fromSeq": "1", "toSeq": "900"}}', '{"orders": ["1.0.0"]}', 900, 'file:///a')`,
      [DATASET],
    );
    for (const seed of [1, 2]) {
      await insertModelVersion(db.pool, {
        name: 'churn',
        datasetId: DATASET,
        codeVersion: 'abc123',
        codeDirty: false,
        task: 'binary',
        trainer: 'logistic_regression',
        parameters: { l2: 1 },
        seed,
        metrics: { task: 'binary', accuracy: seed === 1 ? 0.81 : 0.82 },
        onnxUri: `file:///m${seed}`,
        onnxSha256: String(seed).repeat(64),
        cardUri: null,
        cardSha256: null,
        workflowId: `train-${seed}`,
        runId: `run-${seed}`,
      });
    }
    await moveModelAlias(db.pool, { name: 'churn', alias: 'champion', version: 2, actor: 'test' });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('models list: every version with its metric and aliases, as a table and as JSON', async () => {
    const text = await run('models', 'list');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/churn@2\s+binary\s+logistic_regression\s+accuracy 0\.8200\s+dddddddddddd\s+champion/);
    const json = await run('models', 'list', '--json');
    expect(JSON.parse(json.out)).toMatchObject([
      { name: 'churn', version: 2, aliases: ['champion'], metric: { name: 'accuracy', value: 0.82 } },
      { name: 'churn', version: 1, aliases: [] },
    ]);
  });

  it('datasets list: the snapshot and how many models used it', async () => {
    const json = await run('datasets', 'list', '--json');
    expect(JSON.parse(json.out)).toEqual([
      expect.objectContaining({ id: DATASET, transform: 'orders_typed', transformVersion: 1, rowCount: 900, models: 2 }),
    ]);
  });

  it('lineage of a version or an alias, and the reverse by dataset, contract and log range', async () => {
    const byAlias = await run('lineage', 'churn@champion', '--json');
    expect(byAlias.code).toBe(0);
    expect(JSON.parse(byAlias.out)).toMatchObject({
      name: 'churn',
      version: 2,
      code: { version: 'abc123' },
      dataset: { id: DATASET },
      producedBy: { workflowId: 'train-2' },
    });
    const text = await run('lineage', 'churn@1');
    expect(text.out).toMatch(/log range\s+orders \[1, 900\]/);
    expect(text.out).toMatch(/contracts\s+orders@1\.0\.0/);
    for (const args of [
      ['--dataset', DATASET],
      ['--contract', 'orders@1.0.0'],
      ['--source', 'orders', '--from', '850', '--to', '2000'],
    ]) {
      const r = await run('lineage', ...args, '--json');
      expect((JSON.parse(r.out) as { version: number }[]).map((m) => m.version).sort()).toEqual([1, 2]);
    }
    const none = await run('lineage', '--source', 'orders', '--from', '901', '--to', '2000', '--json');
    expect(JSON.parse(none.out)).toEqual([]);
  });

  it('exit codes: 1 for an unknown model, 2 for a usage error or no DATABASE_URL', async () => {
    expect((await run('lineage', 'churn@9')).code).toBe(1);
    expect((await run('models', 'frobnicate')).code).toBe(2);
    const noDb = await runCli(['models', 'list'], { out: () => undefined, err: () => undefined, env: {} });
    expect(noDb).toBe(2);
  });

  it('the client answers as the CLI does: lineage, modelsUsing, listModels, listDatasets', async () => {
    const client = await SluiceClient.connect({ config: testConfig({ databaseUrl: db.url }), address: testTemporalAddress() });
    try {
      const cli = async (...argv: string[]): Promise<unknown> => JSON.parse((await run(...argv, '--json')).out);
      expect(await client.lineage('churn@champion')).toEqual(await cli('lineage', 'churn@champion'));
      expect(await client.modelsUsing({ kind: 'contract', contract: 'orders', version: '1.0.0' })).toEqual(
        await cli('lineage', '--contract', 'orders@1.0.0'),
      );
      expect((await client.modelsUsing({ kind: 'dataset', datasetId: DATASET })).map((m) => m.version).sort()).toEqual([1, 2]);
      expect(await client.listModels('churn')).toEqual(await cli('models', 'list', '--name', 'churn'));
      expect(await client.listDatasets()).toEqual(await cli('datasets', 'list'));
      await expect(client.lineage('churn@9')).rejects.toThrow(/churn/);
    } finally {
      await client.close();
    }
  });
});
