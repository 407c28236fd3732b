/**
 * The Arrow engine: a suite over an Arrow snapshot (a dataset's Arrow IPC bytes from the artifact
 * store), measured in the worker, column by column. What can run and the verdicts are the shared
 * planner's and evaluators', so results, statuses and messages are those of the PostgreSQL engine.
 *
 * Not everything runs here (the planner says why, as an `error` result, never a pass): `regex` (a
 * JS regex can backtrack exponentially, and its syntax is not PostgreSQL's POSIX one), `custom_sql`
 * and `referential_integrity` (they need SQL). `format` uses ajv-formats' validators, which are
 * written to be safe on hostile input.
 */
import { Type, type Table, type Vector } from 'apache-arrow';
import { fullFormats } from 'ajv-formats/dist/formats';
import type { DriftExpectation, Expectation } from '../../contracts/expectations';
import type { Contract } from '../../contracts/registry';
import type { ColumnKind } from './dataset';
import { binCounts, binEdges, categoricalBins, ksStatistic, maskBinLabels, numericBins, quantileLevels, type DriftBin } from './drift';
import { emptyDatasetResult, evaluate, thresholdOf, type Measurement } from './evaluators';
import { HISTOGRAM_BINS, TOP_VALUES, planSuite, sampleSizeOf, type DatasetShape } from './planner';
import { errorResult, maskSampleRow, piiColumns, type ColumnProfile, type ExpectationResult, type SuiteRun } from './results';

export interface ArrowDataset {
  table: Table;
  describe: string;
}

function kindOfType(type: Table['schema']['fields'][number]['type']): ColumnKind {
  const t = type.typeId === Type.Dictionary ? (type as unknown as { valueType: typeof type }).valueType : type;
  switch (t.typeId) {
    case Type.Int:
    case Type.Float:
    case Type.Decimal:
      return 'numeric';
    case Type.Utf8:
    case Type.LargeUtf8:
      return 'text';
    case Type.Bool:
      return 'boolean';
    case Type.Timestamp:
    case Type.Date:
      return 'time';
    default:
      return 'other';
  }
}

function shapeOf(ds: ArrowDataset): DatasetShape {
  return { columns: new Map(ds.table.schema.fields.map((f) => [f.name, kindOfType(f.type)])), describe: ds.describe };
}

/** Plain JS values of a column: numbers for numeric and time columns (ms), strings, booleans, null. */
function values(v: Vector, kind: ColumnKind): unknown[] {
  const out = new Array<unknown>(v.length);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v.get(i);
    if (x === null || x === undefined) out[i] = null;
    else if (kind === 'numeric' || kind === 'time')
      out[i] = typeof x === 'bigint' ? Number(x) : x instanceof Date ? x.getTime() : Number(x);
    else out[i] = x;
  }
  return out;
}

/** Min and max without spreading (a million arguments overflow the stack). */
function minMax(xs: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

type FormatCheck = RegExp | ((s: string) => boolean) | { validate: RegExp | ((s: string) => boolean) };
function formatTest(name: string): ((s: string) => boolean) | undefined {
  const f = (fullFormats as unknown as Record<string, FormatCheck | undefined>)[name];
  if (!f) return undefined;
  const check = f instanceof RegExp || typeof f === 'function' ? f : f.validate;
  return check instanceof RegExp ? (s) => check.test(s) : check;
}

/** percentile_cont: linear interpolation between closest ranks, like PostgreSQL. */
function percentile(sorted: number[], p: number): number {
  const at = p * (sorted.length - 1);
  const lo = Math.floor(at);
  return (sorted[lo] ?? 0) + ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? 0) - (sorted[lo] ?? 0)) * (at - lo);
}

