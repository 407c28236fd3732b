/**
 * The PostgreSQL engine: a suite measured where the data is, as aggregates over a table or a log
 * range. Every row-level expectation becomes FILTERed aggregates of ONE combined SELECT (one scan
 * for the whole suite); uniqueness, referential integrity, drift and profiles need their own
 * queries (postgresMeasures.ts). Failing rows are sampled only for expectations that failed, a
 * bounded number each (postgresSamples.ts). What can run, and the verdicts, are the shared planner's
 * and evaluators'.
 *
 * Bad input never crashes the suite and never passes silently: a pattern PostgreSQL rejects or a
 * custom SQL predicate that does not compile becomes a result with status `error`.
 */
import { cancelStatementOnAbort } from '../../db/cancel';
import { asTransformRole } from '../../db/roles';
import { inTransaction, type TransactionOptions } from '../../db/transaction';
import type { Pool, PoolClient } from 'pg';
import { expectationColumns, expectationName } from '../../contracts/expectations';
import type { Contract } from '../../contracts/registry';
import { POSITION_COLUMN, resolveDataset, type DatasetRef, type ResolvedDataset } from './dataset';
import { emptyDatasetResult, evaluate, thresholdOf } from './evaluators';
import { HISTOGRAM_BINS, TOP_VALUES, planSuite, sampleSizeOf } from './planner';
import { measureDrift, measureReferentialIntegrity, measureUnique, referencedColumnError } from './postgresMeasures';
import { sampleFailingRows } from './postgresSamples';
import { Params, col, num, type ScanRow, type SqlPlan } from './postgresSql';
import { errorResult, piiColumns, type ColumnProfile, type ExpectationResult, type SuiteRun } from './results';

/** The SQL spelling of the `format` expectation's formats (POSIX regular expressions). */
const FORMAT_PATTERNS: Record<string, string> = {
  email: '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$',
  uuid: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  'date-time': '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$',
  date: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  ipv4: '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$',
  uri: '^[A-Za-z][A-Za-z0-9+.-]*:[^[:space:]]+$',
};

/** Every statement of a suite run stops after this long (a pathological regex or custom predicate). */
export const STATEMENT_TIMEOUT_MS = 5 * 60_000;

/** The session a suite runs in: one snapshot for every expectation, nothing written, every statement bounded. */
/** One read-only snapshot for the whole suite, each statement bounded (the benchmark's baseline runs in the same). */
export const SUITE_TRANSACTION: TransactionOptions = {
  readOnly: true,
  isolation: 'repeatable read',
  settings: { statement_timeout: STATEMENT_TIMEOUT_MS },
};

export interface SuiteOptions {
  contract: Contract;
  dataset: ResolvedDataset;
  /** Needed by drift expectations; without it they report status `error`. */
  baseline?: ResolvedDataset;
  sampleSize?: number;
  /** Histograms and top values for the report (extra scans; default true). */
  profile?: boolean;
  /** The evaluation instant freshness ages are measured at, ms since the epoch; default the transaction's now(). */
  now?: number;
  /** Called between queries (activity heartbeats). */
  progress?: (step: string) => void;
}

/** A savepoint around a probe query, so a failing probe does not abort the suite's transaction. */
async function probe(db: PoolClient, sql: string, params: unknown[]): Promise<string | undefined> {
  await db.query('SAVEPOINT probe');
  try {
    await db.query(sql, params);
    await db.query('RELEASE SAVEPOINT probe');
    return undefined;
  } catch (err) {
    // Not swallowed: the database's reason becomes the expectation's `error` result.
    await db.query('ROLLBACK TO SAVEPOINT probe');
    return (err as Error).message;
  }
}

