/**
 * Runs a contract's expectation suite where the data is: in PostgreSQL, as aggregates over a table
 * or a log range. Every row-level expectation becomes a FILTERed aggregate of ONE combined SELECT
 * (one scan for the whole suite); referential integrity, drift and profiles need their own queries.
 * Failing rows are sampled only for expectations that failed, a bounded number each.
 *
 * Bad input never crashes the suite and never passes silently: a missing column, a pattern
 * PostgreSQL rejects, a broken custom SQL predicate or a missing baseline becomes a result with
 * status `error`; an empty dataset gives `no_data` results. Both count as failures at their severity.
 */
import type { PoolClient } from 'pg';
import { expectationColumns, expectationName, type Expectation, type ExpectationType, type Severity } from '../../contracts/expectations';
import type { Contract } from '../../contracts/registry';
import { DATASET_SCHEMAS, POSITION_COLUMN, quoteIdent, shiftParams, tableColumns, type ColumnKind, type ResolvedDataset } from './dataset';
import { categoricalBins, maskBinLabels, populationStabilityIndex, type DriftBin } from './drift';
import { SAMPLE_CONTEXT_COLUMNS, errorResult, fmt, noData, notNullVerdict, piiColumns, rowCountVerdict, verdict } from './verdicts';

export type ExpectationStatus = 'passed' | 'failed' | 'no_data' | 'error';

export interface ExpectationResult {
  name: string;
  type: ExpectationType;
  severity: Severity;
  columns: string[];
  status: ExpectationStatus;
  passed: boolean;
  /** The measured value the threshold applies to (a rate, a count, an age, a PSI); null when none. */
  observed: number | null;
  threshold: Record<string, number | null>;
  /** Rows that broke the expectation, out of `total` rows it looked at. */
  unexpected?: number;
  total?: number;
  details?: Record<string, unknown>;
  /** At most `sampleSize` failing rows (PII fields masked). */
  sample: Record<string, unknown>[];
  message: string;
}

export interface ColumnProfile {
  column: string;
  kind: ColumnKind;
  nonNull: number;
  /** Numeric columns: equal-width histogram between min and max. */
  histogram?: { lo: number; hi: number; counts: number[] };
  /** Other columns: the most frequent values (not for PII fields). */
  topValues?: { value: string | null; count: number }[];
  pii: boolean;
}

export interface SuiteOptions {
  contract: Contract;
  dataset: ResolvedDataset;
  /** Needed by drift expectations; without it they report status `error`. */
  baseline?: ResolvedDataset;
  sampleSize?: number;
  /** Histograms and top values for the report (extra scans; default true). */
  profile?: boolean;
  /** Called between queries (activity heartbeats). */
  progress?: (step: string) => void;
}

export interface SuiteRun {
  rowCount: number;
  results: ExpectationResult[];
  profiles: ColumnProfile[];
  queries: number;
}

const FORMAT_PATTERNS: Record<string, string> = {
  email: '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$',
  uuid: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  'date-time': '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$',
  date: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  ipv4: '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$',
  uri: '^[A-Za-z][A-Za-z0-9+.-]*:[^[:space:]]+$',
};

const HISTOGRAM_BINS = 20;
const TOP_VALUES = 10;
const PROFILE_COLUMNS = 12;

/** Collects bound parameters after the dataset's own. */
class Params {
  readonly values: unknown[];
  constructor(initial: unknown[]) {
    this.values = [...initial];
  }
  bind(v: unknown, cast = ''): string {
    this.values.push(v);
    return `$${this.values.length}${cast}`;
  }
}

interface Plan {
  e: Expectation;
  result?: ExpectationResult; // decided before the scan (error)
  aggs: string[]; // aliases in the combined SELECT
  failWhere?: string; // predicate selecting failing rows (for samples)
  firstFailing?: string; // alias of the first failing row's position, from the combined SELECT
  sampleColumns: string[];
}

const num = (v: unknown): number => (v === null || v === undefined ? Number.NaN : Number(v));
const CUSTOM_SAMPLE_COLUMNS = 12;

