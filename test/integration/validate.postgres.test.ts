import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalArtifactStore } from '../../activities/artifacts';
import { createValidateActivities, runSuiteOnDataset, type DatasetRef, type ExpectationResult } from '../../activities/validate';
import { populationStabilityIndex } from '../../activities/validate/drift';
import type { Expectation } from '../../contracts/expectations';
import { ContractRegistry, type Contract } from '../../contracts/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

/**
 * The expectation engine against a real PostgreSQL: a table `sluice_reference.orders` with planted defects,
 * a clean copy, reference and baseline tables, and a log range of page_views.
 */
const ordersSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', maxLength: 20 },
    customer_id: { type: 'integer' },
    amount: { type: 'number' },
    status: { type: 'string', maxLength: 20 },
    email: { type: 'string', maxLength: 200 },
    code: { type: 'string', maxLength: 50 },
    country: { type: 'string', maxLength: 2 },
    created_at: { type: 'string', format: 'date-time', maxLength: 40 },
  },
};

function contract(expectations: Expectation[], name = 'orders'): Contract {
  return { contract: name, version: '1.0.0', owner: 'o', schema: ordersSchema, pii: ['/email'], expectations, file: 'test' };
}

type SqlRef = Exclude<DatasetRef, { kind: 'arrow' }>;
const table = (t: string): SqlRef => ({ kind: 'table', table: t, schema: 'sluice_reference' });

