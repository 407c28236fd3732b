/**
 * Expectation suites over an Arrow snapshot (a dataset's Arrow IPC bytes from the artifact store),
 * evaluated in the worker, column by column, with the same results and statuses as the PostgreSQL
 * engine (suite.ts).
 *
 * Not everything runs here: `regex` (a JS regex can backtrack exponentially, and its syntax is not
 * PostgreSQL's POSIX one), `custom_sql` and `referential_integrity` (they need SQL) give status
 * `error` with the reason, never a pass; validate the table or log range the snapshot came from to
 * run them. `format` uses ajv-formats' validators, which are written to be safe on hostile input.
 */
import { Type, type Table, type Vector } from 'apache-arrow';
import { fullFormats } from 'ajv-formats/dist/formats';
import { expectationColumns, type Expectation } from '../../contracts/expectations';
import type { Contract } from '../../contracts/registry';
import type { ColumnKind } from './dataset';
import { categoricalBins, maskBinLabels, populationStabilityIndex, type DriftBin } from './drift';
import type { ColumnProfile, ExpectationResult, SuiteRun } from './suite';
import { SAMPLE_CONTEXT_COLUMNS, errorResult, fmt, noData, notNullVerdict, piiColumns, rowCountVerdict, verdict } from './verdicts';

export interface ArrowDataset {
  table: Table;
  describe: string;
}

const HISTOGRAM_BINS = 20;
const TOP_VALUES = 10;
const PROFILE_COLUMNS = 12;

