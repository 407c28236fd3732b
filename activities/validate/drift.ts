/**
 * Distribution drift statistics, from counts an engine computed (in PostgreSQL or over Arrow columns).
 * PSI (population stability index) = sum over bins of (p - q) * ln(p / q), with p the current and q
 * the baseline share of a bin; empty bins count as {@link PSI_EPSILON} so the sum stays finite.
 * Rule of thumb: < 0.1 stable, 0.1 to 0.25 moderate, > 0.25 large drift.
 */

import { fmt } from './results';

export const PSI_EPSILON = 1e-4;

export interface DriftBin {
  label: string;
  current: number;
  baseline: number;
}

/** PSI over bins of counts (each side normalized to shares). NaN when either side is empty. */
export function populationStabilityIndex(bins: DriftBin[]): number {
  const nc = bins.reduce((s, b) => s + b.current, 0);
  const nb = bins.reduce((s, b) => s + b.baseline, 0);
  if (nc === 0 || nb === 0) return Number.NaN;
  let psi = 0;
  for (const b of bins) {
    const p = Math.max(b.current / nc, PSI_EPSILON);
    const q = Math.max(b.baseline / nb, PSI_EPSILON);
    psi += (p - q) * Math.log(p / q);
  }
  return psi;
}

/** Merges two value → count lists into bins; values beyond the top `limit` (by baseline, then current) become "(other)". */
export function categoricalBins(
  current: Map<string, number>,
  baseline: Map<string, number>,
  totals: { current: number; baseline: number },
  limit = 50,
): DriftBin[] {
  const keys = [...new Set([...baseline.keys(), ...current.keys()])].sort(
    (a, b) => (baseline.get(b) ?? 0) - (baseline.get(a) ?? 0) || (current.get(b) ?? 0) - (current.get(a) ?? 0) || (a < b ? -1 : 1),
  );
  const bins = keys.slice(0, limit).map((k) => ({ label: k, current: current.get(k) ?? 0, baseline: baseline.get(k) ?? 0 }));
  const restC = totals.current - bins.reduce((s, b) => s + b.current, 0);
  const restB = totals.baseline - bins.reduce((s, b) => s + b.baseline, 0);
  if (restC > 0 || restB > 0) bins.push({ label: '(other)', current: restC, baseline: restB });
  return bins;
}

/** Bins of a PII field keep their counts but not their values (the report must not show them). */
export function maskBinLabels(bins: DriftBin[], column: string, pii: Set<string>): DriftBin[] {
  if (!pii.has(column)) return bins;
  return bins.map((b, i) => (b.label === '(other)' ? b : { ...b, label: `value ${i + 1}` }));
}

/** Quantile levels whose baseline values are the inner edges of `bins` numeric bins (deciles for 10). */
export function quantileLevels(bins: number): number[] {
  return Array.from({ length: bins - 1 }, (_, i) => (i + 1) / bins);
}

/** Edges of numeric bins: the baseline's quantiles, without repeats (a value that fills several quantiles is one edge). */
export function binEdges(quantiles: number[]): number[] {
  return [...new Set(quantiles)].sort((x, y) => x - y);
}

/**
 * Numeric bins between `edges` (bin i holds values v with edges[i-1] <= v < edges[i], like
 * PostgreSQL's width_bucket), from the count of each side per bin.
 */
export function numericBins(edges: number[], current: number[], baseline: number[]): DriftBin[] {
  return Array.from({ length: edges.length + 1 }, (_, i) => ({
    label:
      i === 0
        ? `< ${fmt(edges[0] ?? Number.NaN)}`
        : i === edges.length
          ? `≥ ${fmt(edges[i - 1] ?? Number.NaN)}`
          : `[${fmt(edges[i - 1] ?? 0)}, ${fmt(edges[i] ?? 0)})`,
    current: current[i] ?? 0,
    baseline: baseline[i] ?? 0,
  }));
}

/** Counts `v` per bin of `edges` (width_bucket: the number of edges <= v). */
export function binCounts(xs: number[], edges: number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of xs) {
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((edges[mid] ?? 0) <= v) lo = mid + 1;
      else hi = mid;
    }
    counts[lo] = (counts[lo] ?? 0) + 1;
  }
  return counts;
}

/** Exact two-sample KS: walk both sorted samples, comparing the ECDFs after each distinct value. */
export function ksStatistic(a: number[], c: number[]): number {
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < a.length || j < c.length) {
    const v = Math.min(a[i] ?? Infinity, c[j] ?? Infinity);
    while (i < a.length && a[i] === v) i++;
    while (j < c.length && c[j] === v) j++;
    d = Math.max(d, Math.abs(i / a.length - j / c.length));
  }
  return d;
}