describe('expectation suites pushed down to PostgreSQL', () => {
  let db: TestDatabase;
  const run = async (
    expectations: Expectation[],
    dataset: SqlRef,
    opts: { baseline?: SqlRef; profile?: boolean; sampleSize?: number } = {},
  ) => (await runSuiteOnDataset(db.pool, contract(expectations), { dataset, profile: opts.profile ?? false, ...opts })).run;
  const byName = (results: ExpectationResult[]) => Object.fromEntries(results.map((r) => [r.name, r]));

  beforeAll(async () => {
    db = await createTestDatabase();
    // 1000 clean orders: ids unique, amounts 1..100, statuses from the set, emails valid, fresh.
    const columns = `id text, customer_id integer, amount numeric, status text, email text, code text, country text, created_at timestamptz`;
    // Reference tables belong to whoever administers the database (here sluice_owner); the suite reads them as sluice_transform.
    await db.ownerPool().query(`
      CREATE TABLE sluice_reference.customers (id integer PRIMARY KEY);
      INSERT INTO sluice_reference.customers SELECT g FROM generate_series(1, 50) g;
      CREATE TABLE sluice_reference.clean (${columns});
      INSERT INTO sluice_reference.clean SELECT 'o' || g, 1 + g % 50, 1 + g % 100, (ARRAY['new','paid','shipped'])[1 + g % 3],
        'user' || g || '@example.com', 'ABC-' || g, (ARRAY['DE','FR','US','JP'])[1 + g % 4], now() - (g || ' seconds')::interval
        FROM generate_series(1, 1000) g;
      CREATE TABLE sluice_reference.dirty (${columns});
      INSERT INTO sluice_reference.dirty SELECT * FROM sluice_reference.clean;
      -- planted defects
      INSERT INTO sluice_reference.dirty VALUES
        ('o1', 1, 5, 'new', 'not-an-email', 'ABC-1', 'DE', now()),
        ('x1', 999, -3, 'lost', NULL, 'zzz', 'DE', now()),
        ('x2', 998, 100000, 'new', NULL, 'ABC-2', 'DE', now()),
        ('x3', NULL, 10, NULL, 'secret@example.com', 'ABC-3', 'DE', now());
      CREATE TABLE sluice_reference.empty (${columns});
      -- drift: the same columns with country shifted to mostly US and amounts doubled
      CREATE TABLE sluice_reference.shifted (${columns});
      INSERT INTO sluice_reference.shifted SELECT id, customer_id, amount * 2, status, email, code, CASE WHEN customer_id % 10 < 8 THEN 'US' ELSE country END, created_at FROM sluice_reference.clean;
      CREATE TABLE sluice_reference.evil (code text);
      INSERT INTO sluice_reference.evil VALUES (repeat('a', 5000) || '!');
    `);
  });
  afterAll(async () => {
    await db?.drop();
  });

  const suite: Expectation[] = [
    { type: 'row_count', min: 1000, max: 1000 },
    { type: 'not_null', column: 'email' },
    { type: 'not_null', column: 'status', name: 'status_mostly_set', maxNullRate: 0.01 },
    { type: 'unique', columns: ['id'] },
    { type: 'unique', columns: ['customer_id', 'id'], name: 'compound_key' },
    { type: 'accepted_values', column: 'status', values: ['new', 'paid', 'shipped'] },
    { type: 'range', column: 'amount', min: 0, max: 1000 },
    { type: 'regex', column: 'code', pattern: '^ABC-[0-9]+$' },
    { type: 'format', column: 'email', format: 'email' },
    { type: 'freshness', column: 'created_at', maxAgeSeconds: 3600 },
    { type: 'custom_sql', failingRowsWhere: "status = 'shipped' AND amount <= 0", name: 'shipped_orders_cost_money' },
    { type: 'referential_integrity', column: 'customer_id', references: { schema: 'sluice_reference', table: 'customers', column: 'id' } },
  ];

  it('a clean table passes a 12-expectation suite; row-level expectations share ONE aggregate scan', async () => {
    const r = await run(suite, table('clean'));
    expect(r.rowCount).toBe(1000);
    expect(r.results.filter((x) => !x.passed).map((x) => `${x.name}: ${x.message}`)).toEqual([]);
    expect(r.results.map((x) => x.status)).toEqual(new Array(12).fill('passed'));
    // probes of the user's regex and custom SQL + ONE combined aggregate + a GROUP BY per unique key
    // + referential integrity (catalog check + anti-join)
    expect(r.queries).toBe(1 + 1 + 1 + 2 + 2);
    const rowLevel = await run(
      suite.filter((e) => !['referential_integrity', 'regex', 'custom_sql', 'unique'].includes(e.type)),
      table('clean'),
    );
    expect(rowLevel.results).toHaveLength(7);
    expect(rowLevel.queries).toBe(1);
  });

  it('the planted defects fail with observed value, threshold, severity and a bounded sample (PII masked)', async () => {
    const r = byName((await run(suite, table('dirty'), { sampleSize: 2 })).results);
    expect(r.row_count).toMatchObject({ passed: false, observed: 1004, threshold: { min: 1000, max: 1000 } });
    expect(r['not_null:email']).toMatchObject({
      passed: false,
      unexpected: 2,
      total: 1004,
      threshold: { maxNullRate: 0 },
      severity: 'error',
    });
    expect(r['not_null:email']?.observed).toBeCloseTo(2 / 1004, 10);
    expect(r.status_mostly_set).toMatchObject({ passed: true, unexpected: 1 });
    expect(r['unique:id']).toMatchObject({ passed: false, observed: 1, unexpected: 1 });
    expect(r['unique:id']?.sample).toEqual([{ id: 'o1', occurrences: 2 }]);
    expect(r.compound_key).toMatchObject({ passed: true, observed: 0 });
    expect(r['accepted_values:status']).toMatchObject({ passed: false, unexpected: 1, total: 1003 });
    expect(r['accepted_values:status']?.sample).toEqual([{ id: 'x1', customer_id: 999, amount: '-3', status: 'lost' }]);
    expect(r['range:amount']).toMatchObject({ passed: false, unexpected: 2, details: { min: -3, max: 100000 } });
    expect(r['range:amount']?.sample).toHaveLength(2);
    expect(r['regex:code']).toMatchObject({ passed: false, unexpected: 1, sample: [{ id: 'x1', code: 'zzz' }] });
    // the failing email is PII: the sample shows that a row failed, not the address
    expect(r['format:email']).toMatchObject({ passed: false, unexpected: 1, sample: [{ id: 'o1', email: '***' }] });
    expect(r['freshness:created_at']).toMatchObject({ passed: true });
    expect(r['referential_integrity:customer_id']).toMatchObject({ passed: false, unexpected: 2, total: 1003 });
    expect(r['referential_integrity:customer_id']?.sample.map((s) => s.customer_id).sort()).toEqual([998, 999]);
    expect(r.shipped_orders_cost_money).toMatchObject({ passed: true, observed: 0 });
  });

  it("samples say which row failed (context columns), show a custom predicate's whole row, and are plain JSON", async () => {
    const [r] = (await run([{ type: 'custom_sql', name: 'negative', failingRowsWhere: 'amount < 0' }], table('dirty'))).results;
    expect(r).toMatchObject({ status: 'failed', observed: 1 });
    expect(r?.sample).toHaveLength(1);
    const row = r?.sample[0] ?? {};
    expect(Object.keys(row)).toEqual(['id', 'customer_id', 'amount', 'status', 'email', 'code', 'country', 'created_at']);
    expect(row).toMatchObject({ id: 'x1', customer_id: 999, amount: '-3', status: 'lost', email: null });
    expect(typeof row.created_at).toBe('string');
    expect(new Date(row.created_at as string).getTime()).toBeGreaterThan(Date.now() - 3_600_000);
    const [nn] = (await run([{ type: 'not_null', column: 'email' }], table('dirty'))).results;
    expect(nn?.sample.map((x) => x.id).sort()).toEqual(['x1', 'x2']); // the first columns of the table identify the row
  });

  it('warn and error severities are kept apart, and thresholds on rates work both ways', async () => {
    const r = byName(
      (
        await run(
          [
            { type: 'not_null', column: 'email', maxNullRate: 0.01, name: 'lenient' },
            { type: 'format', column: 'email', format: 'email', minRate: 0.9999, severity: 'warn', name: 'strict_warn' },
          ],
          table('dirty'),
        )
      ).results,
    );
    expect(r.lenient).toMatchObject({ passed: true, severity: 'error' });
    expect(r.strict_warn).toMatchObject({ passed: false, severity: 'warn', status: 'failed' });
  });

  describe('bad input: a clear error or a defined result, never a crash or a silent pass', () => {
    it('a column the dataset lacks', async () => {
      const [r] = (await run([{ type: 'not_null', column: 'discount' } as Expectation], table('clean'))).results;
      expect(r).toMatchObject({
        status: 'error',
        passed: false,
        message: expect.stringMatching(/column\(s\) discount not in table sluice_reference.clean \(columns: id, customer_id/),
      });
    });

    it('a table that does not exist is a DatasetError naming it', async () => {
      await expect(run(suite, table('nope'))).rejects.toThrow(/Table sluice_reference.nope does not exist/);
      await expect(run(suite, { kind: 'table', table: 'clean', schema: 'pg_catalog' } as unknown as SqlRef)).rejects.toThrow(
        /not one of sluice_derived, sluice_reference/,
      );
    });

    it('an empty dataset: row_count judges it, every other expectation reports no_data (a failure)', async () => {
      const r = await run(suite, table('empty'));
      expect(r.rowCount).toBe(0);
      expect(r.results[0]).toMatchObject({ name: 'row_count', status: 'failed', observed: 0 });
      expect(new Set(r.results.slice(1).map((x) => x.status))).toEqual(new Set(['no_data']));
      expect(r.results.every((x) => !x.passed)).toBe(true);
    });

    it('an invalid regex is reported, and a catastrophic one runs in PostgreSQL without backtracking', async () => {
      const bad = (await run([{ type: 'regex', column: 'code', pattern: '^(ABC' }], table('clean'))).results[0];
      expect(bad).toMatchObject({
        status: 'error',
        message: expect.stringMatching(/not a valid PostgreSQL regular expression: .*parenthes/),
      });
      const t0 = Date.now();
      const evil = (
        await runSuiteOnDataset(
          db.pool,
          {
            ...contract([{ type: 'regex', column: 'code', pattern: '^(a+)+$' }]),
            schema: { type: 'object', properties: { code: { type: 'string' } } },
          },
          { dataset: table('evil'), profile: false },
        )
      ).run.results[0];
      expect(Date.now() - t0).toBeLessThan(5_000); // /^(a+)+$/ on 'a'*5000+'!' would not finish in V8
      expect(evil).toMatchObject({ status: 'failed', unexpected: 1 });
    });

    it('a custom SQL predicate that does not compile, or tries a second statement, is an error result', async () => {
      const r = byName(
        (
          await run(
            [
              { type: 'custom_sql', name: 'typo', failingRowsWhere: 'amout < 0' },
              { type: 'custom_sql', name: 'two_statements', failingRowsWhere: 'true; DROP TABLE sluice_reference.clean' },
              { type: 'row_count', min: 1 },
            ],
            table('clean'),
          )
        ).results,
      );
      expect(r.typo).toMatchObject({ status: 'error', message: expect.stringMatching(/column "amout" does not exist/) });
      expect(r.two_statements).toMatchObject({ status: 'error', message: expect.stringMatching(/no ";"/) });
      expect(r.row_count).toMatchObject({ status: 'passed' }); // the suite went on after the probe failed
    });

    it('type mismatches: range on text, accepted numbers on text are fine, booleans on numbers are not', async () => {
      const r = byName(
        (
          await run(
            [
              { type: 'range', column: 'status', min: 0 },
              { type: 'accepted_values', column: 'amount', values: ['x'] },
              { type: 'freshness', column: 'amount', maxAgeSeconds: 1 },
            ],
            table('clean'),
          )
        ).results,
      );
      expect(r['range:status']).toMatchObject({ status: 'error', message: 'range needs a numeric column; status is text' });
      expect(r['accepted_values:amount']).toMatchObject({ status: 'error' });
      expect(r['freshness:amount']).toMatchObject({ status: 'error' });
    });

    it('drift without a baseline is an error result, not a pass', async () => {
      const [r] = (await run([{ type: 'drift', column: 'country', kind: 'categorical', method: 'psi', threshold: 0.1 }], table('clean')))
        .results;
      expect(r).toMatchObject({ status: 'error', passed: false, message: expect.stringMatching(/no baseline dataset/) });
      const [empty] = (
        await run([{ type: 'drift', column: 'country', kind: 'categorical', method: 'psi', threshold: 0.1 }], table('clean'), {
          baseline: table('empty'),
        })
      ).results;
      expect(empty).toMatchObject({ status: 'error', message: expect.stringMatching(/has no non-null country/) });
      const numeric = (
        await run(
          [
            { type: 'drift', column: 'amount', kind: 'numeric', method: 'psi', threshold: 0.1 },
            { type: 'drift', column: 'country', kind: 'numeric', method: 'ks', threshold: 0.1 },
            { type: 'drift', column: 'country', kind: 'categorical', method: 'ks', threshold: 0.1, name: 'ks_on_categories' },
          ],
          table('clean'),
          { baseline: table('empty') },
        )
      ).results;
      expect(numeric.map((x) => `${x.status}: ${x.message}`)).toEqual([
        'error: baseline table sluice_reference.empty has no non-null amount: nothing to compare against',
        'error: numeric drift needs numeric columns; country is text here and text in the baseline',
        'error: the KS statistic needs kind "numeric"',
      ]);
    });
  });

  describe('drift against a baseline', () => {
    const drift: Expectation[] = [
      { type: 'drift', column: 'country', kind: 'categorical', method: 'psi', threshold: 0.25, name: 'country_psi' },
      { type: 'drift', column: 'amount', kind: 'numeric', method: 'psi', threshold: 0.25, name: 'amount_psi' },
      { type: 'drift', column: 'amount', kind: 'numeric', method: 'ks', threshold: 0.1, name: 'amount_ks' },
    ];

    it('the same distribution: PSI 0, KS 0, all pass', async () => {
      const r = byName((await run(drift, table('clean'), { baseline: table('clean') })).results);
      expect(r.country_psi).toMatchObject({ passed: true, observed: 0 });
      expect(r.amount_psi).toMatchObject({ passed: true, observed: 0 });
      expect(r.amount_ks).toMatchObject({ passed: true, observed: 0 });
    });

    it('a shifted distribution fails with the statistic computed exactly', async () => {
      const r = byName((await run(drift, table('shifted'), { baseline: table('clean') })).results);
      // country: baseline 25% each; current: customer_id%10<8 -> US (80%), the rest keep theirs
      const { rows } = await db.pool.query<{ country: string; cur: string; base: string }>(
        `SELECT c.country, c.n AS cur, coalesce(b.n, 0) AS base FROM (SELECT country, count(*) n FROM sluice_reference.shifted GROUP BY 1) c
           FULL JOIN (SELECT country, count(*) n FROM sluice_reference.clean GROUP BY 1) b USING (country)`,
      );
      const expected = populationStabilityIndex(rows.map((x) => ({ label: x.country, current: Number(x.cur), baseline: Number(x.base) })));
      expect(r.country_psi?.observed).toBeCloseTo(expected, 12);
      expect(r.country_psi).toMatchObject({ passed: false, threshold: { threshold: 0.25 } });
      // amount doubled: 1..100 vs 2..200. Exact KS of those two discrete uniform samples is 0.5.
      expect(r.amount_ks?.observed).toBeCloseTo(0.5, 10);
      expect(r.amount_ks?.passed).toBe(false);
      expect(r.amount_psi?.passed).toBe(false);
      expect((r.amount_psi?.details?.bins as unknown[]).length).toBe(10);
      // a PII column's drift keeps its counts, not its values
      const [email] = (
        await run([{ type: 'drift', column: 'email', kind: 'categorical', method: 'psi', threshold: 0.1 }], table('shifted'), {
          baseline: table('clean'),
        })
      ).results;
      const labels = (email?.details?.bins as { label: string }[]).map((b) => b.label);
      expect(labels.slice(0, 3)).toEqual(['value 1', 'value 2', 'value 3']);
      expect(JSON.stringify(email)).not.toMatch(/@example\.com/);
    });
  });

  it('a cancelled activity stops its running statement in PostgreSQL', async () => {
    await db.ownerPool().query("CREATE TABLE IF NOT EXISTS sluice_reference.one (id text); INSERT INTO sluice_reference.one VALUES ('a')");
    const slow = {
      ...contract([{ type: 'custom_sql', name: 'slow', failingRowsWhere: '(SELECT false FROM pg_sleep(30))' }], 'slow'),
      schema: { type: 'object', properties: { id: { type: 'string' } } },
    };
    const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cancel-'));
    const activities = createValidateActivities({
      pool: db.pool,
      artifacts: new LocalArtifactStore(artifactsDir),
      contracts: new ContractRegistry([slow]),
    });
    const env = new MockActivityEnvironment();
    const t0 = Date.now();
    const running = env.run(activities.runExpectationSuite, { contract: 'slow', dataset: table('one') });
    const sleeping = async (): Promise<number> =>
      (
        await db.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
        )
      ).rows[0]?.n ?? 0;
    while ((await sleeping()) === 0 && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 50));
    expect(await sleeping()).toBe(1);
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await sleeping()).toBe(0);
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });

  it('runs on a log range of a source: payload fields become typed columns, seq bounds the range', async () => {
    const registry = ContractRegistry.fromDirectory();
    const pageViews = registry.get('page_views', '1.0.0');
    const values: string[] = [];
    for (let i = 1; i <= 40; i++) {
      const payload = {
        id: `pv${i}`,
        ts: '2026-01-01T00:00:00Z',
        user_id: i,
        page: '/p',
        duration_ms: i * 1000,
        country: i % 2 ? 'DE' : 'FR',
        device: 'mobile',
        converted: i % 5 === 0,
        revenue: i % 5 === 0 ? 9.5 : 0,
      };
      values.push(`('page_views', 'pv${i}', '2026-01-01T00:00:00Z', 'page_views', '1.0.0', '${JSON.stringify(payload)}'::jsonb, 'b1')`);
    }
    const { rows } = await db.pool.query<{ seq: string }>(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id) VALUES ${values.join(',')} RETURNING seq`,
    );
    const seqs = rows.map((x) => Number(x.seq)).sort((a, b) => a - b);
    const from = String(seqs[10]);
    const to = String(seqs[29]);
    const result = await runSuiteOnDataset(db.pool, pageViews, {
      dataset: { kind: 'log', source: 'page_views', fromSeq: from, toSeq: to },
      profile: true,
    });
    expect(result.dataset).toBe(`log page_views seq ${from}..${to}`);
    expect(result.run.rowCount).toBe(20);
    const r = byName(result.run.results);
    expect(r['range:duration_ms']).toMatchObject({ passed: true, details: { min: 11000, max: 30000 } });
    expect(r.revenue_needs_conversion).toMatchObject({ passed: true, observed: 0 });
    expect(r['unique:id']).toMatchObject({ passed: true });
    expect(r['drift:country']).toMatchObject({ status: 'error', severity: 'warn' }); // no baseline given
    const duration = result.run.profiles.find((p) => p.column === 'duration_ms');
    expect(duration?.histogram?.counts.reduce((a, b) => a + b, 0)).toBe(20);
    const email = result.run.profiles.find((p) => p.column === 'user_email');
    expect(email).toMatchObject({ pii: true });
    expect(email?.topValues).toBeUndefined();
  });
});