/** Columns that say which row a sample is: the log position and event id, or a table's first columns. */
function contextColumns(ds: ResolvedDataset): string[] {
  const log = ['seq', 'event_id'].filter((c) => ds.columns.has(c));
  return log.length === 2 ? log : [...ds.columns.keys()].slice(0, SAMPLE_CONTEXT_COLUMNS);
}
const col = (name: string): string => `d.${quoteIdent(name)}`;

/** A savepoint around a probe query, so a failing probe does not abort the suite's transaction. */
async function probe(db: PoolClient, sql: string, params: unknown[]): Promise<string | undefined> {
  await db.query('SAVEPOINT probe');
  try {
    await db.query(sql, params);
    await db.query('RELEASE SAVEPOINT probe');
    return undefined;
  } catch (err) {
    await db.query('ROLLBACK TO SAVEPOINT probe');
    return (err as Error).message;
  }
}

export async function runExpectationSuite(db: PoolClient, opts: SuiteOptions): Promise<SuiteRun> {
  const { contract, dataset } = opts;
  const sampleSize = opts.sampleSize ?? 5;
  const progress = opts.progress ?? (() => undefined);
  const pii = piiColumns(contract);
  const expectations = contract.expectations ?? [];
  const params = new Params(dataset.params);
  const aggs: string[] = ['count(*)::float8 AS n'];
  const agg = (sql: string): string => {
    const alias = `a${aggs.length}`;
    aggs.push(`${sql} AS ${alias}`);
    return alias;
  };
  let queries = 0;
  // Each failing-row predicate is computed once per row, as a boolean column of an inner projection
  // (OFFSET 0 keeps the planner from inlining it into every aggregate that uses it).
  const flags: string[] = [];
  const flagOf = new Map<Plan, string>();
  const flag = (plan: Plan): string => {
    let name = flagOf.get(plan);
    if (!name) {
      name = `__f${flags.length}`;
      flags.push(`(${plan.failWhere ?? 'false'}) AS ${name}`);
      flagOf.set(plan, name);
    }
    return `d.${name}`;
  };

  // 1. Plan: check each expectation against the dataset, then add its aggregates.
  const plans: Plan[] = [];
  for (const e of expectations) {
    const plan: Plan = { e, aggs: [], sampleColumns: [] };
    plans.push(plan);
    const missing = expectationColumns(e).map((c) => c.column).filter((c) => !dataset.columns.has(c));
    if (missing.length) {
      plan.result = errorResult(e, `column(s) ${missing.join(', ')} not in ${dataset.describe} (columns: ${[...dataset.columns.keys()].join(', ')})`);
      continue;
    }
    const kindOf = (c: string): ColumnKind => dataset.columns.get(c) ?? 'other';
    switch (e.type) {
      case 'row_count':
        break;
      case 'not_null':
        plan.failWhere = `${col(e.column)} IS NULL`;
        plan.aggs.push(agg(`count(*) FILTER (WHERE ${flag(plan)})::float8`));
        break;
      case 'unique':
        break; // own GROUP BY query (hash aggregation beats count(DISTINCT ...) sorts, and it yields the sample)
      case 'accepted_values': {
        const k = kindOf(e.column);
        const cast = k === 'numeric' ? '::numeric[]' : k === 'boolean' ? '::boolean[]' : '::text[]';
        const c = k === 'numeric' || k === 'boolean' ? col(e.column) : `${col(e.column)}::text`;
        if ((k === 'numeric' && e.values.some((v) => typeof v !== 'number')) || (k === 'boolean' && e.values.some((v) => typeof v !== 'boolean'))) {
          plan.result = errorResult(e, `column ${e.column} is ${k}, but the accepted values are ${JSON.stringify(e.values)}`);
          break;
        }
        plan.failWhere = `${col(e.column)} IS NOT NULL AND NOT (${c} = ANY(${params.bind(k === 'numeric' || k === 'boolean' ? e.values : e.values.map(String), cast)}))`;
        plan.aggs.push(agg(`count(${col(e.column)})::float8`), agg(`count(*) FILTER (WHERE ${flag(plan)})::float8`));
        break;
      }
      case 'range': {
        if (kindOf(e.column) !== 'numeric') {
          plan.result = errorResult(e, `range needs a numeric column; ${e.column} is ${kindOf(e.column)}`);
          break;
        }
        const conds: string[] = [];
        if (e.min !== undefined) conds.push(`${col(e.column)} < ${params.bind(e.min, '::numeric')}`);
        if (e.max !== undefined) conds.push(`${col(e.column)} > ${params.bind(e.max, '::numeric')}`);
        plan.failWhere = conds.join(' OR ');
        plan.aggs.push(
          agg(`count(${col(e.column)})::float8`),
          agg(`count(*) FILTER (WHERE ${flag(plan)})::float8`),
          agg(`min(${col(e.column)})::float8`),
          agg(`max(${col(e.column)})::float8`),
        );
        break;
      }
      case 'regex':
      case 'format': {
        const pattern = e.type === 'regex' ? e.pattern : (FORMAT_PATTERNS[e.format] ?? '');
        // PostgreSQL compiles the pattern (its engine does not backtrack exponentially); a bad one is a result, not a crash.
        const bad = e.type === 'regex' ? (queries++, await probe(db, "SELECT '' ~ $1", [pattern])) : undefined;
        if (bad) {
          plan.result = errorResult(e, `pattern ${JSON.stringify(pattern)} is not a valid PostgreSQL regular expression: ${bad}`);
          break;
        }
        plan.failWhere = `${col(e.column)} IS NOT NULL AND ${col(e.column)}::text !~ ${params.bind(pattern, '::text')}`;
        plan.aggs.push(agg(`count(${col(e.column)})::float8`), agg(`count(*) FILTER (WHERE ${flag(plan)})::float8`));
        break;
      }
      case 'freshness': {
        const c = e.column ?? 'event_time';
        if (kindOf(c) !== 'time') {
          plan.result = errorResult(e, `freshness needs a timestamp column; ${c} is ${kindOf(c)}`);
          break;
        }
        plan.aggs.push(agg(`extract(epoch FROM (now() - max(${col(c)})))::float8`), agg(`max(${col(c)})::text`));
        break;
      }
      case 'custom_sql': {
        // Trusted (reviewed with the contract) but still fenced: one expression, no statement
        // separator, no parameter references, and it runs in a READ ONLY transaction.
        if (/;|\$\d/.test(e.failingRowsWhere)) {
          plan.result = errorResult(e, 'failingRowsWhere must be one SQL expression: no ";" and no $n parameters');
          break;
        }
        const pred = `(${e.failingRowsWhere})`;
        queries++;
        const bad = await probe(db, `EXPLAIN SELECT count(*) FILTER (WHERE ${pred}) FROM ${dataset.sql} d`, dataset.params);
        if (bad) {
          plan.result = errorResult(e, `failingRowsWhere does not compile against ${dataset.describe}: ${bad}`);
          break;
        }
        plan.failWhere = pred;
        plan.aggs.push(agg(`count(*) FILTER (WHERE ${flag(plan)})::float8`));
        break;
      }
      case 'referential_integrity':
      case 'drift':
        break; // own queries below
      default: {
        const never: never = e;
        throw new Error(`unknown expectation ${JSON.stringify(never)}`);
      }
    }
    // a custom predicate may read any column: its sample shows the row
    const own = e.type === 'custom_sql' ? [...dataset.columns.keys()].slice(0, CUSTOM_SAMPLE_COLUMNS) : expectationColumns(e).map((c) => c.column).filter((c) => dataset.columns.has(c));
    plan.sampleColumns = [...new Set([...contextColumns(dataset), ...own])];
    // Where the first failing row is: sampling can start its scan there instead of at the beginning.
    if (plan.failWhere && !plan.result && dataset.position) plan.firstFailing = agg(`min(d.${POSITION_COLUMN}) FILTER (WHERE ${flag(plan)})::text`);
  }

  // Profile columns (for the report): min/max of numeric ones ride along in the same scan.
  const profileColumns = opts.profile === false ? [] : [...new Set(expectations.flatMap((e) => expectationColumns(e).map((c) => c.column)))]
    .filter((c) => dataset.columns.has(c)).slice(0, PROFILE_COLUMNS);
  const profileAggs = new Map<string, string[]>();
  for (const c of profileColumns) {
    const k = dataset.columns.get(c);
    profileAggs.set(c, k === 'numeric' ? [agg(`count(${col(c)})::float8`), agg(`min(${col(c)})::float8`), agg(`max(${col(c)})::float8`)] : [agg(`count(${col(c)})::float8`)]);
  }

  // 2. The one scan.
  progress('aggregates');
  queries++;
  const used = [...new Set([...expectations.flatMap((e) => expectationColumns(e).map((c) => c.column)), ...profileColumns])].filter((c) => dataset.columns.has(c));
  const inner = [...(dataset.position ? [`d.${POSITION_COLUMN}`] : []), ...used.map(col), ...flags];
  const from = flags.length ? `(SELECT ${inner.join(', ')} FROM ${dataset.sql} d OFFSET 0)` : dataset.sql;
  const { rows } = await db.query<Record<string, unknown>>(`SELECT ${aggs.join(', ')} FROM ${from} d`, params.values);
  const row = rows[0] ?? {};
  const n = num(row.n);
  const a = (alias: string | undefined): number => num(alias === undefined ? undefined : row[alias]);

  // 3. Judge.
  const results: ExpectationResult[] = [];
  const toSample: { plan: Plan; result: ExpectationResult }[] = [];
  for (const plan of plans) {
    const { e } = plan;
    if (plan.result) {
      results.push(plan.result);
      continue;
    }
    progress(expectationName(e));
    const r = await judge(db, plan, { n, a, row, dataset, baseline: opts.baseline, params: dataset.params, countQuery: () => queries++, sampleSize, pii });
    if (!r.passed && r.status === 'failed' && sampleSize > 0) {
      if (plan.failWhere) toSample.push({ plan, result: r });
    }
    results.push(r);
  }
  // Failing rows of every failed row-level expectation in ONE more scan, stopped early once each has its sample.
  if (toSample.length) {
    progress('samples');
    queries++;
    await sampleFailingRows(db, dataset, toSample, sampleSize, pii, params, toSample.map((f) => (f.plan.firstFailing ? row[f.plan.firstFailing] : undefined)));
  }

  // 4. Profiles.
  const profiles: ColumnProfile[] = [];
  for (const c of profileColumns) {
    progress(`profile ${c}`);
    const [nn, lo, hi] = (profileAggs.get(c) ?? []).map(a);
    const kind = dataset.columns.get(c) ?? 'other';
    const p: ColumnProfile = { column: c, kind, nonNull: nn ?? 0, pii: pii.has(c) };
    if (kind === 'numeric' && lo !== undefined && hi !== undefined && Number.isFinite(lo) && Number.isFinite(hi)) {
      queries++;
      const top = hi > lo ? hi : lo + 1;
      const h = await db.query<{ b: number; n: string }>(
        `SELECT least(width_bucket(${col(c)}::float8, $${dataset.params.length + 1}::float8, $${dataset.params.length + 2}::float8, ${HISTOGRAM_BINS}), ${HISTOGRAM_BINS}) AS b, count(*) AS n
           FROM ${dataset.sql} d WHERE ${col(c)} IS NOT NULL GROUP BY 1`,
        [...dataset.params, lo, top],
      );
      const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
      for (const x of h.rows) counts[Math.max(0, Number(x.b) - 1)] = (counts[Math.max(0, Number(x.b) - 1)] ?? 0) + Number(x.n);
      p.histogram = { lo, hi: top, counts };
    } else if (!p.pii && kind !== 'numeric') {
      queries++;
      const t = await db.query<{ v: string | null; n: string }>(
        `SELECT ${col(c)}::text AS v, count(*) AS n FROM ${dataset.sql} d GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP_VALUES}`,
        dataset.params,
      );
      p.topValues = t.rows.map((x) => ({ value: x.v, count: Number(x.n) }));
    }
    profiles.push(p);
  }
  return { rowCount: n, results, profiles, queries };
}

