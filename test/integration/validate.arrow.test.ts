import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Float64, Table, TimestampMillisecond, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { LocalArtifactStore } from '../../activities/artifacts';
import { createValidateActivities, runSuiteOnArrow, runSuiteOnDataset, type RunExpectationSuiteResult } from '../../activities/validate';
import type { Expectation } from '../../contracts/expectations';
import { ContractRegistry, type Contract } from '../../contracts/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { quoteIdent } from '../../db/sql';
import { toFailure } from '../../activities/failures';

/** The Arrow engine gives the same observed values and statuses as the PostgreSQL engine on the same rows. */
interface Row {
  id: string | null;
  amount: number | null;
  status: string | null;
  email: string | null;
  created_at: number | null;
}

function rows(n: number, shift: boolean): Row[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    id: i === 7 ? 'r3' : `r${i}`, // one duplicate
    amount: i % 50 === 0 ? null : i === 13 ? -5 : (shift ? 2 : 1) * ((i * 37) % 101),
    status: i === 21 ? 'lost' : shift && i % 3 ? 'paid' : (['new', 'paid', 'shipped'][i % 3] ?? null),
    email: i === 30 ? 'broken' : i % 40 === 0 ? null : `u${i}@example.com`,
    created_at: now - i * 1000,
  }));
}

function arrowOf(rs: Row[]): Table {
  return new Table({
    id: vectorFromArray(
      rs.map((r) => r.id),
      new Utf8(),
    ),
    amount: vectorFromArray(
      rs.map((r) => r.amount),
      new Float64(),
    ),
    status: vectorFromArray(
      rs.map((r) => r.status),
      new Utf8(),
    ),
    email: vectorFromArray(
      rs.map((r) => r.email),
      new Utf8(),
    ),
    created_at: vectorFromArray(
      rs.map((r) => (r.created_at === null ? null : new Date(r.created_at))),
      new TimestampMillisecond(),
    ),
  });
}

const expectations: Expectation[] = [
  { type: 'row_count', min: 1, max: 400 },
  { type: 'not_null', column: 'amount', maxNullRate: 0.01 },
  { type: 'unique', columns: ['id'] },
  { type: 'unique', columns: ['id', 'status'], name: 'id_status' },
  { type: 'accepted_values', column: 'status', values: ['new', 'paid', 'shipped'] },
  { type: 'range', column: 'amount', min: 0, max: 100 },
  { type: 'format', column: 'email', format: 'email' },
  { type: 'freshness', column: 'created_at', maxAgeSeconds: 3600 },
  { type: 'drift', column: 'status', kind: 'categorical', method: 'psi', threshold: 0.1 },
  { type: 'drift', column: 'amount', kind: 'numeric', method: 'psi', threshold: 0.1, name: 'amount_psi' },
  { type: 'drift', column: 'amount', kind: 'numeric', method: 'ks', threshold: 0.1, name: 'amount_ks' },
];

const contract: Contract = {
  contract: 'snap',
  version: '1.0.0',
  owner: 'o',
  pii: ['/email'],
  schema: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      amount: { type: 'number' },
      status: { type: 'string' },
      email: { type: 'string' },
      created_at: { type: 'string', format: 'date-time' },
    },
  },
  expectations,
  file: 'test',
};

