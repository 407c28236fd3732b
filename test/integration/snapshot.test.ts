import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC, type Table } from 'apache-arrow';
import { Pool } from 'pg';
import { LocalArtifactStore } from '../../activities/artifacts';
import { toFailure } from '../../activities/failures';
import { buildDatasetSnapshot, DatasetInvalidError, murmur3 } from '../../activities/snapshot';
import type { SnapshotInput, SnapshotResult } from '../../api';
import { SluiceDataset, SluicePipeline, SluiceStatus } from '../../api/searchAttributes';
import { pollUntil } from '../../client/poll';
import { startTestStack, type TestStack } from '../helpers/env';
import { recordHistoryIfAsked } from '../helpers/histories';

/** A .npy file (float32, C order) as its shape and values. */
function readNpy(uri: string): { shape: number[]; data: Float32Array } {
  const bytes = fs.readFileSync(fileURLToPath(uri));
  expect([...bytes.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  expect((10 + headerLength) % 64).toBe(0);
  expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(/);
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const body = bytes.subarray(10 + headerLength);
  return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length)) };
}

const sha256Of = (uri: string): string =>
  createHash('sha256')
    .update(fs.readFileSync(fileURLToPath(uri)))
    .digest('hex');
const arrowOf = (uri: string): Table => tableFromIPC(fs.readFileSync(fileURLToPath(uri)));

