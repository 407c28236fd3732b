import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { MockActivityEnvironment } from '@temporalio/testing';
import type {
  ModelLineage,
  ModelVersionRef,
  RegisterModelInput,
  RegisterModelResult,
  SetModelAliasInput,
  SetModelAliasResult,
} from '../../api/models';
import { LocalArtifactStore } from '../../activities/artifacts';
import { toFailure } from '../../activities/failures';
import { exportModelToOnnx } from '../../activities/onnx';
import { createRegistryActivities, modelLineage, modelsUsing, readCodeVersion } from '../../activities/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { knownModel } from '../helpers/models';

const failureOf = (p: Promise<unknown>): Promise<unknown> => p.catch((err: unknown) => Promise.reject(toFailure(err)));
const DATASET = 'd'.repeat(64);
const OTHER_DATASET = 'e'.repeat(64);

describe('model registry', () => {
  let db: TestDatabase;
  let dir: string;
  let store: LocalArtifactStore;
  let onnx: { sha256: string; uri: string };
  let onnx2: { sha256: string; uri: string };
  let card: { sha256: string; uri: string };
  const logs: string[] = [];
  const code = { version: 'c0ffee', dirty: true, source: 'git' as const };
  let acts: ReturnType<typeof createRegistryActivities>;
  const envOf = (workflowId: string, runId: string) => new MockActivityEnvironment({ workflowExecution: { workflowId, runId } });
  const register = (env: MockActivityEnvironment, input: RegisterModelInput) =>
    env.run(acts.registerModel, input) as Promise<RegisterModelResult>;
  const setAlias = (input: SetModelAliasInput) =>
    envOf('deploy-churn', 'run-9').run(acts.setModelAlias, input) as Promise<SetModelAliasResult>;
  const base = (): RegisterModelInput => ({
    name: 'churn',
    datasetId: DATASET,
    task: 'binary',
    trainer: { kind: 'logistic_regression', parameters: { l2: 1, maxEpochs: 100 } },
    seed: 42,
    metrics: { accuracy: 0.9 },
    onnxSha256: onnx.sha256,
    card: { sha256: card.sha256 },
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-registry-'));
    store = new LocalArtifactStore(dir);
    onnx = await store.put(exportModelToOnnx(knownModel('binary')), { mediaType: 'application/onnx', extension: '.onnx' });
    onnx2 = await store.put(exportModelToOnnx(knownModel('binary', ['no', 'yes'])), { mediaType: 'application/onnx', extension: '.onnx' });
    card = await store.put('<!DOCTYPE html><title>card</title>', { mediaType: 'text/html', extension: '.html' });
    acts = createRegistryActivities({ pool: db.pool, artifacts: store, log: (m) => void logs.push(m) }, { codeVersion: code });
    // a transform, two of its builds (one over exactly the dataset's range) and the two datasets
    await db.pool.query(
      `INSERT INTO sluice.transforms (name, version, sources, sql, sql_sha256) VALUES ('orders_clean', 2, '{orders}', 'SELECT 1', $1)`,
      ['f'.repeat(64)],
    );
    await db.pool.query(
      `INSERT INTO sluice.transform_builds (build_id, name, version, from_seq, to_seq, rows, sha256, switched, workflow_id) VALUES
         ('b0000000000000001', 'orders_clean', 2, 1, 900, 880, $1, true, 'backfill-1'),
         ('b0000000000000002', 'orders_clean', 2, 1, 2000, 1900, $2, true, 'backfill-2'),
         ('b0000000000000003', 'orders_clean', 2, 500, 900, 400, $3, true, 'backfill-3')`,
      ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)],
    );
    await db.pool.query(
      `INSERT INTO sluice.datasets (id, transform, transform_version, log_range, contract_versions, row_count, artifact_uri) VALUES
         ($1, 'orders_clean', 2, '{"orders": {"fromSeq": "1", "toSeq": "900"}}', '{"orders": ["1.0.0", "1.1.0"]}', 880, 'file:///tmp/d.arrow'),
         ($2, NULL, NULL, '{"clicks": {"fromSeq": "50", "toSeq": "60"}}', '{"clicks": ["2.0.0"]}', 11, NULL)`,
      [DATASET, OTHER_DATASET],
    );
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('numbers versions per name, records code, trainer, seed, card and run; a retry of the same run and file returns its version', async () => {
    const first = await register(envOf('train-churn', 'run-1'), base());
    expect(first).toEqual({ name: 'churn', version: 1, created: true, onnxUri: onnx.uri, codeVersion: 'c0ffee', codeDirty: true });
    // the activity retried (same run, same file): the same version, no second row
    await expect(register(envOf('train-churn', 'run-1'), base())).resolves.toMatchObject({ version: 1, created: false });
    // another run, another model: version 2; another name starts at 1
    await expect(register(envOf('train-churn', 'run-2'), { ...base(), onnxSha256: onnx2.sha256 })).resolves.toMatchObject({
      version: 2,
      created: true,
    });
    await expect(register(envOf('train-fraud', 'run-1'), { ...base(), name: 'fraud', datasetId: OTHER_DATASET })).resolves.toMatchObject({
      version: 1,
      created: true,
    });
    const { rows } = await db.pool.query(
      `SELECT name, version, dataset_id, code_version, code_dirty, task, trainer, parameters, seed::int AS seed, metrics, onnx_sha256, onnx_uri, card_sha256, card_uri, workflow_id, run_id
         FROM sluice.models ORDER BY name, version`,
    );
    expect(rows).toHaveLength(3);
    expect(rows[0]).toEqual({
      name: 'churn',
      version: 1,
      dataset_id: DATASET,
      code_version: 'c0ffee',
      code_dirty: true,
      task: 'binary',
      trainer: 'logistic_regression',
      parameters: { l2: 1, maxEpochs: 100 },
      seed: 42,
      metrics: { accuracy: 0.9 },
      onnx_sha256: onnx.sha256,
      onnx_uri: onnx.uri,
      card_sha256: card.sha256,
      card_uri: card.uri,
      workflow_id: 'train-churn',
      run_id: 'run-1',
    });
    expect(logs.some((l) => l.includes('uncommitted changes'))).toBe(true);
  });

  it('gives concurrent registrations of one name distinct consecutive versions', async () => {
    const results = await Promise.all([3, 4, 5, 6].map((i) => register(envOf('train-churn', `run-par-${i}`), base())));
    expect(results.map((r) => r.version).sort()).toEqual([3, 4, 5, 6]);
  });

  it('registers nothing when the ONNX file or the card is missing or damaged, or the dataset is unknown', async () => {
    const count = async () => Number((await db.pool.query('SELECT count(*) FROM sluice.models')).rows[0].count);
    const before = await count();
    const env = envOf('train-churn', 'run-bad');
    await expect(failureOf(register(env, { ...base(), onnxSha256: 'a'.repeat(64) }))).rejects.toMatchObject({
      type: 'SLUICE_ARTIFACT_NOT_FOUND',
      nonRetryable: true,
      message: `ONNX model ${'a'.repeat(64)} is not in the artifact store`,
    });
    await expect(failureOf(register(env, { ...base(), card: { sha256: 'c'.repeat(64) } }))).rejects.toMatchObject({
      type: 'SLUICE_ARTIFACT_NOT_FOUND',
      message: expect.stringMatching(/^model card c{64}/),
    });
    await expect(failureOf(register(env, { ...base(), datasetId: '9'.repeat(64) }))).rejects.toMatchObject({
      type: 'SLUICE_DATASET_NOT_FOUND',
      message: expect.stringMatching(/dataset 9{64} is not registered/),
    });
    await expect(failureOf(register(env, { ...base(), name: 'Churn Model' }))).rejects.toMatchObject({ type: 'SLUICE_INVALID_INPUT' });
    const damaged = await store.put(exportModelToOnnx(knownModel('binary', ['a', 'b'])), {
      mediaType: 'application/onnx',
      extension: '.onnx',
    });
    fs.writeFileSync(new URL(damaged.uri), 'not the model');
    await expect(failureOf(register(env, { ...base(), onnxSha256: damaged.sha256 }))).rejects.toMatchObject({
      type: 'SLUICE_ARTIFACT_CORRUPT',
    });
    expect(await count()).toBe(before);
  });

  it('moves aliases in one transaction with the alias history; a move to where it points writes nothing', async () => {
    await expect(setAlias({ name: 'churn', alias: 'champion', version: 1, actor: 'alice', reason: 'first model' })).resolves.toEqual({
      name: 'churn',
      alias: 'champion',
      version: 1,
      previousVersion: null,
      changed: true,
    });
    await expect(setAlias({ name: 'churn', alias: 'challenger', version: 2, actor: 'train-churn' })).resolves.toMatchObject({
      previousVersion: null,
      changed: true,
    });
    await expect(setAlias({ name: 'churn', alias: 'champion', version: 2, actor: 'bob', reason: 'beat v1 by 2 points' })).resolves.toEqual({
      name: 'churn',
      alias: 'champion',
      version: 2,
      previousVersion: 1,
      changed: true,
    });
    await expect(setAlias({ name: 'churn', alias: 'champion', version: 2, actor: 'bob' })).resolves.toMatchObject({
      changed: false,
      previousVersion: 2,
    });
    const { rows } = await db.pool.query("SELECT alias, version FROM sluice.model_aliases WHERE name = 'churn' ORDER BY alias");
    expect(rows).toEqual([
      { alias: 'challenger', version: 2 },
      { alias: 'champion', version: 2 },
    ]);
    const history = await envOf('cli', 'r').run(acts.listModelAliasHistory, { name: 'churn', alias: 'champion' });
    expect(history).toEqual([
      {
        alias: 'champion',
        version: 1,
        previousVersion: null,
        actor: 'alice',
        reason: 'first model',
        workflowId: 'deploy-churn',
        runId: 'run-9',
        at: expect.any(String),
      },
      {
        alias: 'champion',
        version: 2,
        previousVersion: 1,
        actor: 'bob',
        reason: 'beat v1 by 2 points',
        workflowId: 'deploy-churn',
        runId: 'run-9',
        at: expect.any(String),
      },
    ]);
    await expect(failureOf(setAlias({ name: 'churn', alias: 'champion', version: 99, actor: 'bob' }))).rejects.toMatchObject({
      type: 'SLUICE_UNKNOWN_MODEL',
      message: 'model churn@99 is not registered',
    });
    await expect(failureOf(setAlias({ name: 'churn', alias: 'Champion!', version: 1, actor: 'bob' }))).rejects.toMatchObject({
      type: 'SLUICE_INVALID_INPUT',
    });
    // the history is a fact table: it never changes
    await expect(db.pool.query('DELETE FROM sluice.model_alias_events')).rejects.toThrow(/permission denied/);
    await expect(db.ownerPool().query('DELETE FROM sluice.model_alias_events')).rejects.toThrow(/append-only/);
  });

  it('answers lineage of <model>@<version> and <model>@<alias>: dataset, transform builds, log range, contracts, code, trainer, run, aliases', async () => {
    const lineage = (await envOf('cli', 'r').run(acts.describeModelLineage, 'churn@1')) as ModelLineage;
    expect(lineage).toMatchObject({
      name: 'churn',
      version: 1,
      task: 'binary',
      onnx: { uri: onnx.uri, sha256: onnx.sha256 },
      card: { uri: card.uri, sha256: card.sha256 },
      metrics: { accuracy: 0.9 },
      code: { version: 'c0ffee', dirty: true },
      trainer: { kind: 'logistic_regression', parameters: { l2: 1, maxEpochs: 100 }, seed: 42 },
      producedBy: { workflowId: 'train-churn', runId: 'run-1' },
      dataset: {
        id: DATASET,
        rowCount: 880,
        artifactUri: 'file:///tmp/d.arrow',
        logRange: { orders: { fromSeq: '1', toSeq: '900' } },
        contracts: [{ name: 'orders', versions: ['1.0.0', '1.1.0'] }],
      },
      aliases: [],
    });
    // builds of orders_clean v2 that cover 1–900: the exact one first; 500–900 does not cover it
    expect(lineage.transform).toEqual({
      name: 'orders_clean',
      version: 2,
      builds: [
        { buildId: 'b0000000000000001', sha256: '1'.repeat(64), fromSeq: '1', toSeq: '900', rows: 880, exactRange: true },
        { buildId: 'b0000000000000002', sha256: '2'.repeat(64), fromSeq: '1', toSeq: '2000', rows: 1900, exactRange: false },
      ],
    });
    // v1 lost champion to v2: the move is in v1's history too
    expect(lineage.aliasHistory.map((e) => [e.alias, e.previousVersion, e.version])).toEqual([
      ['champion', null, 1],
      ['champion', 1, 2],
    ]);
    const champion = await modelLineage(db.pool, 'churn@champion');
    expect(champion).toMatchObject({ version: 2, aliases: ['challenger', 'champion'] });
    const fraud = await modelLineage(db.pool, 'fraud@1');
    expect(fraud.transform).toBeNull();
    for (const [ref, type] of [
      ['churn@42', 'SLUICE_UNKNOWN_MODEL'],
      ['churn@staging', 'SLUICE_UNKNOWN_MODEL'],
      ['churn', 'SLUICE_INVALID_INPUT'],
      ['nope@1', 'SLUICE_UNKNOWN_MODEL'],
    ] as const) {
      await expect(failureOf(modelLineage(db.pool, ref))).rejects.toMatchObject({ type });
    }
  });

  it('answers the reverse: models that used a dataset, a log range (overlap) or a contract version', async () => {
    const names = (refs: ModelVersionRef[]) => refs.map((r) => `${r.name}@${r.version}`);
    const using = (q: Parameters<typeof modelsUsing>[1]) => envOf('cli', 'r').run(acts.findModelsUsing, q) as Promise<ModelVersionRef[]>;
    const churn = ['churn@1', 'churn@2', 'churn@3', 'churn@4', 'churn@5', 'churn@6'];
    expect(names(await using({ kind: 'dataset', datasetId: DATASET }))).toEqual(churn);
    expect(names(await using({ kind: 'dataset', datasetId: OTHER_DATASET }))).toEqual(['fraud@1']);
    expect(names(await using({ kind: 'logRange', source: 'orders', fromSeq: '900', toSeq: '1000' }))).toEqual(churn); // touches the last offset
    expect(names(await using({ kind: 'logRange', source: 'orders', fromSeq: '901', toSeq: '1000' }))).toEqual([]);
    expect(names(await using({ kind: 'logRange', source: 'clicks', fromSeq: '1', toSeq: '50' }))).toEqual(['fraud@1']);
    expect(names(await using({ kind: 'logRange', source: 'clicks', fromSeq: '61', toSeq: '70' }))).toEqual([]);
    expect(names(await using({ kind: 'contract', contract: 'orders', version: '1.1.0' }))).toEqual(churn);
    expect(names(await using({ kind: 'contract', contract: 'orders', version: '2.0.0' }))).toEqual([]);
    expect(names(await modelsUsing(db.pool, { kind: 'contract', contract: 'clicks', version: '2.0.0' }))).toEqual(['fraud@1']);
  });

  it('reads the code version from git (commit and dirty flag), from SLUICE_CODE_VERSION, or says unknown', () => {
    const fromEnv = readCodeVersion({ SLUICE_CODE_VERSION: 'v1.2.3-abc' });
    expect(fromEnv).toEqual({ version: 'v1.2.3-abc', dirty: null, source: 'env' });
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim() !== '';
    expect(readCodeVersion({})).toEqual({ version: head, dirty, source: 'git' });
    // a folder outside any checkout of sluice
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-nogit-'));
    fs.writeFileSync(path.join(outside, 'package.json'), '{}');
    expect(readCodeVersion({}, outside)).toEqual({ version: 'unknown', dirty: null, source: 'unknown' });
    fs.rmSync(outside, { recursive: true });
  });
});
