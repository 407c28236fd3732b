/**
 * Column statistics computed as the batches stream past (one pass, bounded memory): the drift
 * baseline of a dataset. Exact where that is cheap (counts, nulls, min/max, mean and population
 * standard deviation by Welford's method in row order); quantile bin edges from a deterministic
 * uniform sample of at most {@link SAMPLE_ROWS} rows (every row when the dataset is smaller, so
 * small datasets get exact quantiles); top values by the Misra–Gries "frequent items" summary,
 * exact while a column has fewer than 2 × {@link TOP_CAPACITY} distinct values.
 */
import { fmix32 } from './split';
import type { ColumnBuilder, ColumnKind } from './columns';

export const SAMPLE_ROWS = 32_768;
export const TOP_CAPACITY = 1_000;
export const TOP_K = 10;
export const QUANTILE_BINS = 10;

export interface NumericStats {
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Population standard deviation (ddof = 0). */
  std: number | null;
  /** NaN and ±Infinity (float columns): counted here, left out of the other figures. */
  nonFinite: number;
  /** 11 edges of 10 equal-frequency bins: min, the 10th…90th percentiles (linear interpolation, as numpy.quantile), max. */
  quantiles: { edges: number[]; exact: boolean; sampleRows: number };
}

export interface TopValues {
  /** Distinct non-null values: exact when `exact`, else a lower bound. */
  distinct: number;
  exact: boolean;
  /** Most frequent values, count descending then value; counts are exact when `exact`, else at most `maxUndercount` too low. */
  top: { value: string; count: number }[];
  maxUndercount: number;
}

export interface ColumnStats {
  name: string;
  pgType: string;
  arrowType: string;
  count: number;
  nulls: number;
  numeric?: NumericStats;
  /** Booleans: how many are true. */
  trueCount?: number;
  text?: TopValues;
  /** The label of a classification dataset: each class and its rows, in class-index order. */
  classes?: { value: string | number | boolean; count: number }[];
  /** Timestamps (ISO 8601, UTC) and dates (YYYY-MM-DD). */
  range?: { min: string | null; max: string | null };
}

const NUMERIC_KINDS: ReadonlySet<ColumnKind> = new Set(['int64', 'int32', 'int16', 'float64']);
export const isNumericKind = (k: ColumnKind): boolean => NUMERIC_KINDS.has(k);

/**
 * Every Nth row would miss periodic patterns; instead each row gets a pseudo-random priority
 * (fmix32 of its index) and the sample keeps the rows whose priority has `level` leading zero
 * bits, raising the level (and halving the sample) whenever it fills: a uniform sample that
 * depends on the row order only, so the same data always gives the same edges.
 */
export class RowSample {
  n = 0;
  level = 0;
  readonly prio = new Uint32Array(SAMPLE_ROWS);
  readonly values: Float64Array[];

  constructor(columns: number) {
    this.values = Array.from({ length: columns }, () => new Float64Array(SAMPLE_ROWS));
  }

  admits(rowIndex: number): number | undefined {
    const p = fmix32(rowIndex);
    return this.level === 0 || p >>> (32 - this.level) === 0 ? p : undefined;
  }

  add(p: number, valuesOf: (c: number) => number): void {
    const at = this.n++;
    this.prio[at] = p;
    for (let c = 0; c < this.values.length; c++) (this.values[c] as Float64Array)[at] = valuesOf(c);
    if (this.n === SAMPLE_ROWS) this.raise();
  }

  private raise(): void {
    while (this.n >= SAMPLE_ROWS && this.level < 32) {
      this.level++;
      let kept = 0;
      for (let i = 0; i < this.n; i++) {
        const p = this.prio[i] as number;
        if (p >>> (32 - this.level) !== 0) continue;
        this.prio[kept] = p;
        for (const v of this.values) v[kept] = v[i] as number;
        kept++;
      }
      this.n = kept;
    }
  }
}

function quantileEdges(sorted: Float64Array, min: number, max: number): number[] {
  const m = sorted.length;
  const edges = [min];
  for (let b = 1; b < QUANTILE_BINS; b++) {
    const pos = (b / QUANTILE_BINS) * (m - 1);
    const lo = Math.floor(pos);
    const frac = pos - lo;
    const a = sorted[lo] as number;
    const c = sorted[Math.min(m - 1, lo + 1)] as number;
    edges.push(frac === 0 ? a : a + (c - a) * frac);
  }
  edges.push(max);
  return edges;
}

/** Misra–Gries with batched decrements: when 2·capacity counters exist, all lose the capacity-th largest count. */
export class TopCounter {
  /** A counter object per key: one Map lookup per value, not a get and a set. */
  readonly counts = new Map<string, { c: number }>();
  decremented = 0;

  add(key: string): void {
    const entry = this.counts.get(key);
    if (entry) {
      entry.c++;
      return;
    }
    this.counts.set(key, { c: 1 });
    if (this.counts.size >= 2 * TOP_CAPACITY) {
      const sorted = [...this.counts.values()].map((e) => e.c).sort((a, b) => b - a);
      const cut = sorted[TOP_CAPACITY] as number;
      this.decremented += cut;
      for (const [k, e] of this.counts) {
        if (e.c <= cut) this.counts.delete(k);
        else e.c -= cut;
      }
    }
  }