interface JudgeContext {
  n: number;
  a: (alias: string | undefined) => number;
  row: Record<string, unknown>;
  dataset: ResolvedDataset;
  baseline: ResolvedDataset | undefined;
  params: unknown[];
  countQuery: () => void;
  sampleSize: number;
  pii: Set<string>;
}

async function judge(db: PoolClient, plan: Plan, ctx: JudgeContext): Promise<ExpectationResult> {
  const { e } = plan;
  const { n, a } = ctx;
  const [x0, x1, x2, x3] = plan.aggs;
  switch (e.type) {
    case 'row_count':
      return rowCountVerdict(e, n);
    case 'not_null':
      return notNullVerdict(e, n, a(x0));
    case 'unique':
      return unique(db, e, ctx);
    case 'accepted_values':
    case 'regex':
    case 'format': {
      const th = { minRate: e.minRate ?? 1 };
      if (n === 0) return noData(e, th);
      const nonNull = a(x0);
      if (nonNull === 0) return noData(e, th, `${e.column} is null in all ${n} rows`);
      const bad = a(x1);
      const rate = 1 - bad / nonNull;
      const what = e.type === 'accepted_values' ? 'in the accepted set' : e.type === 'regex' ? `matching ${JSON.stringify(e.pattern)}` : `valid ${e.format}`;
      return verdict(e, rate >= th.minRate, rate, th, `${bad} of ${nonNull} non-null values not ${what} (rate ok ${fmt(rate)}, min ${th.minRate})`, { unexpected: bad, total: nonNull });
    }
    case 'range': {
      const th = { min: e.min ?? null, max: e.max ?? null, minRate: e.minRate ?? 1 };
      if (n === 0) return noData(e, th);
      const nonNull = a(x0);
      if (nonNull === 0) return noData(e, th, `${e.column} is null in all ${n} rows`);
      const bad = a(x1);
      const rate = 1 - bad / nonNull;
      return verdict(e, rate >= th.minRate, rate, th, `${bad} of ${nonNull} values outside [${e.min ?? '-∞'}, ${e.max ?? '∞'}]; observed min ${fmt(a(x2))}, max ${fmt(a(x3))}`, {
        unexpected: bad,
        total: nonNull,
        details: { min: a(x2), max: a(x3) },
      });
    }
    case 'freshness': {
      const th = { maxAgeSeconds: e.maxAgeSeconds };
      if (n === 0) return noData(e, th);
      const age = a(x0);
      if (!Number.isFinite(age)) return noData(e, th, `${e.column ?? 'event_time'} is null in all ${n} rows`);
      const newest = ctx.row[x1 ?? ''] as string;
      return verdict(e, age <= e.maxAgeSeconds, age, th, `newest ${e.column ?? 'event_time'} ${newest} is ${fmt(age)} s old (max ${e.maxAgeSeconds} s)`, { details: { newest } });
    }
    case 'custom_sql': {
      const th = { maxFailing: e.maxFailing ?? 0 };
      if (n === 0) return noData(e, th);
      const bad = a(x0);
      return verdict(e, bad <= th.maxFailing, bad, th, `${bad} of ${n} rows where ${e.failingRowsWhere}`, { unexpected: bad, total: n });
    }
    case 'referential_integrity':
      return referentialIntegrity(db, plan, e, ctx);
    case 'drift':
      return drift(db, e, ctx);
    default: {
      const never: never = e;
      throw new Error(`unknown expectation ${JSON.stringify(never)}`);
    }
  }
}