/** The `snapshot` step end to end: real workers, Temporal, PostgreSQL and the local artifact store. */
describe('snapshot', () => {
  let stack: TestStack;
  let artifactsDir: string;
  let store: LocalArtifactStore;

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

  const execute = (input: SnapshotInput, workflowId: string): Promise<SnapshotResult> =>
    stack.client.workflow.execute('snapshot', { taskQueue: stack.config.taskQueues.cpu, workflowId, args: [input] });

  /** Orders events in the log under two contract versions, and the registered transform that types them. */
  async function landOrders(n: number, first: number, contractVersion: string): Promise<void> {
    await stack.db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
       SELECT 'orders', 'o' || g, timestamptz '2026-01-01' + g * interval '1 minute', 'orders', $3,
              jsonb_build_object('customer', 'c' || (g % 40), 'amount', CASE WHEN g % 11 = 0 THEN NULL ELSE (g % 17) * 2.5 END,
                                 'items', 1 + g % 5, 'country', (ARRAY['DE','FR','US','ES'])[1 + g % 4], 'churned', g % 3 = 0),
              'b' || $3
         FROM generate_series($1::int, $1::int + $2::int - 1) g`,
      [first, n, contractVersion],
    );
  }

  /** SLUICE_RECORD_HISTORIES=1 refreshes test/histories/<name>.json (the replay test's inputs) from these runs. */
  const recordHistory = (workflowId: string, name: string): Promise<void> => recordHistoryIfAsked(stack.client, workflowId, name);

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-artifacts-'));
    store = new LocalArtifactStore(artifactsDir);
    stack = await startTestStack({ queues: ['cpu'], config: { artifactsDir } });
    await landOrders(300, 1, '1.0.0');
    await landOrders(200, 301, '1.1.0');
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
    await pollUntil('orders_typed has all 500 rows', async () => {
      const r = await stack.db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM sluice_derived.orders_typed__v1');
      return r.rows[0]?.n === '500' ? true : undefined;
    });
  });
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

  it('snapshots a registered transform into an Arrow file, .npy matrices and a dataset row, found by search attributes', async () => {
    const workflowId = `snapshot-orders-${Date.now()}`;
    const result = await execute({ transform: 'orders_typed', spec: SPEC }, workflowId);
    expect(result).toMatchObject({
      transform: 'orders_typed',
      version: 1,
      rowCount: 500,
      created: true,
      workflowId,
      coveredFromSeq: '1',
      coveredToSeq: '500',
    });
    expect(result.splitCounts.train + result.splitCounts.validation + result.splitCounts.test).toBe(500);
    expect(sha256Of(result.uri)).toBe(result.datasetId);

    const table = arrowOf(result.uri);
    expect(table.numRows).toBe(500);
    expect(table.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'seq:Int64',
      'customer:Utf8',
      'amount:Float64',
      'items:Int32',
      'country:Utf8',
      'churned:Bool',
      'event_time:Timestamp<MICROSECOND, UTC>',
      '__split:Int8',
    ]);
    const seqs = table.getChild('seq')?.toArray() as BigInt64Array;
    expect([...seqs.slice(0, 3)]).toEqual([1n, 2n, 3n]);
    expect([...seqs].every((s, i) => i === 0 || s > (seqs[i - 1] as bigint))).toBe(true);
    // nulls are kept (amount is null for every 11th event); timestamps are UTC microseconds
    expect(table.getChild('amount')?.get(10)).toBeNull();
    expect(table.getChild('amount')?.nullCount).toBe(45);
    expect(table.getChild('event_time')?.get(0)).toBe(Date.parse('2026-01-01T00:01:00Z'));
    // the split column follows the rule recorded with the dataset: murmur3 of the key's text against the thresholds
    const meta = JSON.parse(table.schema.metadata.get('sluice.dataset') ?? '{}') as {
      split: { thresholds: [number, number]; key: string };
    };
    expect(meta.split.key).toBe('customer');
    const customers = table.getChild('customer')?.toArray() as string[];
    const splits = table.getChild('__split')?.toArray() as Int8Array;
    customers.forEach((c, i) => {
      const b = Buffer.from(c, 'utf8');
      const h = murmur3(b, 0, b.length);
      expect(splits[i]).toBe(h < meta.split.thresholds[0] ? 0 : h < meta.split.thresholds[1] ? 1 : 2);
    });

    const { rows } = await stack.db.pool.query('SELECT * FROM sluice.datasets WHERE id = $1', [result.datasetId]);
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(row).toMatchObject({
      transform: 'orders_typed',
      transform_version: 1,
      row_count: '500',
      artifact_uri: result.uri,
      size_bytes: String(result.size),
      workflow_id: workflowId,
      log_range: { orders: { fromSeq: '1', toSeq: '500' } },
      contract_versions: { orders: ['1.0.0', '1.1.0'] },
      seq_range: { requested: { fromSeq: null, toSeq: null }, covered: { fromSeq: '1', toSeq: '500' } },
      spec: {
        features: SPEC.features,
        label: 'churned',
        task: 'binary',
        columns: ['seq', 'customer', 'amount', 'items', 'country', 'churned', 'event_time'],
      },
      split: { key: 'customer', train: 0.8, validation: 0.1, test: 0.1, counts: result.splitCounts },
      encoding: {
        X: { columns: ['amount', 'items'], dtype: 'float32', missing: 'NaN' },
        y: { classes: [false, true] },
        categorical: { columns: ['country'] },
      },
      files: { arrow: { sha256: result.datasetId }, npy: JSON.parse(JSON.stringify(result.npy)) },
    });
    expect(row.schema.fields.map((f: { name: string }) => f.name)).toContain('__split');
    expect(row.column_stats.churned.classes).toEqual([
      { value: false, count: 334 },
      { value: true, count: 166 },
    ]);

    // .npy: X (amount, items) and y (class index) of the training rows, in file order
    const train = [...splits].flatMap((s, i) => (s === 0 ? [i] : []));
    const X = readNpy(result.npy.train.X.uri);
    const y = readNpy(result.npy.train.y.uri);
    expect(sha256Of(result.npy.train.X.uri)).toBe(result.npy.train.X.sha256);
    expect(X.shape).toEqual([result.splitCounts.train, 2]);
    expect(y.shape).toEqual([result.splitCounts.train]);
    const amount = table.getChild('amount');
    const items = table.getChild('items');
    const churned = table.getChild('churned');
    train.forEach((i, r) => {
      const a = amount?.get(i) as number | null;
      if (a === null) expect(X.data[r * 2]).toBeNaN();
      else expect(X.data[r * 2]).toBe(Math.fround(a));
      expect(X.data[r * 2 + 1]).toBe(items?.get(i));
      expect(y.data[r]).toBe(churned?.get(i) ? 1 : 0);
    });
    for (const s of ['validation', 'test'] as const) expect(readNpy(result.npy[s].X.uri).shape).toEqual([result.splitCounts[s], 2]);

    const description = await stack.client.workflow.getHandle(workflowId).describe();
    expect(description.typedSearchAttributes.get(SluiceDataset)).toBe(result.datasetId.slice(0, 12));
    expect(description.typedSearchAttributes.get(SluicePipeline)).toBe('orders_typed');
    expect(description.typedSearchAttributes.get(SluiceStatus)).toBe('completed');
    const events = await stack.db.pool.query<{ status: string; details: Record<string, unknown> }>(
      "SELECT status, details FROM sluice.run_events WHERE workflow_id = $1 AND step = 'snapshotDataset' ORDER BY id",
      [workflowId],
    );
    expect(events.rows.map((r) => r.status)).toEqual(['started', 'completed']);
    expect(events.rows[1]?.details).toMatchObject({ datasetId: result.datasetId, fromSeq: '1', toSeq: '500' });
    await recordHistory(workflowId, 'snapshot');
  });

  it('is deterministic: the same inputs give the same bytes and id, and the existing row (no duplicate)', async () => {
    const a = await execute({ transform: 'orders_typed', version: 1, spec: SPEC }, `snapshot-again-a-${Date.now()}`);
    const bytesA = fs.readFileSync(fileURLToPath(a.uri));
    const b = await execute({ transform: 'orders_typed', version: 1, spec: SPEC }, `snapshot-again-b-${Date.now()}`);
    expect(b.datasetId).toBe(a.datasetId);
    expect(b.created).toBe(false);
    // both name the run that registered these bytes first (the first test's)
    expect(b.workflowId).toBe(a.workflowId);
    expect(b.workflowId).toMatch(/^snapshot-orders-/);
    expect(fs.readFileSync(fileURLToPath(b.uri)).equals(bytesA)).toBe(true);
    expect(b.npy).toEqual(a.npy);
    const { rows } = await stack.db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM sluice.datasets WHERE id = $1', [
      a.datasetId,
    ]);
    expect(rows[0]?.n).toBe('1');
  });

  it('snapshots a log range: only rows with seq in [fromSeq, toSeq], under the contract versions of those events', async () => {
    const r = await execute({ transform: 'orders_typed', fromSeq: '101', toSeq: '250', spec: SPEC }, `snapshot-range-${Date.now()}`);
    expect(r).toMatchObject({ rowCount: 150, coveredFromSeq: '101', coveredToSeq: '250', created: true });
    const seqs = arrowOf(r.uri).getChild('seq')?.toArray() as BigInt64Array;
    expect([seqs[0], seqs[seqs.length - 1]]).toEqual([101n, 250n]);
    const { rows } = await stack.db.pool.query('SELECT contract_versions, log_range, seq_range FROM sluice.datasets WHERE id = $1', [
      r.datasetId,
    ]);
    expect(rows[0]).toEqual({
      contract_versions: { orders: ['1.0.0'] },
      log_range: { orders: { fromSeq: '101', toSeq: '250' } },
      seq_range: { requested: { fromSeq: '101', toSeq: '250' }, covered: { fromSeq: '101', toSeq: '250' } },
    });
  });

  it('fails a spec that does not fit the data with a non-retryable SLUICE_DATASET_INVALID naming the column', async () => {
    await expect(
      execute(
        { transform: 'orders_typed', spec: { ...SPEC, features: [...SPEC.features, { name: 'discount', kind: 'numeric' }] } },
        `snapshot-bad-${Date.now()}`,
      ),
    ).rejects.toMatchObject({
      cause: {
        cause: {
          type: 'SLUICE_DATASET_INVALID',
          nonRetryable: true,
          message: expect.stringMatching(/^feature "discount" is not a column of orders_typed__v1 \(it has: seq, customer, amount/),
        },
      },
    });
    await expect(execute({ transform: 'nope', spec: SPEC }, `snapshot-missing-${Date.now()}`)).rejects.toMatchObject({
      cause: { cause: { type: 'SLUICE_DATASET_NOT_FOUND', message: expect.stringMatching(/transform nope has no live version/) } },
    });
  });

  it('builds on a pool of one connection: the dataset row is written after the read connection went back', async () => {
    // Holding the read connection while the row asked the pool for another waited out the pool's
    // acquire timeout on a pool this small, and with several snapshots at once on a larger one.
    const one = new Pool({ connectionString: stack.db.url, max: 1, connectionTimeoutMillis: 3_000 });
    try {
      const r = await buildDatasetSnapshot(one, store, { transform: 'orders_typed', spec: SPEC }, { workflowId: 'test', runId: 'test' });
      expect(r.rowCount).toBe(500);
      expect(one.totalCount - one.idleCount).toBe(0);
    } finally {
      await one.end();
    }
  });

  describe('on tables made directly (statistics, spec checks, split stability, memory)', () => {
    const build = (table: string, spec: SnapshotInput['spec'], extra: Partial<SnapshotInput> = {}) =>
      buildDatasetSnapshot(stack.db.pool, store, { transform: table, version: 1, spec, ...extra }, { workflowId: 'test', runId: 'test' });

    async function makeTable(name: string, columns: string, select: string, n: number): Promise<void> {
      await stack.db.pool.query(`CREATE TABLE sluice_derived.${name}__v1 (${columns})`);
      await stack.db.pool.query(`INSERT INTO sluice_derived.${name}__v1 SELECT ${select} FROM generate_series(1, ${n}) g`);
      await stack.db.pool.query(`CREATE INDEX ON sluice_derived.${name}__v1 (seq)`);
    }

    it('computes exact statistics on known data', async () => {
      await makeTable(
        'known',
        'seq bigint, x double precision, k int, c text, b boolean, label text',
        `g, CASE WHEN g = 7 THEN NULL ELSE g * 1.5 END, g % 4, CASE WHEN g <= 10 THEN 'a' WHEN g <= 16 THEN 'b' ELSE 'c' END, g % 2 = 0, CASE WHEN g % 3 = 0 THEN 'yes' ELSE 'no' END`,
        20,
      );
      const r = await build('known', {
        features: [
          { name: 'x', kind: 'numeric' },
          { name: 'c', kind: 'categorical' },
        ],
        label: 'label',
        task: 'binary',
        split: { train: 0.5, validation: 0.25 },
      });
      const { rows } = await stack.db.pool.query('SELECT column_stats FROM sluice.datasets WHERE id = $1', [r.datasetId]);
      const stats = rows[0].column_stats;
      const xs = Array.from({ length: 20 }, (_, i) => i + 1)
        .filter((g) => g !== 7)
        .map((g) => g * 1.5);
      const mean = xs.reduce((a, v) => a + v, 0) / xs.length;
      const std = Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / xs.length);
      // numpy.quantile (linear) of the 19 values, at 0, 0.1, …, 1
      const q = (p: number): number => {
        const pos = p * (xs.length - 1);
        const lo = Math.floor(pos);
        return (xs[lo] as number) + ((xs[Math.min(lo + 1, xs.length - 1)] as number) - (xs[lo] as number)) * (pos - lo);
      };
      expect(stats.x).toMatchObject({
        count: 19,
        nulls: 1,
        numeric: { min: 1.5, max: 30, nonFinite: 0, quantiles: { exact: true, sampleRows: 19 } },
      });
      expect(stats.x.numeric.mean).toBeCloseTo(mean, 12);
      expect(stats.x.numeric.std).toBeCloseTo(std, 12);
      stats.x.numeric.quantiles.edges.forEach((e: number, i: number) => expect(e).toBeCloseTo(q(i / 10), 12));
      expect(stats.k.numeric).toMatchObject({ min: 0, max: 3, mean: 1.5 });
      expect(stats.c).toMatchObject({
        count: 20,
        nulls: 0,
        text: {
          distinct: 3,
          exact: true,
          top: [
            { value: 'a', count: 10 },
            { value: 'b', count: 6 },
            { value: 'c', count: 4 },
          ],
        },
      });
      expect(stats.b).toMatchObject({ count: 20, trueCount: 10 });
      expect(stats.label.classes).toEqual([
        { value: 'no', count: 14 },
        { value: 'yes', count: 6 },
      ]);
      const { rows: enc } = await stack.db.pool.query('SELECT encoding FROM sluice.datasets WHERE id = $1', [r.datasetId]);
      expect(enc[0].encoding.y.classes).toEqual(['no', 'yes']);
    });

    it('refuses a spec that does not fit the data, naming the column', async () => {
      await makeTable(
        'bad',
        'seq bigint, flat double precision, empty double precision, x double precision, nan double precision, same text, label int, t timestamptz',
        `g, 1.0, NULL, g, CASE WHEN g = 5 THEN 'NaN'::float8 ELSE g END, 'x', g % 2, now()`,
        50,
      );
      const feature = (name: string, kind: 'numeric' | 'categorical' = 'numeric') => ({
        features: [
          { name: 'x', kind: 'numeric' as const },
          { name, kind },
        ],
        label: 'label',
        task: 'binary' as const,
      });
      const cases: [SnapshotInput['spec'], string, string, RegExp][] = [
        [feature('missing'), 'UNKNOWN_COLUMN', 'missing', /feature "missing" is not a column of bad__v1/],
        [feature('flat'), 'CONSTANT_FEATURE', 'flat', /feature "flat" has the same value in every row/],
        [feature('same', 'categorical'), 'CONSTANT_FEATURE', 'same', /feature "same" has the same value/],
        [feature('empty'), 'ALL_NULL', 'empty', /feature "empty" is null in every row/],
        [feature('nan'), 'NON_FINITE_FEATURE', 'nan', /numeric feature "nan" is NaN in the row with seq 5/],
        [feature('same'), 'WRONG_KIND', 'same', /numeric feature "same" has type text/],
        [feature('t', 'categorical'), 'WRONG_KIND', 't', /categorical feature "t" has type timestamp with time zone/],
        [
          { ...feature('flat'), features: [{ name: 'x', kind: 'numeric' }], label: 'same' },
          'SINGLE_CLASS',
          'same',
          /label "same" has a single class/,
        ],
        [
          { features: [{ name: 'x', kind: 'numeric' }], label: 'label', task: 'regression', split: { train: 0.998, validation: 0.001 } },
          'EMPTY_SPLIT',
          'seq',
          /the (validation|test) part of the split is empty \(50 rows/,
        ],
        [
          { features: [{ name: 'x', kind: 'numeric' }], label: 'label', task: 'binary', split: { train: 0.9, validation: 0.3 } },
          'INVALID_SPLIT',
          '',
          /split fractions must be ≥ 0 \(train > 0\) and add up to 1/,
        ],
      ];
      for (const [spec, issue, column, message] of cases) {
        const err = await build('bad', spec).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(DatasetInvalidError);
        expect(err).toMatchObject({ issue, message: expect.stringMatching(message), ...(column ? { column } : {}) });
        expect(toFailure(err)).toMatchObject({ type: 'SLUICE_DATASET_INVALID', nonRetryable: true, details: [{ issue }] });
      }
      // nothing was registered, and no file was left behind but what earlier tests stored
      const { rows } = await stack.db.pool.query("SELECT count(*)::int AS n FROM sluice.datasets WHERE transform = 'bad'");
      expect(rows[0].n).toBe(0);
    });

    it("keeps every row's split when rows are added", async () => {
      await makeTable('grow', 'seq bigint, user_id bigint, x double precision, label boolean', 'g, g % 500, random(), g % 2 = 0', 2_000);
      const spec: SnapshotInput['spec'] = {
        features: [{ name: 'x', kind: 'numeric' }],
        label: 'label',
        task: 'binary',
        split: { key: 'user_id' },
      };
      const before = await build('grow', spec);
      await stack.db.pool.query(
        'INSERT INTO sluice_derived.grow__v1 SELECT g, g % 700, random(), g % 2 = 0 FROM generate_series(2001, 5000) g',
      );
      const after = await build('grow', spec);
      expect(after.datasetId).not.toBe(before.datasetId);
      const splitBySeq = (uri: string): Map<bigint, number> => {
        const t = arrowOf(uri);
        const seq = t.getChild('seq')?.toArray() as BigInt64Array;
        const split = t.getChild('__split')?.toArray() as Int8Array;
        return new Map([...seq].map((s, i) => [s, split[i] as number]));
      };
      const a = splitBySeq(before.arrow.uri);
      const b = splitBySeq(after.arrow.uri);
      expect(a.size).toBe(2_000);
      for (const [seq, s] of a) expect(b.get(seq)).toBe(s);
      // a key's rows share one split, and the parts are near their fractions (500 keys)
      expect(before.splitCounts.train / 2_000).toBeGreaterThan(0.7);
      expect(before.splitCounts.train / 2_000).toBeLessThan(0.9);
    });

    it('orders rows that share a seq by their values, so the physical order of the table does not matter', async () => {
      for (const [name, order] of [
        ['ties_fwd', 'ASC'],
        ['ties_rev', 'DESC'],
      ] as const) {
        await stack.db.pool.query(`CREATE TABLE sluice_derived.${name}__v1 (seq bigint, k text, x double precision, label boolean)`);
        // the same rows (three per seq), written in opposite physical orders
        await stack.db.pool.query(
          `INSERT INTO sluice_derived.${name}__v1 SELECT (g + 2) / 3, substr(md5(g::text), 1, 2), g % 7, g % 2 = 0 FROM generate_series(1, 300) g ORDER BY g ${order}`,
        );
      }
      const spec: SnapshotInput['spec'] = { features: [{ name: 'x', kind: 'numeric' }], label: 'label', task: 'binary' };
      const content = async (name: string): Promise<[string, string, number][]> => {
        const t = arrowOf((await build(name, spec)).arrow.uri);
        return [...t].map((row) => [String(row.seq), row.k as string, row.x as number]);
      };
      const fwd = await content('ties_fwd');
      expect(await content('ties_rev')).toEqual(fwd);
      fwd.forEach((r, i) => {
        const prev = fwd[i - 1];
        if (prev && prev[0] === r[0]) expect(prev[1] < r[1] || (prev[1] === r[1] && prev[2] <= r[2])).toBe(true);
      });
    });

    it('streams a 1M-row table in bounded memory', async () => {
      await makeTable(
        'big',
        'seq bigint, user_id bigint, amount double precision, items int, country text, note text, label boolean',
        `g, g % 10000, (g % 97) * 1.25, g % 7, (ARRAY['DE','FR','US','ES'])[1 + g % 4], 'note number ' || g, g % 3 = 0`,
        1_000_000,
      );
      await stack.db.pool.query('ANALYZE sluice_derived.big__v1');
      const rssBefore = process.memoryUsage().rss;
      let peakRss = rssBefore;
      const r = await buildDatasetSnapshot(
        stack.db.pool,
        store,
        {
          transform: 'big',
          version: 1,
          spec: {
            features: [
              { name: 'amount', kind: 'numeric' },
              { name: 'items', kind: 'numeric' },
              { name: 'country', kind: 'categorical' },
            ],
            label: 'label',
            task: 'binary',
            split: { key: 'user_id' },
          },
        },
        { workflowId: 'test', runId: 'test', onProgress: () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)) },
      );
      expect(r.rowCount).toBe(1_000_000);
      // The whole table as Arrow is ~50 MB (and several times that as JS values); one batch is a few MB.
      expect(r.arrow.size).toBeGreaterThan(40 * 2 ** 20);
      expect(r.peakBatchBytes).toBeLessThan(16 * 2 ** 20);
      // The exact bound is the batch buffers' (above); RSS is a loose guard, because garbage (COPY
      // chunks, finished batches' bytes) lingers until V8 collects it: 65 to 150 MB of growth
      // measured on this run, whatever the table's size; a table held whole would add its size.
      expect((peakRss - rssBefore) / 2 ** 20).toBeLessThan(256);
      const t = arrowOf(r.arrow.uri);
      expect(t.batches.length).toBe(Math.ceil(1_000_000 / 65_536));
      expect(t.getChild('note')?.get(999_999)).toBe('note number 1000000');
    });
  });
});