describe('expectation suites over an Arrow snapshot', () => {
  let db: TestDatabase;
  const current = rows(300, true);
  const baseline = rows(300, false);

  beforeAll(async () => {
    db = await createTestDatabase();
    for (const [name, rs] of [
      ['snap_cur', current],
      ['snap_base', baseline],
    ] as const) {
      await db
        .ownerPool()
        .query(
          `CREATE TABLE sluice_reference.${quoteIdent(name)} (id text, amount float8, status text, email text, created_at timestamptz)`,
        );
      await db
        .ownerPool()
        .query(
          `INSERT INTO sluice_reference.${quoteIdent(name)} SELECT id, amount, status, email, to_timestamp(ms / 1000.0) FROM jsonb_to_recordset($1::jsonb) AS x(id text, amount float8, status text, email text, ms float8)`,
          [JSON.stringify(rs.map((r) => ({ ...r, ms: r.created_at })))],
        );
    }
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('agrees with the PostgreSQL engine: same statuses, observed values and counts', async () => {
    const arrow = runSuiteOnArrow(
      contract,
      { table: arrowOf(current), describe: 'cur' },
      { baseline: { table: arrowOf(baseline), describe: 'base' }, profile: false },
    );
    const { run: pg } = await runSuiteOnDataset(db.pool, contract, {
      dataset: { kind: 'table', table: 'snap_cur', schema: 'sluice_reference' },
      baseline: { kind: 'table', table: 'snap_base', schema: 'sluice_reference' },
      profile: false,
    });
    expect(arrow.rowCount).toBe(300);
    const pick = (r: (typeof arrow.results)[number]) => ({ name: r.name, status: r.status, unexpected: r.unexpected, total: r.total });
    expect(arrow.results.map(pick)).toEqual(pg.results.map(pick));
    arrow.results.forEach((r, i) => {
      const other = pg.results[i];
      if (r.type === 'freshness') expect(r.observed).toBeCloseTo(other?.observed ?? Number.NaN, -1);
      else expect(r.observed).toBeCloseTo(other?.observed ?? Number.NaN, 9);
    });
    // the planted defects fail, with bounded samples that mask PII
    const byName = Object.fromEntries(arrow.results.map((r) => [r.name, r]));
    expect(byName['unique:id']).toMatchObject({ status: 'failed', sample: [{ id: 'r3', occurrences: 2 }] });
    expect(byName['format:email']).toMatchObject({ status: 'failed', sample: [{ id: 'r30', email: '***' }] });
    const outside = byName['range:amount']?.sample.map((s) => s.amount as number) ?? [];
    expect(outside).toHaveLength(5);
    expect(outside.every((a) => a < 0 || a > 100)).toBe(true);
  });

  it('the same suite on the same rows: both engines give identical verdicts and messages, expectation by expectation', async () => {
    // What both engines run, including what the planner refuses on either (the same error result).
    const shared: Expectation[] = [
      ...expectations,
      { type: 'range', column: 'status', min: 0, name: 'range_on_text' },
      { type: 'range', column: 'amount', max: 150, minRate: 0.5, severity: 'warn', name: 'amount_mostly_below_150' },
      { type: 'accepted_values', column: 'amount', values: ['x'], name: 'numbers_as_text' },
      { type: 'freshness', column: 'status', maxAgeSeconds: 1, name: 'fresh_text' },
      { type: 'not_null', column: 'nope', name: 'missing_column' },
      { type: 'drift', column: 'status', kind: 'categorical', method: 'ks', threshold: 0.1, name: 'ks_on_categories' },
    ];
    const c = { ...contract, expectations: shared };
    // The same instant for both (freshness ages), and the same names for the datasets (drift messages name the baseline).
    const now = Date.now();
    const arrow = runSuiteOnArrow(
      c,
      { table: arrowOf(current), describe: 'table sluice_reference.snap_cur' },
      {
        baseline: { table: arrowOf(baseline), describe: 'table sluice_reference.snap_base' },
        profile: false,
        now,
      },
    );
    const { run: pg } = await runSuiteOnDataset(db.pool, c, {
      dataset: { kind: 'table', table: 'snap_cur', schema: 'sluice_reference' },
      baseline: { kind: 'table', table: 'snap_base', schema: 'sluice_reference' },
      profile: false,
      now,
    });
    const verdictOf = ({ name, type, severity, status, passed, threshold, unexpected, total, message }: (typeof pg.results)[number]) => ({
      name,
      type,
      severity,
      status,
      passed,
      threshold,
      unexpected,
      total,
      message,
    });
    expect(arrow.results.map(verdictOf)).toEqual(pg.results.map(verdictOf));
    expect(new Set(pg.results.map((r) => r.status))).toEqual(new Set(['passed', 'failed', 'error']));
    const range = pg.results.find((r) => r.name === 'range:amount');
    expect(range?.message).toMatch(/^\d+ of \d+ non-null values outside \[0, 100\] \(rate ok [0-9.]+, min 1\); observed min -5, max 200$/);
  });

  it('what needs SQL, or a safe regex engine, is an error result there, never a pass', () => {
    const c = {
      ...contract,
      expectations: [
        { type: 'regex', column: 'email', pattern: '^(a+)+$' },
        { type: 'custom_sql', failingRowsWhere: 'amount < 0' },
        { type: 'referential_integrity', column: 'id', references: { table: 'x', column: 'id' } },
        { type: 'not_null', column: 'nope' },
        { type: 'drift', column: 'status', kind: 'categorical', method: 'psi', threshold: 0.1 },
      ] as Expectation[],
    };
    const r = runSuiteOnArrow(c, { table: arrowOf(current), describe: 'cur' });
    expect(r.results.map((x) => x.status)).toEqual(['error', 'error', 'error', 'error', 'error']);
    expect(r.results.map((x) => x.message)).toEqual([
      expect.stringMatching(/regex expectations run in PostgreSQL only/),
      expect.stringMatching(/custom_sql needs PostgreSQL/),
      expect.stringMatching(/referential_integrity needs PostgreSQL/),
      expect.stringMatching(/column\(s\) nope not in cur/),
      expect.stringMatching(/no baseline dataset/),
    ]);
    const empty = runSuiteOnArrow(
      contract,
      { table: arrowOf([]), describe: 'empty' },
      { baseline: { table: arrowOf(baseline), describe: 'base' } },
    );
    expect(empty.results.map((x) => x.status)).toEqual(['failed', ...new Array(10).fill('no_data')]);
  });

  it('the activity reads the snapshot from the artifact store by sha256 and writes the report', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-arrow-'));
    try {
      const store = new LocalArtifactStore(dir);
      const snap = await store.put(tableToIPC(arrowOf(current)), { mediaType: 'application/vnd.apache.arrow.file', extension: '.arrow' });
      const activities = createValidateActivities({ pool: db.pool, artifacts: store, contracts: new ContractRegistry([contract]) });
      const env = new MockActivityEnvironment();
      const result: RunExpectationSuiteResult = await env.run(activities.runExpectationSuite, {
        contract: 'snap',
        dataset: { kind: 'arrow' as const, sha256: snap.sha256 },
      });
      expect(result).toMatchObject({ rowCount: 300, passed: false });
      expect(result.failedErrors).toEqual(expect.arrayContaining(['unique:id', 'format:email', 'drift:status']));
      expect((await store.get(result.htmlSha256)).toString()).toMatch(/arrow snapshot [0-9a-f]{12}/);
      // The activity throws the domain error; the wrapper every registered activity goes through maps it (activities/failures.ts).
      const missing = env.run(activities.runExpectationSuite, {
        contract: 'snap',
        dataset: { kind: 'arrow' as const, sha256: 'a'.repeat(64) },
      });
      await expect(missing.catch((err: unknown) => Promise.reject(toFailure(err)))).rejects.toMatchObject({
        type: 'SLUICE_DATASET_NOT_FOUND',
        message: expect.stringMatching(/Arrow snapshot a{64} is not in the artifact store/),
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
