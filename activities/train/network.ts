/**
 * Every built-in model is a stack of dense layers: logistic and ridge regression are one layer, the
 * MLP two or three with ReLU between them. The output activation follows the task: sigmoid on one
 * unit (binary), softmax (multiclass), identity (regression). One representation means one
 * prediction path and one ONNX export for all of them.
 */
import type { TaskKind } from './data';

export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** Row-major [outputs × inputs], the layout of ONNX Gemm with transB = 1. */
  weights: Float64Array;
  bias: Float64Array;
}

/** Output units for a task: one logit for binary, one per class for multiclass, one value for regression. */
export function outputUnits(task: TaskKind, classCount: number): number {
  return task === 'multiclass' ? classCount : 1;
}

/**
 * out[r, o] = bias[o] + Σ_i a[r, i] · W[o, i], each sum in index order. Four outputs share one
 * pass over the row (register blocking: each input is loaded once for four products), which
 * leaves every sum's order, and so its bits, as in the plain loop.
 */
export function denseForward(layer: DenseLayer, a: Float64Array, rows: number, out: Float64Array): void {
  const { inputs: nIn, outputs: nOut, weights: w, bias: b } = layer;
  for (let r = 0; r < rows; r++) {
    const ar = r * nIn;
    const orow = r * nOut;
    let o = 0;
    for (; o + 4 <= nOut; o += 4) {
      const w0 = o * nIn;
      const w1 = w0 + nIn;
      const w2 = w1 + nIn;
      const w3 = w2 + nIn;
      let s0 = b[o] as number;
      let s1 = b[o + 1] as number;
      let s2 = b[o + 2] as number;
      let s3 = b[o + 3] as number;
      for (let i = 0; i < nIn; i++) {
        const ai = a[ar + i] as number;
        s0 += ai * (w[w0 + i] as number);
        s1 += ai * (w[w1 + i] as number);
        s2 += ai * (w[w2 + i] as number);
        s3 += ai * (w[w3 + i] as number);
      }
      out[orow + o] = s0;
      out[orow + o + 1] = s1;
      out[orow + o + 2] = s2;
      out[orow + o + 3] = s3;
    }
    for (; o < nOut; o++) {
      const wo = o * nIn;
      let s = b[o] as number;
      for (let i = 0; i < nIn; i++) s += (a[ar + i] as number) * (w[wo + i] as number);
      out[orow + o] = s;
    }
  }
}

export function reluInPlace(z: Float64Array, length: number): void {
  for (let i = 0; i < length; i++) if ((z[i] as number) < 0) z[i] = 0;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Softmax of each row of `z` [rows × k] in place. */
export function softmaxRowsInPlace(z: Float64Array, rows: number, k: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    let max = -Infinity;
    for (let c = 0; c < k; c++) if ((z[o + c] as number) > max) max = z[o + c] as number;
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp((z[o + c] as number) - max);
      z[o + c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) z[o + c] = (z[o + c] as number) / sum;
  }
}

/** The network's raw outputs (logits or values) for `x` [rows × inputs]. */
export function networkOutputs(layers: readonly DenseLayer[], x: Float64Array, rows: number): Float64Array {
  let a = x;
  layers.forEach((layer, li) => {
    const z = new Float64Array(rows * layer.outputs);
    denseForward(layer, a, rows, z);
    if (li < layers.length - 1) reluInPlace(z, z.length);
    a = z;
  });
  return a;
}

export function copyLayers(layers: readonly DenseLayer[]): DenseLayer[] {
  return layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, weights: l.weights.slice(), bias: l.bias.slice() }));
}