/** Runs the suite on a resolved dataset inside the caller's transaction. */
export async function evaluateSuiteInPostgres(db: PoolClient, opts: SuiteOptions): Promise<SuiteRun> {
  const { contract, dataset } = opts;
  const sampleSize = sampleSizeOf(opts);
  const progress = opts.progress ?? (() => undefined);
  const pii = piiColumns(contract);
  const expectations = contract.expectations ?? [];
  const plan = planSuite(expectations, dataset, { engine: 'postgres', baseline: opts.baseline, profile: opts.profile });
  const params = new Params(dataset.params);
  const aggs: string[] = ['count(*)::float8 AS n'];
  const agg = (sql: string): string => {
    const alias = `a${aggs.length}`;
    aggs.push(`${sql} AS ${alias}`);
    return alias;
  };
  let queries = 0;
  const query = async <R extends Record<string, unknown>>(sql: string, values: unknown[]): Promise<R[]> => {
    queries++;
    return (await db.query<R>(sql, values)).rows;
  };
  // Each failing-row predicate is computed once per row, as a boolean column of an inner projection
  // (OFFSET 0 keeps the planner from inlining it into every aggregate that uses it).
  const flags: string[] = [];
  const failing = (p: SqlPlan, where: string): string => {
    p.failWhere = where;
    p.flag = `__f${flags.length}`;
    flags.push(`(${where}) AS ${p.flag}`);
    return `count(*) FILTER (WHERE d.${p.flag})::float8`;
  };
  const rated = (p: SqlPlan, type: 'accepted_values' | 'regex' | 'format', column: string, where: string): SqlPlan['measure'] => {
    const nonNull = agg(`count(${col(column)})::float8`);
    const bad = agg(failing(p, where));
    return (s) => ({ type, nonNull: s.num(nonNull), failing: s.num(bad) });
  };
  const ctx = { db, dataset, baseline: opts.baseline, pii, sampleSize, query };
  let now: string | undefined; // alias of the transaction's now(), when a freshness expectation needs it

  // 1. Plan the combined SELECT: each expectation adds its aggregates, or its own queries.
  const plans: SqlPlan[] = [];
  for (const planned of plan.expectations) {
    const { e } = planned;
    const p: SqlPlan = { planned, measure: () => ({ type: 'row_count' }) };
    plans.push(p);
    if (planned.error) {
      p.result = planned.error;
      continue;
    }
    const kindOf = (c: string) => dataset.columns.get(c) ?? 'other';
    switch (e.type) {
      case 'row_count':
        break;
      case 'not_null': {
        const nulls = agg(failing(p, `${col(e.column)} IS NULL`));
        p.measure = (s) => ({ type: 'not_null', nulls: s.num(nulls) });
        break;
      }
      case 'unique':
        p.measure = () => measureUnique(ctx, e); // own GROUP BY query: hash aggregation, and it yields the sample
        break;
      case 'accepted_values': {
        const k = kindOf(e.column);
        const typed = k === 'numeric' || k === 'boolean';
        const values = params.bind(
          typed ? e.values : e.values.map(String),
          k === 'numeric' ? '::numeric[]' : k === 'boolean' ? '::boolean[]' : '::text[]',
        );
        p.measure = rated(
          p,
          e.type,
          e.column,
          `${col(e.column)} IS NOT NULL AND NOT (${typed ? col(e.column) : `${col(e.column)}::text`} = ANY(${values}))`,
        );
        break;
      }
      case 'range': {
        const conds: string[] = [];
        if (e.min !== undefined) conds.push(`${col(e.column)} < ${params.bind(e.min, '::numeric')}`);
        if (e.max !== undefined) conds.push(`${col(e.column)} > ${params.bind(e.max, '::numeric')}`);
        const nonNull = agg(`count(${col(e.column)})::float8`);
        const bad = agg(failing(p, conds.length ? conds.join(' OR ') : 'false'));
        const lo = agg(`min(${col(e.column)})::float8`);
        const hi = agg(`max(${col(e.column)})::float8`);
        p.measure = (s) => ({ type: 'range', nonNull: s.num(nonNull), failing: s.num(bad), min: s.num(lo), max: s.num(hi) });
        break;
      }
      case 'regex':
      case 'format': {
        const pattern = e.type === 'regex' ? e.pattern : (FORMAT_PATTERNS[e.format] ?? '');
        // PostgreSQL compiles the pattern (its engine does not backtrack exponentially); a bad one is a result, not a crash.
        const bad = e.type === 'regex' ? (queries++, await probe(db, "SELECT '' ~ $1", [pattern])) : undefined;
        if (bad) {
          p.result = errorResult(
            e,
            `pattern ${JSON.stringify(pattern)} is not a valid PostgreSQL regular expression: ${bad}`,
            thresholdOf(e),
          );
          break;
        }
        p.measure = rated(
          p,
          e.type,
          e.column,
          `${col(e.column)} IS NOT NULL AND ${col(e.column)}::text !~ ${params.bind(pattern, '::text')}`,
        );
        break;
      }
      case 'freshness': {
        // Whole milliseconds, as the Arrow engine and JavaScript dates have them.
        const newest = agg(`round(extract(epoch FROM max(${col(e.column ?? 'event_time')})) * 1000)::float8`);
        const given = opts.now;
        const clock = given === undefined ? (now ??= agg('(extract(epoch FROM now()) * 1000)::float8')) : undefined;
        p.measure = (s) => ({
          type: 'freshness',
          newestMs: Number.isFinite(s.num(newest)) ? s.num(newest) : null,
          nowMs: clock === undefined ? Number(given) : s.num(clock),
        });
        break;
      }
      case 'custom_sql': {
        const pred = `(${e.failingRowsWhere})`;
        queries++;
        const bad = await probe(db, `EXPLAIN SELECT count(*) FILTER (WHERE ${pred}) FROM ${dataset.sql} d`, dataset.params);
        if (bad) {
          p.result = errorResult(e, `failingRowsWhere does not compile against ${dataset.describe}: ${bad}`, thresholdOf(e));
          break;
        }
        const count = agg(failing(p, pred));
        p.measure = (s) => ({ type: 'custom_sql', failing: s.num(count) });
        break;
      }
      case 'referential_integrity': {
        queries++;
        const missing = await referencedColumnError(db, e);
        if (missing) {
          p.result = missing;
          break;
        }
        p.measure = () => measureReferentialIntegrity(ctx, e, p);
        break;
      }
      case 'drift':
        p.measure = () => measureDrift(ctx, e);
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown expectation ${JSON.stringify(never)}`);
      }
    }
    // Where the first failing row is: sampling can start its scan there instead of at the beginning.
    if (p.flag && !p.result && dataset.position) p.firstFailing = agg(`min(d.${POSITION_COLUMN}) FILTER (WHERE d.${p.flag})::text`);
  }

  // Profile columns (for the report): min/max of numeric ones ride along in the same scan.
  const profileAggs = new Map<string, string[]>();
  for (const c of plan.profileColumns) {
    const numeric = dataset.columns.get(c) === 'numeric';
    profileAggs.set(
      c,
      numeric
        ? [agg(`count(${col(c)})::float8`), agg(`min(${col(c)})::float8`), agg(`max(${col(c)})::float8`)]
        : [agg(`count(${col(c)})::float8`)],
    );
  }

  // 2. The one scan.
  progress('aggregates');
  const used = [...new Set([...expectations.flatMap((e) => expectationColumns(e).map((c) => c.column)), ...plan.profileColumns])].filter(
    (c) => dataset.columns.has(c),
  );
  const inner = [...(dataset.position ? [`d.${POSITION_COLUMN}`] : []), ...used.map(col), ...flags];
  const from = flags.length ? `(SELECT ${inner.join(', ')} FROM ${dataset.sql} d OFFSET 0)` : dataset.sql;
  const [row = {}] = await query<Record<string, unknown>>(`SELECT ${aggs.join(', ')} FROM ${from} d`, params.values);
  const scan: ScanRow = { n: num(row.n), num: (alias) => num(row[alias]) };
  const n = scan.n;

  // 3. Judge: the shared evaluators turn each measurement into its result.
  const results: ExpectationResult[] = [];
  const toSample: { plan: SqlPlan; result: ExpectationResult }[] = [];
  for (const p of plans) {
    const { e } = p.planned;
    const decided = p.result ?? emptyDatasetResult(e, n);
    if (decided) {
      results.push(decided);
      continue;
    }
    progress(expectationName(e));
    const r = evaluate(e, n, await p.measure(scan));
    if (r.status === 'failed' && sampleSize > 0 && p.failWhere) toSample.push({ plan: p, result: r });
    results.push(r);
  }
  // Failing rows of every failed row-level expectation in ONE more scan, stopped early once each has its sample.
  if (toSample.length) {
    progress('samples');
    queries++;
    await sampleFailingRows(db, {
      dataset,
      failed: toSample,
      size: sampleSize,
      pii,
      params: params.values,
      firstFailing: toSample.map((f) => (f.plan.firstFailing ? row[f.plan.firstFailing] : undefined)),
    });
  }

  // 4. Profiles.
  const profiles: ColumnProfile[] = [];
  for (const c of plan.profileColumns) {
    progress(`profile ${c}`);
    const [nn, lo, hi] = (profileAggs.get(c) ?? []).map(scan.num);
    const kind = dataset.columns.get(c) ?? 'other';
    const p: ColumnProfile = { column: c, kind, nonNull: nn ?? 0, pii: pii.has(c) };
    if (kind === 'numeric' && lo !== undefined && hi !== undefined && Number.isFinite(lo) && Number.isFinite(hi)) {
      const top = hi > lo ? hi : lo + 1;
      const off = dataset.params.length;
      const h = await query<{ b: number; n: string }>(
        `SELECT least(width_bucket(${col(c)}::float8, $${off + 1}::float8, $${off + 2}::float8, ${HISTOGRAM_BINS}), ${HISTOGRAM_BINS}) AS b, count(*) AS n
           FROM ${dataset.sql} d WHERE ${col(c)} IS NOT NULL GROUP BY 1`,
        [...dataset.params, lo, top],
      );
      const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
      for (const x of h) counts[Math.max(0, Number(x.b) - 1)] = (counts[Math.max(0, Number(x.b) - 1)] ?? 0) + Number(x.n);
      p.histogram = { lo, hi: top, counts };
    } else if (!p.pii && kind !== 'numeric') {
      const t = await query<{ v: string | null; n: string }>(
        `SELECT ${col(c)}::text AS v, count(*) AS n FROM ${dataset.sql} d GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP_VALUES}`,
        dataset.params,
      );
      p.topValues = t.map((x) => ({ value: x.v, count: Number(x.n) }));
    }
    profiles.push(p);
  }
  return { rowCount: n, results, profiles, queries };
}

type SqlDatasetRef = Exclude<DatasetRef, { kind: 'arrow' }>;

/**
 * Resolves the dataset (and baseline) and runs the suite in one {@link SUITE_TRANSACTION}, so every
 * expectation sees the same snapshot; each statement is bounded by {@link STATEMENT_TIMEOUT_MS}.
 * Cancelling `signal` cancels the running statement in the server too. Throws DatasetError for a
 * dataset that does not exist.
 */
export async function runSuiteOnDataset(
  pool: Pool,
  contract: Contract,
  input: { dataset: SqlDatasetRef; baseline?: SqlDatasetRef; sampleSize?: number; profile?: boolean; now?: number },
  progress?: (step: string) => void,
  signal?: AbortSignal,
): Promise<{ run: SuiteRun; dataset: string; baseline: string | undefined }> {
  signal?.throwIfAborted();
  try {
    return await inTransaction(
      pool,
      async (db) => {
        const [{ pid } = { pid: undefined }] = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
        const detachCancel = cancelStatementOnAbort(pool, pid, signal, 'the suite query');
        try {
          const dataset = await resolveDataset(db, input.dataset, contract);
          const baseline = input.baseline ? await resolveDataset(db, input.baseline, contract) : undefined;
          // Expectations may carry user SQL (custom_sql): the suite runs as the transform role.
          const run = await asTransformRole(db, () =>
            evaluateSuiteInPostgres(db, {
              contract,
              dataset,
              baseline,
              sampleSize: input.sampleSize,
              profile: input.profile,
              now: input.now,
              progress,
            }),
          );
          return { run, dataset: dataset.describe, baseline: baseline?.describe };
        } finally {
          detachCancel();
        }
      },
      SUITE_TRANSACTION,
    );
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  }
}
