import * as fs from 'node:fs';
import { recordHistoryIfAsked } from '../helpers/histories';
import { applyPipelineSpec } from '../../activities/pipeline';
import * as os from 'node:os';
import * as path from 'node:path';
import { insertModelVersion, moveModelAlias } from '../../activities/registry/queries';
import type { MonitorInput, MonitorResult, SnapshotInput, SnapshotResult, TrainInput, TrainResult } from '../../api';
import { SluiceModel, SluiceStatus } from '../../api/searchAttributes';
import { pollUntil } from '../../client/poll';
import { startTestStack, type TestStack } from '../helpers/env';

/**
 * The threshold trigger with planted drift: a model trained on clean orders, then recent orders
 * that are clean (no retrain) or whose `amount` is shifted (a retrain naming `amount`).
 */
describe('monitor', () => {
  let stack: TestStack;
  let artifactsDir: string;
  let trainInput: TrainInput;

  const SPEC: SnapshotInput['spec'] = {
    features: [
      { name: 'amount', kind: 'numeric' },
      { name: 'items', kind: 'numeric' },
      { name: 'country', kind: 'categorical' },
    ],
    label: 'churned',
    task: 'binary',
    split: { key: 'customer' },
  };

  /** Orders g in [first, first + n): `amount` cycles over 0…40 (+ `shift`), items over 1…5, country over 4 values. */
  async function landOrders(first: number, n: number, shift = 0): Promise<void> {
    await stack.db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
       SELECT 'orders', 'o' || g, now(), 'orders', '1.0.0',
              jsonb_build_object('customer', 'c' || (g % 40), 'amount', (g % 17) * 2.5 + $3::double precision,
                                 'items', 1 + g % 5, 'country', (ARRAY['DE','FR','US','ES'])[1 + g % 4], 'churned', g % 3 = 0),
              'b' || $1
         FROM generate_series($1::int, $1::int + $2::int - 1) g`,
      [first, n, shift],
    );
  }

  const run = (input: MonitorInput, workflowId: string): Promise<MonitorResult> =>
    stack.client.workflow.execute('monitor', { taskQueue: stack.config.taskQueues.cpu, workflowId, args: [input] });

  const base = (fromSeq: string, toSeq: string): MonitorInput => ({
    monitorId: 'churn-drift',
    model: { name: 'churn' },
    recent: { transform: 'orders_typed', fromSeq, toSeq },
    trigger: { kind: 'train', input: trainInput },
  });

  /** SLUICE_RECORD_HISTORIES=1 refreshes test/histories/<name>.json (the replay test's inputs) from these runs. */
  const recordHistory = (workflowId: string, name: string): Promise<void> => recordHistoryIfAsked(stack.client, workflowId, name);

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-artifacts-'));
    stack = await startTestStack({ queues: ['cpu'], config: { artifactsDir } });
    // seq 1–600: training data; 601–900: recent and clean; 901–1200: recent with amount shifted by +30.
    await landOrders(1, 600);
    await landOrders(601, 300);
    await landOrders(901, 300, 30);
    await stack.client.workflow.execute('registerTransform', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: 'register-orders-typed',
      args: [
        {
          name: 'orders_typed',
          version: 1,
          sources: ['orders'],
          sql: `SELECT seq, payload->>'customer' AS customer, (payload->>'amount')::double precision AS amount, (payload->>'items')::int AS items,
                     payload->>'country' AS country, (payload->>'churned')::boolean AS churned, event_time
                FROM sluice.raw_events WHERE source = 'orders' AND seq BETWEEN $1 AND $2`,
        },
      ],
    });
    await pollUntil('orders_typed has all 1200 rows', async () => {
      const r = await stack.db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM sluice_derived.orders_typed__v1');
      return r.rows[0]?.n === '1200' ? true : undefined;
    });
    const snap: SnapshotResult = await stack.client.workflow.execute('snapshot', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: 'snapshot-churn',
      args: [{ transform: 'orders_typed', toSeq: '600', spec: SPEC }],
    });
    const { split: _split, ...spec } = SPEC;
    trainInput = { model: 'churn', datasetId: snap.datasetId, spec, trainer: { trainer: 'logistic_regression' }, seed: 1, device: 'cpu' };
    const trained: TrainResult = await stack.client.workflow.execute('train', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: 'train-churn-1',
      args: [trainInput],
    });
    await moveModelAlias(stack.db.pool, { name: 'churn', alias: 'champion', version: trained.version, actor: 'monitor.test' });
  }, 180_000);

  afterAll(async () => {
    await stack?.client.workflow
      .getHandle('transform-orders_typed')
      .terminate('test over')
      .catch((err: Error) => {
        if (!/not found|already completed/i.test(err.message)) throw err;
      });
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });

  it('on clean recent data: no drift, no retrain, every feature measured; a missing labels source is skipped with its reason', async () => {
    const r = await run(
      { ...base('601', '900'), performance: { predictionsSource: 'predictions_churn', labelsSource: 'churn_labels' } },
      'monitor-clean',
    );
    expect(r.decision).toBe('no-drift');
    expect(r.retrainWorkflowId).toBeUndefined();
    expect(r.logRange).toEqual({ fromSeq: '601', toSeq: '900' });
    expect(r.features.map((f) => f.feature)).toEqual(['amount', 'items', 'country']);
    for (const f of r.features) {
      expect(f.recentRows).toBe(300);
      expect(f.psi).not.toBeNull();
      expect(f.psi as number).toBeLessThan(0.1);
      expect(f.drifted).toEqual([]);
    }
    expect(r.features[0]?.ks as number).toBeLessThan(0.1);
    expect(r.performance).toEqual({ status: 'skipped', reason: expect.stringMatching(/no predictions of churn@1 in predictions_churn/) });
    const described = await stack.client.workflow.getHandle('monitor-clean').describe();
    expect(described.typedSearchAttributes.get(SluiceStatus)).toBe('completed');
    expect(described.typedSearchAttributes.get(SluiceModel)).toBe('churn@1');
    const { rows } = await stack.db.pool.query<{ details: { decision: string; features: unknown[] } }>(
      `SELECT details FROM sluice.run_events WHERE workflow_id = 'monitor-clean' AND step = 'recordMonitorDecision' AND status = 'completed'`,
    );
    expect(rows[0]?.details.decision).toBe('no-drift');
    expect(rows[0]?.details.features).toHaveLength(3);
  });

  it('on shifted data: starts one retrain whose reason names the shifted feature, by how much and over which log range', async () => {
    const r = await run(base('901', '1200'), 'monitor-shifted-1');
    expect(r.decision).toBe('retrain-started');
    expect(r.retrainWorkflowId).toBe('retrain-churn-drift-1200');
    await recordHistory('monitor-shifted-1', 'monitor');
    const amount = r.features.find((f) => f.feature === 'amount');
    expect(amount?.drifted).toEqual(['psi', 'ks']);
    expect(amount?.psi as number).toBeGreaterThan(1);
    for (const f of r.features.filter((x) => x.feature !== 'amount')) expect(f.drifted).toEqual([]);
    expect(r.reasons).toHaveLength(1);
    expect(r.reasons[0]).toMatch(
      /^feature amount drifted: PSI \d+\.\d{3} > 0\.25, KS \d\.\d{3} > 0\.2 over seq 901\.\.1200 of orders_typed__v1/,
    );

    const retrain = stack.client.workflow.getHandle('retrain-churn-drift-1200');
    const described = await retrain.describe();
    expect(described.type).toBe('train');
    expect((await described.memo)?.reason).toBe(r.reasons[0]);
    const retrained = (await retrain.result()) as TrainResult;
    await recordHistoryIfAsked(stack.client, 'retrain-churn-drift-1200', 'train');
    expect(retrained.version).toBe(2);
    const { rows } = await stack.db.pool.query<{ details: { reasons: string[]; logRange: unknown } }>(
      `SELECT details FROM sluice.run_events WHERE workflow_id = 'retrain-churn-drift-1200' AND step = 'retrainRequested'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.details.reasons).toEqual(r.reasons);
    expect(rows[0]?.details.logRange).toEqual({ fromSeq: '901', toSeq: '1200' });

    // The same tick again (a retried schedule, a second monitor run): no second retrain.
    const again = await run(base('901', '1200'), 'monitor-shifted-2');
    expect(again.decision).toBe('retrain-already-started');
    expect(again.retrainWorkflowId).toBe('retrain-churn-drift-1200');
    expect((await retrain.describe()).runId).toBe(described.runId);
    const count = await stack.db.pool.query(`SELECT 1 FROM sluice.run_events WHERE step = 'retrainRequested'`);
    expect(count.rowCount).toBe(1);
  }, 120_000);

  it('with a pipeline trigger: starts one run of the latest applied spec, keyed by the monitor and the tick', async () => {
    const applied = await applyPipelineSpec(stack.db.pool, { name: 'churn_retrain', sources: [{ source: 'orders' }] }, 'test');
    const input: MonitorInput = {
      ...base('901', '1200'),
      monitorId: 'churn-pipe',
      trigger: { kind: 'pipeline', pipeline: 'churn_retrain' },
    };
    const r = await run(input, 'monitor-pipe-1');
    expect(r.decision).toBe('retrain-started');
    expect(r.retrainWorkflowId).toBe('pipeline-churn_retrain-monitor-churn-pipe-1200');
    const handle = stack.client.workflow.getHandle(r.retrainWorkflowId as string);
    const described = await handle.describe();
    expect(described.type).toBe('pipeline');
    await handle.result();
    const again = await run(input, 'monitor-pipe-2');
    expect(again.decision).toBe('retrain-already-started');
    expect(applied.version).toBe(1);
  }, 120_000);

  it('measures accuracy from predictions joined to labels by request id and reports a drop past the threshold', async () => {
    // 40 predictions of churn@1, each "false"; 30 of them have a label, all "true": accuracy 0.
    await stack.db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, contract, contract_version, payload, batch_id)
       SELECT 'predictions_churn', 'p' || g, 'predictions_churn', '1.0.0',
              jsonb_build_object('request_id', 'r' || g, 'model', jsonb_build_object('name', 'churn', 'version', 1),
                                 'outputs', jsonb_build_object('label', false, 'probabilities', jsonb_build_array(0.9, 0.1))), 'pred'
         FROM generate_series(1, 40) g`,
    );
    await stack.db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, contract, contract_version, payload, batch_id)
       SELECT 'churn_labels', 'l' || g, 'churn_labels', '1.0.0', jsonb_build_object('request_id', 'r' || g, 'churned', true), 'labels'
         FROM generate_series(1, 30) g`,
    );
    const { trigger: _t, ...input } = base('601', '900');
    const r = await run(
      {
        ...input,
        thresholds: { metricDrop: 0.1 },
        performance: { predictionsSource: 'predictions_churn', labelsSource: 'churn_labels', labelField: 'churned' },
      },
      'monitor-performance',
    );
    expect(r.performance).toMatchObject({ status: 'measured', metric: 'accuracy', pairs: 30, current: 0, dropped: true });
    expect(r.performance.registered as number).toBeGreaterThan(0.5);
    expect(r.decision).toBe('no-trigger');
    expect(r.reasons).toEqual([
      expect.stringMatching(/^accuracy of churn@1 moved from 0\.\d{3} \(test split\) to 0\.000 .* over 30 predictions/),
    ]);
  });

  it('selects recent rows by time, and names a missing time column in a non-retryable input error', async () => {
    const { trigger: _t, ...input } = base('601', '900');
    const r = await run({ ...input, recent: { ...input.recent, sinceMinutes: 60 } }, 'monitor-window');
    expect(r.recentRows).toBe(300);
    await expect(
      run({ ...input, recent: { ...input.recent, sinceMinutes: 60, timeColumn: 'landed_at' } }, 'monitor-bad-window'),
    ).rejects.toThrow(/failed/i);
    const { rows } = await stack.db.pool.query<{ error: { type: string; message: string } }>(
      `SELECT error FROM sluice.run_events WHERE workflow_id = 'monitor-bad-window' AND status = 'failed'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.error).toMatchObject({
      type: 'SLUICE_INVALID_INPUT',
      message: expect.stringMatching(/orders_typed__v1 has no column landed_at/),
    });
    const described = await stack.client.workflow.getHandle('monitor-bad-window').describe();
    expect(described.typedSearchAttributes.get(SluiceStatus)).toBe('failed');
  });

  it("without features in the dataset spec, checks those of the model's ONNX signature; no recent rows: no decision to take", async () => {
    // A dataset row whose spec names no features (as one registered outside `snapshot` may), and a model on it.
    const fake = 'f'.repeat(64);
    await stack.db.pool.query(
      `INSERT INTO sluice.datasets (id, transform, transform_version, row_count, column_stats, artifact_uri)
       SELECT $1, transform, transform_version, row_count, column_stats, artifact_uri FROM sluice.datasets LIMIT 1`,
      [fake],
    );
    const champion = await stack.db.pool.query<{ onnx_sha256: string; onnx_uri: string }>(
      `SELECT onnx_sha256, onnx_uri FROM sluice.models WHERE name = 'churn' AND version = 1`,
    );
    const onnx = champion.rows[0] as { onnx_sha256: string; onnx_uri: string };
    const { version } = await insertModelVersion(stack.db.pool, {
      name: 'churn_sig',
      datasetId: fake,
      codeVersion: 'test',
      codeDirty: null,
      task: 'binary',
      trainer: 'logistic_regression',
      parameters: {},
      seed: 1,
      metrics: {},
      onnxUri: onnx.onnx_uri,
      onnxSha256: onnx.onnx_sha256,
      cardUri: null,
      cardSha256: null,
      workflowId: 'test',
      runId: 'test',
    });
    await moveModelAlias(stack.db.pool, { name: 'churn_sig', alias: 'champion', version, actor: 'monitor.test' });
    const r = await run(
      { monitorId: 'churn-sig', model: { name: 'churn_sig' }, recent: { transform: 'orders_typed', fromSeq: '5000' } },
      'monitor-signature',
    );
    expect(r.decision).toBe('no-recent-data');
    expect(r.logRange).toEqual({ fromSeq: null, toSeq: null });
    expect(r.features.map((f) => [f.feature, f.kind, f.note])).toEqual([
      ['amount', 'numeric', 'no recent non-null values'],
      ['items', 'numeric', 'no recent non-null values'],
      ['country', 'categorical', 'no recent non-null values'],
    ]);
  });
});