export function runSuiteOnArrow(
  contract: Contract,
  dataset: ArrowDataset,
  opts: { baseline?: ArrowDataset; sampleSize?: number; profile?: boolean; now?: number } = {},
): SuiteRun {
  const { table } = dataset;
  const n = table.numRows;
  const size = sampleSizeOf(opts);
  const pii = piiColumns(contract);
  const shape = shapeOf(dataset);
  const baseShape = opts.baseline ? shapeOf(opts.baseline) : undefined;
  const plan = planSuite(contract.expectations ?? [], shape, { engine: 'arrow', baseline: baseShape, profile: opts.profile });
  const nowMs = opts.now ?? Date.now();
  const cache = new Map<Table, Map<string, unknown[]>>();
  const col = (name: string, t: Table = table): unknown[] => {
    const cols = cache.get(t) ?? new Map<string, unknown[]>();
    cache.set(t, cols);
    let v = cols.get(name);
    if (!v) {
      const field = t.schema.fields.find((f) => f.name === name);
      const child = t.getChild(name);
      v = child && field ? values(child, kindOfType(field.type)) : [];
      cols.set(name, v);
    }
    return v;
  };
  const nonNull = <T>(name: string, t: Table = table): T[] => col(name, t).filter((v) => v !== null) as T[];
  /** Row indices whose value of `column` is non-null and `fails`; and how many are non-null. */
  const scanColumn = (column: string, fails: (v: unknown) => boolean): { failing: number[]; nonNull: number } => {
    const failing: number[] = [];
    let count = 0;
    col(column).forEach((v, i) => {
      if (v === null) return;
      count++;
      if (fails(v)) failing.push(i);
    });
    return { failing, nonNull: count };
  };

  /** The measurement of `e`, and the rows that failed it (for the sample). */
  const measure = (
    e: Exclude<Expectation, { type: 'regex' | 'custom_sql' | 'referential_integrity' }>,
  ): { m: Measurement; failing?: number[] } => {
    switch (e.type) {
      case 'row_count':
        return { m: { type: 'row_count' } };
      case 'not_null': {
        const nulls: number[] = [];
        col(e.column).forEach((v, i) => v === null && nulls.push(i));
        return { m: { type: 'not_null', nulls: nulls.length }, failing: nulls };
      }
      case 'unique': {
        const cols = e.columns.map((c) => col(c));
        const counts = new Map<string, number>();
        let total = 0;
        for (let i = 0; i < n; i++) {
          const key = cols.map((c) => c[i]);
          if (key.some((k) => k === null)) continue;
          total++;
          const k = JSON.stringify(key);
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
        const sample = [...counts.entries()]
          .filter(([, c]) => c > 1)
          .sort((a, b) => b[1] - a[1])
          .slice(0, size)
          .map(([k, c]) => {
            const key = JSON.parse(k) as unknown[];
            return maskSampleRow({ ...Object.fromEntries(e.columns.map((name, j) => [name, key[j]])), occurrences: c }, pii);
          });
        return { m: { type: 'unique', total, duplicates: total - counts.size, sample } };
      }
      case 'accepted_values': {
        const k = shape.columns.get(e.column);
        const set = new Set<unknown>(k === 'numeric' ? e.values.map(Number) : k === 'text' ? e.values.map(String) : e.values);
        const s = scanColumn(e.column, (v) => !set.has(v));
        return { m: { type: e.type, nonNull: s.nonNull, failing: s.failing.length }, failing: s.failing };
      }
      case 'format': {
        const test = formatTest(e.format) ?? (() => false);
        const s = scanColumn(e.column, (v) => !test(String(v)));
        return { m: { type: e.type, nonNull: s.nonNull, failing: s.failing.length }, failing: s.failing };
      }
      case 'range': {
        const s = scanColumn(
          e.column,
          (v) => (e.min !== undefined && (v as number) < e.min) || (e.max !== undefined && (v as number) > e.max),
        );
        const [lo, hi] = minMax(nonNull<number>(e.column));
        return { m: { type: 'range', nonNull: s.nonNull, failing: s.failing.length, min: lo, max: hi }, failing: s.failing };
      }
      case 'freshness': {
        const ts = nonNull<number>(e.column ?? 'event_time');
        return { m: { type: 'freshness', newestMs: ts.length ? minMax(ts)[1] : null, nowMs } };
      }
      case 'drift':
        return { m: measureDrift(e) };
      default: {
        const never: never = e;
        throw new Error(`unknown expectation ${JSON.stringify(never)}`);
      }
    }
  };

  const measureDrift = (e: DriftExpectation): Measurement => {
    const b = opts.baseline;
    // The planner refuses drift without a baseline before anything runs.
    if (!b) throw new Error(`drift ${e.column} measured without a baseline`);
    const cur = nonNull<unknown>(e.column);
    const bl = nonNull<unknown>(e.column, b.table);
    let bins: DriftBin[];
    if (e.kind === 'categorical') {
      const count = (xs: unknown[]): Map<string, number> =>
        xs.reduce<Map<string, number>>((m, x) => m.set(String(x), (m.get(String(x)) ?? 0) + 1), new Map());
      bins = maskBinLabels(categoricalBins(count(cur), count(bl), { current: cur.length, baseline: bl.length }), e.column, pii);
    } else {
      const sorted = (bl as number[]).slice().sort((x, y) => x - y);
      const edges = binEdges(quantileLevels(e.bins ?? 10).map((q) => percentile(sorted, q)));
      bins = numericBins(edges, binCounts(cur as number[], edges), binCounts(bl as number[], edges));
    }
    const measured = { type: 'drift' as const, bins, currentTotal: cur.length, baselineTotal: bl.length, baseline: b.describe };
    if (e.method === 'psi' || !bl.length || !cur.length) return measured;
    const sort = (xs: unknown[]): number[] => (xs as number[]).slice().sort((x, y) => x - y);
    return { ...measured, ks: ksStatistic(sort(cur), sort(bl)) };
  };

  const sampleOf = (rows: number[], columns: string[]): Record<string, unknown>[] =>
    rows.slice(0, size).map((i) => maskSampleRow(Object.fromEntries(columns.map((c) => [c, table.getChild(c)?.get(i) as unknown])), pii));

  const results = plan.expectations.map(({ e, error, sampleColumns }): ExpectationResult => {
    const decided = error ?? emptyDatasetResult(e, n);
    if (decided) return decided;
    // The planner gives these an error result on this engine.
    if (e.type === 'regex' || e.type === 'custom_sql' || e.type === 'referential_integrity')
      return errorResult(e, `${e.type} does not run on Arrow snapshots`, thresholdOf(e));
    if (e.type === 'format' && !formatTest(e.format)) return errorResult(e, `no validator for format ${e.format}`, thresholdOf(e));
    const { m, failing } = measure(e);
    const r = evaluate(e, n, m);
    if (r.status === 'failed' && failing) r.sample = sampleOf(failing, sampleColumns);
    return r;
  });

  const profiles: ColumnProfile[] = [];
  for (const c of plan.profileColumns) {
    const kind = shape.columns.get(c) ?? 'other';
    const vs = nonNull<unknown>(c);
    const p: ColumnProfile = { column: c, kind, nonNull: vs.length, pii: pii.has(c) };
    if (kind === 'numeric' && vs.length) {
      const nums = vs as number[];
      const [lo, hi] = minMax(nums);
      const top = hi > lo ? hi : lo + 1;
      const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
      for (const v of nums) {
        const b = Math.min(HISTOGRAM_BINS - 1, Math.floor(((v - lo) / (top - lo)) * HISTOGRAM_BINS));
        counts[b] = (counts[b] ?? 0) + 1;
      }
      p.histogram = { lo, hi: top, counts };
    } else if (!p.pii && kind !== 'numeric') {
      const m = new Map<string | null, number>();
      for (const v of col(c)) m.set(v === null ? null : String(v), (m.get(v === null ? null : String(v)) ?? 0) + 1);
      p.topValues = [...m.entries()]
        .sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
        .slice(0, TOP_VALUES)
        .map(([value, count]) => ({ value, count }));
    }
    profiles.push(p);
  }
  return { rowCount: n, results, profiles, queries: 0 };
}
