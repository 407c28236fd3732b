// The monitor's PSI against a dataset's recorded deciles (activities/monitor/drift.ts).
import { categoricalPsi, numericPsi } from '../../activities/monitor/drift';
import type { ColumnStats } from '../../activities/snapshot/stats';

/** min, p10…p90, max with linear interpolation (as the snapshot records them). */
function deciles(values: number[]): number[] {
  const s = [...values].sort((a, b) => a - b);
  return Array.from({ length: 11 }, (_, k) => {
    const at = (k / 10) * (s.length - 1);
    const lo = Math.floor(at);
    return (s[lo] as number) + ((s[Math.min(lo + 1, s.length - 1)] as number) - (s[lo] as number)) * (at - lo);
  });
}

describe('monitor drift', () => {
  const continuous = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
  const discrete = Array.from({ length: 600 }, (_, i) => 1 + (i % 5));

  it('numeric PSI is ~0 for the same distribution, with or without the baseline values (continuous)', () => {
    const edges = deciles(continuous);
    const recent = continuous.slice(0, 500);
    expect(numericPsi(edges, recent, continuous)).toBeLessThan(0.01);
    expect(numericPsi(edges, recent)).toBeLessThan(0.01);
  });

  it('a discrete column needs the baseline values: the decile approximation sees drift where there is none', () => {
    const edges = deciles(discrete);
    expect(numericPsi(edges, discrete.slice(0, 300), discrete)).toBeLessThan(0.01);
    expect(numericPsi(edges, discrete.slice(0, 300))).toBeGreaterThan(1);
  });

  it('a shifted column is large drift', () => {
    expect(
      numericPsi(
        deciles(continuous),
        continuous.map((x) => x + 300),
        continuous,
      ),
    ).toBeGreaterThan(0.25);
  });

  it('categorical PSI: the same shares are ~0; unseen values count against the baseline "(other)"', () => {
    const stats: ColumnStats = {
      name: 'country',
      pgType: 'text',
      arrowType: 'Utf8',
      count: 400,
      nulls: 0,
      text: { distinct: 4, exact: true, top: ['DE', 'FR', 'US', 'ES'].map((value) => ({ value, count: 100 })), maxUndercount: 0 },
    };
    const same = Array.from({ length: 200 }, (_, i) => ['DE', 'FR', 'US', 'ES'][i % 4] as string);
    expect(categoricalPsi(stats, same)).toBeLessThan(0.001);
    expect(categoricalPsi(stats, [...same, ...Array.from({ length: 200 }, () => 'BR')])).toBeGreaterThan(0.25);
  });
});
