import { accumulateWeightGradient, backpropagateDelta } from '../../activities/train/mlp';
import { denseForward } from '../../activities/train/network';
import { Xoshiro128 } from '../../activities/train';

/** The blocked kernels against the plain triple loops, on shapes that leave tails in every direction. */
describe('MLP kernels (blocked loops) compute what the plain loops compute', () => {
  const rng = new Xoshiro128(3);
  const fill = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng.nextNormal());
  const SHAPES: [number, number, number][] = [
    [1, 1, 1],
    [7, 5, 6],
    [9, 3, 13],
    [4, 8, 4],
    [10, 30, 2],
  ];

  it.each(SHAPES)('rows %i, inputs %i, outputs %i', (rows, nIn, nOut) => {
    const a = fill(rows * nIn);
    const w = fill(nOut * nIn);
    const b = fill(nOut);
    const delta = fill(rows * nOut);

    const out = new Float64Array(rows * nOut);
    denseForward({ inputs: nIn, outputs: nOut, weights: w, bias: b }, a, rows, out);
    const gW = new Float64Array(nOut * nIn);
    const gB = new Float64Array(nOut);
    accumulateWeightGradient(gW, gB, delta, a, rows, nIn, nOut);
    const prev = new Float64Array(rows * nIn);
    backpropagateDelta(prev, delta, w, rows, nIn, nOut);

    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < nOut; o++) {
        let s = b[o] as number;
        for (let i = 0; i < nIn; i++) s += (a[r * nIn + i] as number) * (w[o * nIn + i] as number);
        expect(out[r * nOut + o]).toBeCloseTo(s, 12);
      }
      for (let i = 0; i < nIn; i++) {
        let s = 0;
        for (let o = 0; o < nOut; o++) s += (delta[r * nOut + o] as number) * (w[o * nIn + i] as number);
        expect(prev[r * nIn + i]).toBeCloseTo(s, 12);
      }
    }
    for (let o = 0; o < nOut; o++) {
      let sb = 0;
      for (let r = 0; r < rows; r++) sb += delta[r * nOut + o] as number;
      expect(gB[o]).toBeCloseTo(sb, 12);
      for (let i = 0; i < nIn; i++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += (delta[r * nOut + o] as number) * (a[r * nIn + i] as number);
        expect(gW[o * nIn + i]).toBeCloseTo(s, 12);
      }
    }
  });
});