  summary(decode: (key: string) => string): TopValues {
    const exact = this.decremented === 0;
    const top = [...this.counts.entries()]
      .map(([k, e]) => ({ value: decode(k), count: e.c }))
      .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
      .slice(0, TOP_K);
    return { distinct: this.counts.size, exact, top, maxUndercount: this.decremented };
  }
}

/** Text keys travel as latin1 strings of their UTF-8 bytes (no decoding per row; one-to-one on bytes). */
export const decodeTextKey = (key: string): string => Buffer.from(key, 'latin1').toString('utf8');

/** Accumulates one column's statistics over the batches. */
export class ColumnAccumulator {
  count = 0;
  nulls = 0;
  nonFinite = 0;
  min = Infinity;
  max = -Infinity;
  private mean = 0;
  private m2 = 0;
  trueCount = 0;
  /** Timestamps/dates: min/max of the raw Arrow value (microseconds or days). */
  private tMin: bigint | number | undefined;
  private tMax: bigint | number | undefined;
  readonly top?: TopCounter;

  constructor(
    readonly kind: ColumnKind,
    readonly name: string,
    readonly pgType: string,
    readonly arrowTypeName: string,
  ) {
    if (kind === 'utf8') this.top = new TopCounter();
  }

  /**
   * Adds a batch. Numeric and bool columns come as doubles with NaN for null (`asNumbers`): the
   * batch's own count, mean and squared deviations are computed in two tight loops and merged
   * with Chan et al.'s formula, in batch order, so the result depends only on the rows.
   */
  addBatch(col: ColumnBuilder, n: number, asNumbers?: Float64Array): void {
    this.nulls += col.nullCount;
    const kind = this.kind;
    if (asNumbers) {
      const v = asNumbers;
      let bc = 0;
      let sum = 0;
      let min = this.min;
      let max = this.max;
      let nonFinite = 0;
      for (let i = 0; i < n; i++) {
        const x = v[i] as number;
        if (x - x !== 0) {
          nonFinite++;
          continue;
        }
        bc++;
        sum += x;
        if (x < min) min = x;
        if (x > max) max = x;
      }
      // NaN stands for null here too: what is left are NaN and ±Infinity values.
      this.nonFinite += nonFinite - col.nullCount;
      if (bc === 0) return;
      const bm = sum / bc;
      let bm2 = 0;
      for (let i = 0; i < n; i++) {
        const x = v[i] as number;
        if (x - x === 0) bm2 += (x - bm) * (x - bm);
      }
      if (kind === 'bool') this.trueCount += sum;
      const total = this.count + bc;
      const delta = bm - this.mean;
      this.mean += (delta * bc) / total;
      this.m2 += bm2 + (delta * delta * this.count * bc) / total;
      this.count = total;
      this.min = min;
      this.max = max;
      return;
    }
    this.count += n - col.nullCount;
    if (kind === 'utf8') {
      const data = col.values as Uint8Array;
      const offsets = col.offsets as Int32Array;
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const top = this.top as TopCounter;
      for (let i = 0; i < n; i++) {
        if (col.nullCount > 0 && !col.isValid(i)) continue;
        top.add(buf.toString('latin1', offsets[i] as number, offsets[i + 1] as number));
      }
      return;
    }
    // timestamps and dates: min/max only
    const values = col.values as BigInt64Array | Int32Array;
    for (let i = 0; i < n; i++) {
      if (col.nullCount > 0 && !col.isValid(i)) continue;
      const v = values[i] as bigint | number;
      if (this.tMin === undefined || v < this.tMin) this.tMin = v;
      if (this.tMax === undefined || v > this.tMax) this.tMax = v;
    }
  }

  /** Only for numeric and bool columns: min === max over the non-null finite values. */
  get constant(): boolean {
    return this.count > 0 && this.min === this.max;
  }

  stats(sample: Float64Array | undefined): ColumnStats {
    const base: ColumnStats = { name: this.name, pgType: this.pgType, arrowType: this.arrowTypeName, count: this.count, nulls: this.nulls };
    if (NUMERIC_KINDS.has(this.kind)) {
      const has = this.count > 0;
      let edges: number[] = [];
      let sampleRows = 0;
      if (has && sample) {
        const finite = sample.filter((x) => Number.isFinite(x)).sort();
        sampleRows = finite.length;
        if (sampleRows > 0) edges = quantileEdges(finite, this.min, this.max);
      }
      base.count = this.count + this.nonFinite;
      base.numeric = {
        min: has ? this.min : null,
        max: has ? this.max : null,
        mean: has ? this.mean : null,
        std: has ? Math.sqrt(this.m2 / this.count) : null,
        nonFinite: this.nonFinite,
        quantiles: { edges, exact: sampleRows === this.count, sampleRows },
      };
      return base;
    }
    if (this.kind === 'bool') return { ...base, trueCount: this.trueCount };
    if (this.kind === 'utf8') return { ...base, text: (this.top as TopCounter).summary(decodeTextKey) };
    const fmt = (v: bigint | number | undefined): string | null => {
      if (v === undefined) return null;
      if (this.kind === 'date') return new Date(Number(v) * 86_400_000).toISOString().slice(0, 10);
      const us = BigInt(v);
      const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
      const micro = ((us % 1_000_000n) + 1_000_000n) % 1_000_000n;
      return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${micro.toString().padStart(6, '0')}${this.kind === 'timestamptz' ? 'Z' : ''}`;
    };
    return { ...base, range: { min: fmt(this.tMin), max: fmt(this.tMax) } };
  }
}
