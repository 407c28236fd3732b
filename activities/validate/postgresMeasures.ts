/**
 * The measurements of the PostgreSQL engine that need queries of their own (not a FILTERed
 * aggregate of the combined scan): uniqueness, referential integrity and drift. They return what
 * the shared evaluators judge; they do not judge.
 */
import type { PoolClient } from 'pg';
import type { DriftExpectation, ReferentialIntegrityExpectation, UniqueExpectation } from '../../contracts/expectations';
import { quoteIdent, shiftParams, tableColumns, type ResolvedDataset } from './dataset';
import { binEdges, categoricalBins, maskBinLabels, numericBins, quantileLevels, type DriftBin } from './drift';
import { thresholdOf, type Measurement } from './evaluators';
import { col, num, type SqlPlan } from './postgresSql';
import { errorResult, maskSampleRow, type ExpectationResult } from './results';

export interface MeasureContext {
  db: PoolClient;
  dataset: ResolvedDataset;
  baseline: ResolvedDataset | undefined;
  pii: Set<string>;
  sampleSize: number;
  /** Runs a statement and counts it. */
  query: <R extends Record<string, unknown>>(sql: string, values: unknown[]) => Promise<R[]>;
}

/**
 * Duplicate keys by hash aggregation (GROUP BY), not count(DISTINCT ...), whose sort is the slow
 * part: one query that also returns the most repeated keys as the sample, with the groups' total
 * and duplicate counts as window aggregates.
 */
export async function measureUnique(ctx: MeasureContext, e: UniqueExpectation): Promise<Measurement> {
  const cols = e.columns.map(col);
  const names = e.columns.map(quoteIdent);
  const rows = await ctx.query<Record<string, unknown> & { occurrences: number; total: string; dups: string | null }>(
    `SELECT ${names.join(', ')}, occurrences, sum(occurrences) OVER () AS total, sum(occurrences - 1) FILTER (WHERE occurrences > 1) OVER () AS dups
       FROM (SELECT ${cols.map((c, i) => `${c} AS ${names[i]}`).join(', ')}, count(*)::int AS occurrences FROM ${ctx.dataset.sql} d
              WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')} GROUP BY ${cols.join(', ')}) g
      ORDER BY occurrences DESC LIMIT ${Math.max(1, ctx.sampleSize)}`,
    ctx.dataset.params,
  );
  const sample = rows
    .filter((r) => r.occurrences > 1)
    .slice(0, ctx.sampleSize)
    .map((r) => maskSampleRow(Object.fromEntries([...e.columns.map((c) => [c, r[c]]), ['occurrences', r.occurrences]]), ctx.pii));
  return { type: 'unique', total: num(rows[0]?.total ?? 0), duplicates: num(rows[0]?.dups ?? 0), sample };
}

/** Checked before the scan: the referenced column exists (an `error` result naming it when not). */
export async function referencedColumnError(db: PoolClient, e: ReferentialIntegrityExpectation): Promise<ExpectationResult | undefined> {
  const schema = e.references.schema ?? 'sluice_derived';
  if ((await tableColumns(db, schema, e.references.table)).has(e.references.column)) return undefined;
  return errorResult(e, `referenced column ${schema}.${e.references.table}.${e.references.column} does not exist`, thresholdOf(e));
}

/** Values with no match in the referenced column, by an anti-join; sets the plan's failing-row predicate for samples. */
export async function measureReferentialIntegrity(
  ctx: MeasureContext,
  e: ReferentialIntegrityExpectation,
  plan: SqlPlan,
): Promise<Measurement> {
  const ref = `${quoteIdent(e.references.schema ?? 'sluice_derived')}.${quoteIdent(e.references.table)}`;
  // Compared as text: the two columns may have different (compatible) types.
  plan.failWhere = `${col(e.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${ref} r WHERE r.${quoteIdent(e.references.column)}::text = ${col(e.column)}::text)`;
  const [row] = await ctx.query<{ nn: string; missing: string }>(
    `SELECT count(${col(e.column)}) AS nn, count(*) FILTER (WHERE ${plan.failWhere}) AS missing FROM ${ctx.dataset.sql} d`,
    ctx.dataset.params,
  );
  return { type: 'referential_integrity', nonNull: num(row?.nn), missing: num(row?.missing) };
}

