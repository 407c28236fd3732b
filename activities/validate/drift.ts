/**
 * Distribution drift statistics, from counts computed in PostgreSQL.
 * PSI (population stability index) = sum over bins of (p - q) * ln(p / q), with p the current and q
 * the baseline share of a bin; empty bins count as {@link PSI_EPSILON} so the sum stays finite.
 * Rule of thumb: < 0.1 stable, 0.1 to 0.25 moderate, > 0.25 large drift.
 */

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
export function categoricalBins(current: Map<string, number>, baseline: Map<string, number>, totals: { current: number; baseline: number }, limit = 50): DriftBin[] {
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
