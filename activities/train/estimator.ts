/** What every built-in trainer exposes to the epoch loop in train.ts. */
import type { TaskKind } from './data';
import type { DenseLayer } from './network';

/** A prepared problem: encoded features (row-major, [rows × width]) and targets (class index or value). */
export interface EncodedSplit {
  x: Float64Array;
  y: Float64Array;
  rows: number;
}

export interface Problem {
  task: TaskKind;
  width: number;
  /** 0 for regression. */
  classCount: number;
  train: EncodedSplit;
  /** Empty (rows 0) when the run holds out no validation rows. */
  validation: EncodedSplit;
}

export interface EpochReport {
  /** 1-based: the number of epochs done, counting those before a resume. */
  epoch: number;
  /** Training objective after (full-batch trainers) or during (mini-batch) this epoch: mean loss per row, regularisation included. */
  loss: number;
  /** Mean loss on the validation split, when there is one. */
  validationLoss?: number;
  /** Accuracy (classification) or RMSE (regression) on the validation split, when there is one. */
  validationMetric?: number;
  validationMetricName?: 'accuracy' | 'rmse';
}

/** A trainer's full state as exact integers and float64 buffers, in a fixed order (see checkpoint.ts). */
export interface EstimatorState {
  ints: [string, number][];
  arrays: [string, Float64Array][];
}

export interface EstimatorRun {
  readonly epoch: number;
  readonly done: boolean;
  runEpoch(): EpochReport;
  /**
   * Trainers whose epochs are many batches: runs the current epoch until it ends (its report) or
   * `pause()`, asked between batches, says to stop (undefined: inside the epoch; `saveState` then
   * records where, and a restored run goes on from that batch).
   */
  advance?(pause: () => boolean): EpochReport | undefined;
  /** Rows of the current epoch done so far (0 between epochs), for trainers that have `advance`. */
  readonly epochRows?: { done: number; total: number };
  saveState(): EstimatorState;
  restoreState(state: EstimatorState): void;
  /** The model to keep: the final parameters, or the best-so-far ones where the trainer stops early. */
  layers(): DenseLayer[];
}

export function stateInt(state: EstimatorState, name: string): number {
  const hit = state.ints.find(([k]) => k === name);
  if (!hit) throw new RangeError(`checkpoint has no integer "${name}"`);
  return hit[1];
}

export function stateArray(state: EstimatorState, name: string, length: number): Float64Array {
  const hit = state.arrays.find(([k]) => k === name);
  if (!hit) throw new RangeError(`checkpoint has no array "${name}"`);
  if (hit[1].length !== length) throw new RangeError(`checkpoint array "${name}" has ${hit[1].length} values, expected ${length}`);
  return hit[1];
}

/** Accuracy of logits/values against targets; for binary `out` holds one logit per row. */
export function validationScore(task: TaskKind, out: Float64Array, y: Float64Array, rows: number, k: number): number {
  if (rows === 0) return Number.NaN;
  if (task === 'regression') {
    let ss = 0;
    for (let r = 0; r < rows; r++) {
      const d = (out[r] as number) - (y[r] as number);
      ss += d * d;
    }
    return Math.sqrt(ss / rows);
  }
  let hits = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    if (task === 'binary') best = (out[r] as number) > 0 ? 1 : 0;
    else for (let c = 1; c < k; c++) if ((out[r * k + c] as number) > (out[r * k + best] as number)) best = c;
    if (best === y[r]) hits++;
  }
  return hits / rows;
}

/** Mean loss of raw outputs (logits or values): log loss for classification, half squared error for regression. */
export function meanLoss(task: TaskKind, out: Float64Array, y: Float64Array, rows: number, k: number): number {
  if (rows === 0) return Number.NaN;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const t = y[r] as number;
    if (task === 'regression') {
      const d = (out[r] as number) - t;
      sum += 0.5 * d * d;
    } else if (task === 'binary') {
      const z = out[r] as number;
      // log(1 + e^z) − t·z, computed without overflow
      sum += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - t * z;
    } else {
      const o = r * k;
      let max = -Infinity;
      for (let c = 0; c < k; c++) if ((out[o + c] as number) > max) max = out[o + c] as number;
      let s = 0;
      for (let c = 0; c < k; c++) s += Math.exp((out[o + c] as number) - max);
      sum += max + Math.log(s) - (out[o + t] as number);
    }
  }
  return sum / rows;
}
