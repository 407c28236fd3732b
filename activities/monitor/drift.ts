/**
 * Drift of one feature: recent values against a dataset's recorded statistics (PSI) and its values
 * (KS). The bins and the statistics are the validate step's (activities/validate/drift.ts).
 */
import type { FeatureDrift } from '../../api/workflows/monitor';
import type { ColumnStats } from '../snapshot/stats';
import { binCounts, binEdges, categoricalBins, ksStatistic, numericBins, populationStabilityIndex } from '../validate/drift';

export interface DriftThresholds {
  psi: number;
  ks: number;
}

/**
 * PSI of numeric values against a column's decile edges (min, p10…p90, max): each decile holds a
 * tenth of the baseline, and a decile [q_k, q_k+1) lies wholly in the bin of its lower end (the
 * bins' edges are the distinct inner deciles), so the baseline counts are exact up to the
 * quantiles' own sampling (exact for datasets under 32,768 rows).
 */
export function numericPsi(edges: number[], recent: number[]): number {
  const inner = binEdges(edges.slice(1, -1));
  const baseline = binCounts(edges.slice(0, -1), inner);
  return populationStabilityIndex(numericBins(inner, binCounts(recent, inner), baseline));
}

/** PSI of category values against a column's top values (the rest of its rows count as "(other)"). */
export function categoricalPsi(stats: ColumnStats, recent: (string | null)[]): number {
  const top = stats.text?.top ?? [];
  const baseline = new Map(top.map((t) => [t.value, t.count]));
  const current = new Map<string, number>();
  let n = 0;
  for (const v of recent) {
    if (v === null) continue;
    current.set(v, (current.get(v) ?? 0) + 1);
    n++;
  }
  // Values beyond the baseline's top ones cannot be told apart on the baseline side: they share "(other)".
  const known = new Map<string, number>();
  let unknown = 0;
  for (const [k, c] of current) {
    if (baseline.has(k)) known.set(k, c);
    else unknown += c;
  }
  const bins = categoricalBins(known, baseline, { current: n - unknown, baseline: stats.count }, top.length);
  const other = bins.find((b) => b.label === '(other)');
  if (other) other.current += unknown;
  else if (unknown > 0) bins.push({ label: '(other)', current: unknown, baseline: 0 });
  return populationStabilityIndex(bins);
}

/** Which thresholds a feature passed (a NaN figure passes none). */
export function driftedBy(psi: number | null, ks: number | null, t: DriftThresholds): FeatureDrift['drifted'] {
  const out: FeatureDrift['drifted'] = [];
  if (psi !== null && psi > t.psi) out.push('psi');
  if (ks !== null && ks > t.ks) out.push('ks');
  return out;
}

export { ksStatistic };