async function referentialIntegrity(
  db: PoolClient,
  plan: Plan,
  e: Extract<Expectation, { type: 'referential_integrity' }>,
  ctx: JudgeContext,
): Promise<ExpectationResult> {
  const th = { maxMissingRate: e.maxMissingRate ?? 0 };
  const schema = e.references.schema ?? 'sluice_derived';
  if (!(DATASET_SCHEMAS as readonly string[]).includes(schema)) return errorResult(e, `referenced schema ${schema} is not one of ${DATASET_SCHEMAS.join(', ')}`, th);
  ctx.countQuery();
  if (!(await tableColumns(db, schema, e.references.table)).has(e.references.column)) return errorResult(e, `referenced column ${schema}.${e.references.table}.${e.references.column} does not exist`, th);
  if (ctx.n === 0) return noData(e, th);
  const ref = `${quoteIdent(schema)}.${quoteIdent(e.references.table)}`;
  // Compared as text: the two columns may have different (compatible) types.
  plan.failWhere = `${col(e.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${ref} r WHERE r.${quoteIdent(e.references.column)}::text = ${col(e.column)}::text)`;
  ctx.countQuery();
  const { rows } = await db.query<{ nn: string; missing: string }>(
    `SELECT count(${col(e.column)}) AS nn, count(*) FILTER (WHERE ${plan.failWhere}) AS missing FROM ${ctx.dataset.sql} d`,
    ctx.params,
  );
  const nn = num(rows[0]?.nn);
  const missing = num(rows[0]?.missing);
  if (nn === 0) return noData(e, th, `${e.column} is null in all ${ctx.n} rows`);
  const rate = missing / nn;
  return verdict(e, rate <= th.maxMissingRate, rate, th, `${missing} of ${nn} values of ${e.column} not found in ${schema}.${e.references.table}.${e.references.column}`, {
    unexpected: missing,
    total: nn,
  });
}

