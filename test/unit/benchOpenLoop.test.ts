// The bench's open-loop schedule (scripts/bench/openLoop.ts): the offered rate holds whatever the
// interval, rounding never drifts, and the weighted percentile counts events, not batches.
import { openLoopBatches, weightedPercentile } from '../../scripts/bench/openLoop';

describe('openLoopBatches', () => {
  it('sends rate × seconds events in ticks of the interval, with no drift from rounding', () => {
    const batches = openLoopBatches(1000, 10, 1000);
    expect(batches).toHaveLength(10);
    expect(batches.every((b) => b.events === 1000)).toBe(true);
    expect(batches.map((b) => b.atMs)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);

    const odd = openLoopBatches(1000, 3, 400); // 400 events a tick, the last (cut short by the end) 200
    expect(odd.reduce((s, b) => s + b.events, 0)).toBe(3000);
    expect(odd.at(-1)).toEqual({ atMs: 2800, events: 200, firstEvent: 2800 });

    const uneven = openLoopBatches(7, 10, 100); // 0.7 events a tick: some ticks send none
    expect(uneven.reduce((s, b) => s + b.events, 0)).toBe(70);
    for (let i = 1; i < uneven.length; i++) {
      const prev = uneven[i - 1]!;
      expect(uneven[i]!.firstEvent).toBe(prev.firstEvent + prev.events);
      // events sent by a tick never run ahead of the rate by a whole event
      expect(uneven[i]!.firstEvent).toBeLessThanOrEqual(Math.round((7 * uneven[i]!.atMs) / 1000) + 1);
    }
  });

  it('refuses a schedule without a rate, a duration or an interval', () => {
    expect(() => openLoopBatches(0, 10, 100)).toThrow(/positive rate/);
    expect(() => openLoopBatches(10, 10, 0)).toThrow(/positive rate/);
  });
});

describe('weightedPercentile', () => {
  it('weighs each value by its count (nearest rank)', () => {
    const v = [
      { value: 10, weight: 98 },
      { value: 500, weight: 1 },
      { value: 900, weight: 1 },
    ];
    expect(weightedPercentile(v, 50)).toBe(10);
    expect(weightedPercentile(v, 98)).toBe(10);
    expect(weightedPercentile(v, 99)).toBe(500);
    expect(weightedPercentile(v, 100)).toBe(900);
    expect(weightedPercentile([], 99)).toBeNaN();
  });
});
