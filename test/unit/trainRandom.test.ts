import { Xoshiro128 } from '../../activities/train';

describe('xoshiro128** (the training PRNG)', () => {
  it('matches the reference algorithm from the state {1, 2, 3, 4}', () => {
    // first outputs of the reference C code (prng.di.unimi.it/xoshiro128starstar.c) from s = {1, 2, 3, 4}
    const r = Xoshiro128.fromState([1, 2, 3, 4]);
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([11520, 0, 5927040, 70819200]);
  });

  it('the same seed gives the same stream; its state saves and restores exactly', () => {
    const a = new Xoshiro128(2026);
    const b = new Xoshiro128(2026);
    for (let i = 0; i < 100; i++) expect(a.nextUint32()).toBe(b.nextUint32());
    const saved = a.state();
    const next = [a.nextFloat(), a.nextNormal(), a.nextInt(7)];
    const restored = Xoshiro128.fromState(saved);
    expect([restored.nextFloat(), restored.nextNormal(), restored.nextInt(7)]).toEqual(next);
    expect(new Xoshiro128(2027).nextUint32()).not.toBe(new Xoshiro128(2026).nextUint32());
  });

  it('draws uniform floats in [0, 1), unbiased integers, standard normals and permutations', () => {
    const r = new Xoshiro128(1);
    const n = 20000;
    let sum = 0;
    let sumSq = 0;
    const counts = [0, 0, 0];
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const u = r.nextFloat();
      if (!(u >= 0 && u < 1)) outOfRange++;
      const z = r.nextNormal();
      sum += z;
      sumSq += z * z;
      counts[r.nextInt(3)]! += 1;
    }
    expect(outOfRange).toBe(0);
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.05);
    for (const c of counts) expect(Math.abs(c / n - 1 / 3)).toBeLessThan(0.015);
    const p = Uint32Array.from({ length: 50 }, (_, i) => i);
    r.shuffle(p);
    expect([...p].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect([...p]).not.toEqual([...Array(50).keys()]);
  });

  it('refuses a non-integer seed and an invalid state', () => {
    expect(() => new Xoshiro128(1.5)).toThrow(/seed must be an integer/);
    expect(() => Xoshiro128.fromState([0, 0, 0, 0])).toThrow(/all-zero/);
    expect(() => Xoshiro128.fromState([1, 2, 3])).toThrow(/four unsigned 32-bit integers/);
  });
});