async function valueCounts(db: PoolClient, ds: ResolvedDataset, column: string): Promise<{ counts: Map<string, number>; total: number }> {
  const { rows } = await db.query<{ v: string; n: string; total: string }>(
    `SELECT v, n, sum(n) OVER () AS total FROM (SELECT ${col(column)}::text AS v, count(*) AS n FROM ${ds.sql} d WHERE ${col(column)} IS NOT NULL GROUP BY 1) g ORDER BY n DESC, v LIMIT 200`,
    ds.params,
  );
  return { counts: new Map(rows.map((r) => [r.v, Number(r.n)])), total: Number(rows[0]?.total ?? 0) };
}

async function binCounts(db: PoolClient, ds: ResolvedDataset, column: string, edges: number[]): Promise<number[]> {
  const p = ds.params.length + 1;
  const { rows } = await db.query<{ b: number; n: string }>(
    `SELECT width_bucket(${col(column)}::float8, $${p}::float8[]) AS b, count(*) AS n FROM ${ds.sql} d WHERE ${col(column)} IS NOT NULL GROUP BY 1`,
    [...ds.params, edges],
  );
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const r of rows) counts[Number(r.b)] = Number(r.n);
  return counts;
}

async function drift(db: PoolClient, e: Extract<Expectation, { type: 'drift' }>, ctx: JudgeContext): Promise<ExpectationResult> {
  const th = { threshold: e.threshold };
  const base = ctx.baseline;
  if (!base) return errorResult(e, 'no baseline dataset: pass `baseline` to the validate run to compare the distribution against', th);
  if (!base.columns.has(e.column)) return errorResult(e, `baseline ${base.describe} has no column ${e.column}`, th);
  if (ctx.n === 0) return noData(e, th);
  const kind = ctx.dataset.columns.get(e.column);
  if (e.kind === 'numeric' && (kind !== 'numeric' || base.columns.get(e.column) !== 'numeric')) {
    return errorResult(e, `numeric drift needs numeric columns; ${e.column} is ${kind} here and ${base.columns.get(e.column)} in the baseline`, th);
  }
  if (e.method === 'ks' && e.kind !== 'numeric') return errorResult(e, 'the KS statistic needs kind "numeric"', th);

  let bins: DriftBin[];
  let baselineTotal: number;
  if (e.kind === 'categorical') {
    ctx.countQuery();
    ctx.countQuery();
    const cur = await valueCounts(db, ctx.dataset, e.column);
    const bl = await valueCounts(db, base, e.column);
    baselineTotal = bl.total;
    bins = maskBinLabels(categoricalBins(cur.counts, bl.counts, { current: cur.total, baseline: bl.total }), e.column, ctx.pii);
  } else {
    const nb = e.bins ?? 10;
    const qs = Array.from({ length: nb - 1 }, (_, i) => (i + 1) / nb);
    ctx.countQuery();
    const { rows } = await db.query<{ edges: number[] | null; n: string }>(
      `SELECT percentile_cont($${base.params.length + 1}::float8[]) WITHIN GROUP (ORDER BY ${col(e.column)}::float8) AS edges, count(${col(e.column)}) AS n FROM ${base.sql} d`,
      [...base.params, qs],
    );
    baselineTotal = num(rows[0]?.n);
    const edges = [...new Set((rows[0]?.edges ?? []).map(Number))].sort((x, y) => x - y);
    ctx.countQuery();
    ctx.countQuery();
    const cur = await binCounts(db, ctx.dataset, e.column, edges);
    const bl = await binCounts(db, base, e.column, edges);
    bins = cur.map((c, i) => ({
      label: i === 0 ? `< ${fmt(edges[0] ?? Number.NaN)}` : i === edges.length ? `≥ ${fmt(edges[i - 1] ?? Number.NaN)}` : `[${fmt(edges[i - 1] ?? 0)}, ${fmt(edges[i] ?? 0)})`,
      current: c,
      baseline: bl[i] ?? 0,
    }));
  }
  if (!(baselineTotal > 0)) return errorResult(e, `baseline ${base.describe} has no non-null ${e.column}: nothing to compare against`, th);

  let observed: number;
  const details: Record<string, unknown> = { bins, baseline: base.describe };
  if (e.method === 'psi') {
    observed = populationStabilityIndex(bins);
  } else {
    // Two-sample Kolmogorov-Smirnov statistic, exact: max |F_current - F_baseline| over all values.
    ctx.countQuery();
    const off = ctx.dataset.params.length;
    const { rows } = await db.query<{ ks: number | null }>(
      `WITH u AS (SELECT ${col(e.column)}::float8 AS v, 1 AS a, 0 AS b FROM ${ctx.dataset.sql} d WHERE ${col(e.column)} IS NOT NULL
                  UNION ALL SELECT ${col(e.column)}::float8, 0, 1 FROM ${shiftParams(base.sql, off)} d WHERE ${col(e.column)} IS NOT NULL),
            g AS (SELECT v, sum(a) AS a, sum(b) AS b FROM u GROUP BY v),
            t AS (SELECT sum(a)::float8 AS na, sum(b)::float8 AS nb FROM g),
            e AS (SELECT sum(a) OVER w AS ca, sum(b) OVER w AS cb FROM g WINDOW w AS (ORDER BY v))
       SELECT max(abs(ca / NULLIF(t.na, 0) - cb / NULLIF(t.nb, 0)))::float8 AS ks FROM e, t`,
      [...ctx.dataset.params, ...base.params],
    );
    observed = num(rows[0]?.ks);
    details.psi = populationStabilityIndex(bins);
  }
  if (!Number.isFinite(observed)) return noData(e, th, `${e.column} has no non-null values`);
  return verdict(e, observed <= e.threshold, observed, th, `${e.method.toUpperCase()} ${fmt(observed)} vs ${base.describe} (threshold ${e.threshold})`, { details });
}