function kindOf(table: Table, column: string): ColumnKind | undefined {
  const field = table.schema.fields.find((f) => f.name === column);
  if (!field) return undefined;
  let t = field.type;
  if (t.typeId === Type.Dictionary) t = (t as unknown as { valueType: typeof t }).valueType;
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

/** Plain JS values of a column: numbers for numeric and time columns (ms), strings, booleans, null. */
function values(v: Vector, kind: ColumnKind): unknown[] {
  const out = new Array<unknown>(v.length);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v.get(i);
    if (x === null || x === undefined) out[i] = null;
    else if (kind === 'numeric' || kind === 'time') out[i] = typeof x === 'bigint' ? Number(x) : x instanceof Date ? x.getTime() : Number(x);
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

export function runSuiteOnArrow(contract: Contract, dataset: ArrowDataset, opts: { baseline?: ArrowDataset; sampleSize?: number; profile?: boolean } = {}): SuiteRun {
  const { table } = dataset;
  const n = table.numRows;
  const size = opts.sampleSize ?? 5;
  const pii = piiColumns(contract);
  const fieldNames = table.schema.fields.map((f) => f.name);
  const context = fieldNames.slice(0, SAMPLE_CONTEXT_COLUMNS);
  const cache = new Map<string, unknown[]>();
  const col = (name: string, t: Table = table): unknown[] => {
    const key = t === table ? name : `baseline:${name}`;
    let v = cache.get(key);
    if (!v) {
      const child = t.getChild(name);
      v = child ? values(child, kindOf(t, name) ?? 'other') : [];
      cache.set(key, v);
    }
    return v;
  };
  const sampleOf = (rows: number[], columns: string[]): Record<string, unknown>[] =>
    rows.slice(0, size).map((i) => {
      const out: Record<string, unknown> = {};
      for (const c of [...new Set([...context, ...columns])]) {
        const v = table.getChild(c)?.get(i) as unknown;
        out[c] = v === null || v === undefined ? null : pii.has(c) ? '***' : typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.toISOString() : v;
      }
      return out;
    });

  /** Rows failing `fails` among the non-null values of a column, judged as a rate against minRate. */
  const rateCheck = (e: Expectation & { column: string; minRate?: number }, what: string, fails: (v: unknown) => boolean): ExpectationResult => {
    const th = { minRate: e.minRate ?? 1 };
    if (n === 0) return noData(e, th);
    const vs = col(e.column);
    const bad: number[] = [];
    let nonNull = 0;
    vs.forEach((v, i) => {
      if (v === null) return;
      nonNull++;
      if (fails(v)) bad.push(i);
    });
    if (nonNull === 0) return noData(e, th, `${e.column} is null in all ${n} rows`);
    const rate = 1 - bad.length / nonNull;
    const passed = rate >= th.minRate;
    return verdict(e, passed, rate, th, `${bad.length} of ${nonNull} non-null values not ${what} (rate ok ${fmt(rate)}, min ${th.minRate})`, {
      unexpected: bad.length, total: nonNull, sample: passed ? [] : sampleOf(bad, [e.column]),
    });
  };

  const judge = (e: Expectation): ExpectationResult => {
    const missing = expectationColumns(e).map((c) => c.column).filter((c) => e.type !== 'custom_sql' && kindOf(table, c) === undefined);
    if (missing.length) return errorResult(e, `column(s) ${missing.join(', ')} not in ${dataset.describe} (columns: ${fieldNames.join(', ')})`);
    switch (e.type) {
      case 'row_count':
        return rowCountVerdict(e, n);
      case 'not_null': {
        const nulls: number[] = [];
        if (n > 0) col(e.column).forEach((v, i) => v === null && nulls.push(i));
        return notNullVerdict(e, n, nulls.length, () => sampleOf(nulls, [e.column]));
      }
      case 'unique': {
        const th = { maxDuplicates: 0 };
        if (n === 0) return noData(e, th);
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
        if (total === 0) return noData(e, th, `(${e.columns.join(', ')}) is null in all ${n} rows`);
        const dup = total - counts.size;
        const sample = [...counts.entries()].filter(([, c]) => c > 1).sort((a, b) => b[1] - a[1]).slice(0, size).map(([k, c]) => {
          const key = JSON.parse(k) as unknown[];
          return { ...Object.fromEntries(e.columns.map((name, j) => [name, pii.has(name) ? '***' : key[j]])), occurrences: c };
        });
        return verdict(e, dup === 0, dup, th, dup === 0 ? `all ${total} keys distinct` : `${dup} rows repeat an earlier (${e.columns.join(', ')}) key`, { unexpected: dup, total, sample });
      }
      case 'accepted_values': {
        const k = kindOf(table, e.column);
        const set = new Set<unknown>(k === 'numeric' ? e.values.map(Number) : k === 'text' ? e.values.map(String) : e.values);
        return rateCheck(e, 'in the accepted set', (v) => !set.has(v));
      }
      case 'range': {
        if (kindOf(table, e.column) !== 'numeric') return errorResult(e, `range needs a numeric column; ${e.column} is ${kindOf(table, e.column)}`);
        const r = rateCheck({ ...e, minRate: e.minRate }, `within [${e.min ?? '-∞'}, ${e.max ?? '∞'}]`, (v) => (e.min !== undefined && (v as number) < e.min) || (e.max !== undefined && (v as number) > e.max));
        const nums = col(e.column).filter((v): v is number => v !== null);
        const [lo, hi] = minMax(nums);
        return { ...r, threshold: { min: e.min ?? null, max: e.max ?? null, minRate: e.minRate ?? 1 }, ...(nums.length ? { details: { min: lo, max: hi } } : {}) };
      }
      case 'format': {
        const test = formatTest(e.format);
        if (!test) return errorResult(e, `no validator for format ${e.format}`);
        return rateCheck(e, `valid ${e.format}`, (v) => !test(String(v)));
      }
      case 'freshness': {
        const th = { maxAgeSeconds: e.maxAgeSeconds };
        const c = e.column ?? 'event_time';
        if (kindOf(table, c) !== 'time') return errorResult(e, `freshness needs a timestamp column; ${c} is ${kindOf(table, c)}`, th);
        if (n === 0) return noData(e, th);
        const ts = col(c).filter((v): v is number => v !== null);
        if (!ts.length) return noData(e, th, `${c} is null in all ${n} rows`);
        const newest = minMax(ts)[1];
        const age = (Date.now() - newest) / 1000;
        return verdict(e, age <= e.maxAgeSeconds, age, th, `newest ${c} ${new Date(newest).toISOString()} is ${fmt(age)} s old (max ${e.maxAgeSeconds} s)`, { details: { newest: new Date(newest).toISOString() } });
      }
      case 'regex':
        return errorResult(e, 'regex expectations run in PostgreSQL only (JS regexes can backtrack exponentially): validate the table or log range this snapshot was built from', { minRate: e.minRate ?? 1 });
      case 'custom_sql':
        return errorResult(e, 'custom_sql needs PostgreSQL: validate the table or log range this snapshot was built from', { maxFailing: e.maxFailing ?? 0 });
      case 'referential_integrity':
        return errorResult(e, 'referential_integrity needs PostgreSQL: validate the table or log range this snapshot was built from', { maxMissingRate: e.maxMissingRate ?? 0 });
      case 'drift':
        return drift(e);
      default: {
        const never: never = e;
        throw new Error(`unknown expectation ${JSON.stringify(never)}`);
      }
    }
  };

  const drift = (e: Extract<Expectation, { type: 'drift' }>): ExpectationResult => {
    const th = { threshold: e.threshold };
    const b = opts.baseline;
    if (!b) return errorResult(e, 'no baseline dataset: pass `baseline` to the validate run to compare the distribution against', th);
    if (kindOf(b.table, e.column) === undefined) return errorResult(e, `baseline ${b.describe} has no column ${e.column}`, th);
    if (n === 0) return noData(e, th);
    if (e.kind === 'numeric' && (kindOf(table, e.column) !== 'numeric' || kindOf(b.table, e.column) !== 'numeric')) {
      return errorResult(e, `numeric drift needs numeric columns; ${e.column} is ${kindOf(table, e.column)} here and ${kindOf(b.table, e.column)} in the baseline`, th);
    }
    if (e.method === 'ks' && e.kind !== 'numeric') return errorResult(e, 'the KS statistic needs kind "numeric"', th);
    const cur = col(e.column).filter((v) => v !== null);
    const bl = col(e.column, b.table).filter((v) => v !== null);
    if (!bl.length) return errorResult(e, `baseline ${b.describe} has no non-null ${e.column}: nothing to compare against`, th);
    if (!cur.length) return noData(e, th, `${e.column} has no non-null values`);
    let bins: DriftBin[];
    if (e.kind === 'categorical') {
      const count = (xs: unknown[]): Map<string, number> => xs.reduce<Map<string, number>>((m, x) => m.set(String(x), (m.get(String(x)) ?? 0) + 1), new Map());
      bins = maskBinLabels(categoricalBins(count(cur), count(bl), { current: cur.length, baseline: bl.length }), e.column, pii);
    } else {
      const nb = e.bins ?? 10;
      const sorted = (bl as number[]).slice().sort((x, y) => x - y);
      // percentile_cont: linear interpolation between closest ranks, like PostgreSQL
      const q = (p: number): number => {
        const at = p * (sorted.length - 1);
        const lo = Math.floor(at);
        return (sorted[lo] ?? 0) + ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? 0) - (sorted[lo] ?? 0)) * (at - lo);
      };
      const edges = [...new Set(Array.from({ length: nb - 1 }, (_, i) => q((i + 1) / nb)))].sort((x, y) => x - y);
      // width_bucket(v, edges): the number of edges <= v
      const bucket = (v: number): number => {
        let lo = 0;
        let hi = edges.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((edges[mid] ?? 0) <= v) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      };
      const cc = new Array<number>(edges.length + 1).fill(0);
      const bc = new Array<number>(edges.length + 1).fill(0);
      for (const v of cur as number[]) cc[bucket(v)] = (cc[bucket(v)] ?? 0) + 1;
      for (const v of bl as number[]) bc[bucket(v)] = (bc[bucket(v)] ?? 0) + 1;
      bins = cc.map((c, i) => ({
        label: i === 0 ? `< ${fmt(edges[0] ?? Number.NaN)}` : i === edges.length ? `≥ ${fmt(edges[i - 1] ?? Number.NaN)}` : `[${fmt(edges[i - 1] ?? 0)}, ${fmt(edges[i] ?? 0)})`,
        current: c,
        baseline: bc[i] ?? 0,
      }));
    }
    const details: Record<string, unknown> = { bins, baseline: b.describe };
    let observed: number;
    if (e.method === 'psi') observed = populationStabilityIndex(bins);
    else {
      // exact two-sample KS: walk both sorted samples, comparing the ECDFs after each distinct value
      const a = (cur as number[]).slice().sort((x, y) => x - y);
      const c = (bl as number[]).slice().sort((x, y) => x - y);
      let i = 0;
      let j = 0;
      let d = 0;
      while (i < a.length || j < c.length) {
        const v = Math.min(a[i] ?? Infinity, c[j] ?? Infinity);
        while (i < a.length && a[i] === v) i++;
        while (j < c.length && c[j] === v) j++;
        d = Math.max(d, Math.abs(i / a.length - j / c.length));
      }
      observed = d;
      details.psi = populationStabilityIndex(bins);
    }
    return verdict(e, observed <= e.threshold, observed, th, `${e.method.toUpperCase()} ${fmt(observed)} vs ${b.describe} (threshold ${e.threshold})`, { details });
  };

  const results = (contract.expectations ?? []).map(judge);

  const profiles: ColumnProfile[] = [];
  if (opts.profile !== false) {
    const used = [...new Set((contract.expectations ?? []).flatMap((e) => expectationColumns(e).map((c) => c.column)))].filter((c) => kindOf(table, c) !== undefined).slice(0, PROFILE_COLUMNS);
    for (const c of used) {
      const kind = kindOf(table, c) ?? 'other';
      const vs = col(c).filter((v) => v !== null);
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
        p.topValues = [...m.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0]))).slice(0, TOP_VALUES).map(([value, count]) => ({ value, count }));
      }
      profiles.push(p);
    }
  }
  return { rowCount: n, results, profiles, queries: 0 };
}