async function valueCounts(
  ctx: MeasureContext,
  ds: ResolvedDataset,
  column: string,
): Promise<{ counts: Map<string, number>; total: number }> {
  const rows = await ctx.query<{ v: string; n: string; total: string }>(
    `SELECT v, n, sum(n) OVER () AS total FROM (SELECT ${col(column)}::text AS v, count(*) AS n FROM ${ds.sql} d WHERE ${col(column)} IS NOT NULL GROUP BY 1) g ORDER BY n DESC, v LIMIT 200`,
    ds.params,
  );
  return { counts: new Map(rows.map((r) => [r.v, Number(r.n)])), total: Number(rows[0]?.total ?? 0) };
}

async function binCounts(ctx: MeasureContext, ds: ResolvedDataset, column: string, edges: number[]): Promise<number[]> {
  const p = ds.params.length + 1;
  const rows = await ctx.query<{ b: number; n: string }>(
    `SELECT width_bucket(${col(column)}::float8, $${p}::float8[]) AS b, count(*) AS n FROM ${ds.sql} d WHERE ${col(column)} IS NOT NULL GROUP BY 1`,
    [...ds.params, edges],
  );
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const r of rows) counts[Number(r.b)] = Number(r.n);
  return counts;
}

/**
 * Bins of current vs baseline (categorical: value counts; numeric: the baseline's quantiles as
 * edges), and the exact KS statistic when asked.
 */
export async function measureDrift(ctx: MeasureContext, e: DriftExpectation): Promise<Measurement> {
  const base = ctx.baseline;
  // The planner refuses drift without a baseline before anything runs.
  if (!base) throw new Error(`drift ${e.column} measured without a baseline`);
  let bins: DriftBin[];
  let baselineTotal: number;
  if (e.kind === 'categorical') {
    const cur = await valueCounts(ctx, ctx.dataset, e.column);
    const bl = await valueCounts(ctx, base, e.column);
    baselineTotal = bl.total;
    bins = maskBinLabels(categoricalBins(cur.counts, bl.counts, { current: cur.total, baseline: bl.total }), e.column, ctx.pii);
  } else {
    const [row] = await ctx.query<{ edges: number[] | null; n: string }>(
      `SELECT percentile_cont($${base.params.length + 1}::float8[]) WITHIN GROUP (ORDER BY ${col(e.column)}::float8) AS edges, count(${col(e.column)}) AS n FROM ${base.sql} d`,
      [...base.params, quantileLevels(e.bins ?? 10)],
    );
    baselineTotal = num(row?.n);
    const edges = binEdges((row?.edges ?? []).map(Number));
    bins = numericBins(edges, await binCounts(ctx, ctx.dataset, e.column, edges), await binCounts(ctx, base, e.column, edges));
  }
  const currentTotal = bins.reduce((s, b) => s + b.current, 0);
  if (e.method === 'psi' || !(baselineTotal > 0) || currentTotal === 0)
    return { type: 'drift', bins, currentTotal, baselineTotal, baseline: base.describe };
  // Two-sample Kolmogorov-Smirnov statistic, exact: max |F_current - F_baseline| over all values.
  const off = ctx.dataset.params.length;
  const [ks] = await ctx.query<{ ks: number | null }>(
    `WITH u AS (SELECT ${col(e.column)}::float8 AS v, 1 AS a, 0 AS b FROM ${ctx.dataset.sql} d WHERE ${col(e.column)} IS NOT NULL
                UNION ALL SELECT ${col(e.column)}::float8, 0, 1 FROM ${shiftParams(base.sql, off)} d WHERE ${col(e.column)} IS NOT NULL),
          g AS (SELECT v, sum(a) AS a, sum(b) AS b FROM u GROUP BY v),
          t AS (SELECT sum(a)::float8 AS na, sum(b)::float8 AS nb FROM g),
          e AS (SELECT sum(a) OVER w AS ca, sum(b) OVER w AS cb FROM g WINDOW w AS (ORDER BY v))
     SELECT max(abs(ca / NULLIF(t.na, 0) - cb / NULLIF(t.nb, 0)))::float8 AS ks FROM e, t`,
    [...ctx.dataset.params, ...base.params],
  );
  return { type: 'drift', bins, currentTotal, baselineTotal, baseline: base.describe, ks: num(ks?.ks) };
}
