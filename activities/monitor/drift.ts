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
 * PSI of numeric values in bins whose edges are a column's recorded deciles (min, p10…p90, max;
 * repeated deciles are one edge), the baseline counted from the dataset's `baseline` values, as
 * the validate step bins them. Without baseline values, each decile counts as a tenth of the
 * baseline in the bin of its lower end: right for continuous columns, not for discrete ones
 * (ties between deciles put the mass in the wrong bin), hence the values when there are any.
 */
export function numericPsi(edges: number[], recent: number[], baseline: number[] = []): number {
  const inner = binEdges(edges.slice(1, -1));
  const base = baseline.length > 0 ? binCounts(baseline, inner) : binCounts(edges.slice(0, -1), inner);
  return populationStabilityIndex(numericBins(inner, binCounts(recent, inner), base));
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