/** A sample row as plain JSON values (timestamps as ISO text, bytes as hex), PII fields masked. */
function mask(row: Record<string, unknown>, pii: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (pii.has(k) && v !== null) out[k] = '***';
    else if (v instanceof Date) out[k] = Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
    else if (Buffer.isBuffer(v)) out[k] = `\\x${v.toString('hex')}`;
    else out[k] = v;
  }
  return out;
}

/** Renumbers the `$n` a SQL fragment uses (numbered for the combined SELECT) to follow the dataset's own parameters. */
function compactParams(sql: string, ds: ResolvedDataset, all: unknown[], values: unknown[], renumbered: Map<number, number>): string {
  return sql.replace(/\$(\d+)/g, (m, k: string) => {
    const i = Number(k);
    if (i <= ds.params.length) return m;
    if (!renumbered.has(i)) {
      values.push(all[i - 1]);
      renumbered.set(i, values.length);
    }
    return `$${renumbered.get(i)}`;
  });
}

const SAMPLE_FETCH = 1000;

async function sampleFailingRows(
  db: PoolClient,
  ds: ResolvedDataset,
  failed: { plan: Plan; result: ExpectationResult }[],
  size: number,
  pii: Set<string>,
  params: Params,
  firstFailing: unknown[],
): Promise<void> {
  const values = [...ds.params];
  const renumbered = new Map<number, number>();
  const preds = failed.map((f) => `coalesce((${compactParams(f.plan.failWhere ?? 'false', ds, params.values, values, renumbered)}), false)`);
  // Start at the earliest first-failing row of them all (a TID range scan on a table, the seq index on the log).
  const starts = firstFailing.filter((x): x is string => typeof x === 'string');
  let from = '';
  if (ds.position && starts.length === failed.length) {
    const key = (p: string): [bigint, bigint] => {
      const m = /^\((\d+),(\d+)\)$/.exec(p);
      return m ? [BigInt(m[1] ?? 0), BigInt(m[2] ?? 0)] : [BigInt(p), 0n];
    };
    const earliest = starts.reduce((x, y) => {
      const [a1, a2] = key(x);
      const [b1, b2] = key(y);
      return a1 < b1 || (a1 === b1 && a2 <= b2) ? x : y;
    });
    values.push(earliest);
    from = ` AND d.${POSITION_COLUMN} >= $${values.length}::${ds.position}`;
  }
  const columns = [...new Set(failed.flatMap((f) => f.plan.sampleColumns))];
  const select = [...columns.map(col), ...preds.map((p, i) => `${p} AS "f${i}"`)].join(', ');
  const where = preds.join(' OR ');
  // A cursor inside the suite's read-only transaction: rows stream in pages, and the scan stops as soon as every sample is full.
  await db.query(`DECLARE sluice_samples NO SCROLL CURSOR FOR SELECT ${select} FROM ${ds.sql} d WHERE (${where})${from}`, values);
  try {
    for (;;) {
      const { rows } = await db.query<Record<string, unknown>>(`FETCH ${SAMPLE_FETCH} FROM sluice_samples`);
      for (const r of rows) {
        failed.forEach((f, i) => {
          if (r[`f${i}`] !== true || f.result.sample.length >= size) return;
          f.result.sample.push(mask(Object.fromEntries(f.plan.sampleColumns.map((c) => [c, r[c]])), pii));
        });
      }
      if (rows.length < SAMPLE_FETCH || failed.every((f) => f.result.sample.length >= size)) break;
    }
  } finally {
    await db.query('CLOSE sluice_samples');
  }
}

