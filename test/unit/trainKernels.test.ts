import { accumulateWeightGradient, backpropagateDelta, batchGradient } from '../../activities/train/mlp';
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

describe('MLP backpropagation', () => {
  it.each([
    ['binary', 1],
    ['multiclass', 3],
    ['regression', 1],
  ] as const)('%s: the batch gradient matches central finite differences of the penalised batch loss', (task, k) => {
    const rng = new Xoshiro128(11);
    const sizes = [4, 5, 3, k];
    const rows = 7;
    const l2 = 0.3;
    const net = sizes.slice(1).map((nOut, l) => {
      const nIn = sizes[l] as number;
      return {
        inputs: nIn,
        outputs: nOut,
        weights: Float64Array.from({ length: nIn * nOut }, () => rng.nextNormal()),
        bias: Float64Array.from({ length: nOut }, () => 0.1 * rng.nextNormal()),
      };
    });
    const work = net.map((layer) => ({
      gradW: new Float64Array(layer.weights.length),
      gradB: new Float64Array(layer.outputs),
      act: new Float64Array(rows * layer.outputs),
      delta: new Float64Array(rows * layer.outputs),
    }));
    const x = Float64Array.from({ length: rows * 4 }, () => rng.nextNormal());
    const y = Float64Array.from({ length: rows }, () =>
      task === 'regression' ? rng.nextNormal() : rng.nextInt(task === 'binary' ? 2 : k),
    );
    const objective = (): number => {
      const loss = batchGradient(net, work, task, l2, x, y, rows);
      const penalty = net.reduce((s, layer) => s + layer.weights.reduce((a, w) => a + w * w, 0), 0);
      return loss + (0.5 * l2 * penalty) / rows;
    };
    objective();
    const analytic = work.map((w) => ({ gradW: w.gradW.slice(), gradB: w.gradB.slice() }));
    const h = 1e-6;
    let worst = 0;
    net.forEach((layer, l) => {
      for (const [params, grads] of [
        [layer.weights, analytic[l]?.gradW],
        [layer.bias, analytic[l]?.gradB],
      ] as const) {
        for (let i = 0; i < params.length; i++) {
          const keep = params[i] as number;
          params[i] = keep + h;
          const up = objective();
          params[i] = keep - h;
          const down = objective();
          params[i] = keep;
          worst = Math.max(worst, Math.abs((up - down) / (2 * h) - (grads?.[i] as number)));
        }
      }
    });
    expect(worst).toBeLessThan(1e-6);
  });
});