/**
 * Duplicate keys by hash aggregation, in one query that also returns the most repeated keys as the
 * sample: the groups, their total and duplicate counts as window aggregates, the top ones by count.
 */
async function unique(db: PoolClient, e: Extract<Expectation, { type: 'unique' }>, ctx: JudgeContext): Promise<ExpectationResult> {
  const th = { maxDuplicates: 0 };
  if (ctx.n === 0) return noData(e, th);
  const cols = e.columns.map(col);
  const names = e.columns.map(quoteIdent);
  ctx.countQuery();
  const { rows } = await db.query<Record<string, unknown> & { occurrences: number; total: string; dups: string | null }>(
    `SELECT ${names.join(', ')}, occurrences, sum(occurrences) OVER () AS total, sum(occurrences - 1) FILTER (WHERE occurrences > 1) OVER () AS dups
       FROM (SELECT ${cols.map((c, i) => `${c} AS ${names[i]}`).join(', ')}, count(*)::int AS occurrences FROM ${ctx.dataset.sql} d
              WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')} GROUP BY ${cols.join(', ')}) g
      ORDER BY occurrences DESC LIMIT ${Math.max(1, ctx.sampleSize)}`,
    ctx.params,
  );
  const total = num(rows[0]?.total ?? 0);
  const dup = num(rows[0]?.dups ?? 0);
  if (total === 0) return noData(e, th, `(${e.columns.join(', ')}) is null in all ${ctx.n} rows`);
  const sample = rows
    .filter((r) => r.occurrences > 1)
    .slice(0, ctx.sampleSize)
    .map((r) => mask(Object.fromEntries([...e.columns.map((c) => [c, r[c]]), ['occurrences', r.occurrences]]), ctx.pii));
  return verdict(e, dup === 0, dup, th, dup === 0 ? `all ${total} keys distinct` : `${dup} rows repeat an earlier (${e.columns.join(', ')}) key`, { unexpected: dup, total, sample });
}
