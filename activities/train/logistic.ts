/**
 * Logistic regression, binary (one sigmoid unit) or multinomial (softmax over all classes, as
 * scikit-learn's lbfgs solver), fitted by full-batch L-BFGS.
 *
 * Objective, per training row so that tolerances do not depend on the row count:
 *   f(W, b) = (1/n) · [ Σ_i loss_i + (l2 / 2) · ||W||² ]
 * which has the same minimiser as scikit-learn's Σ loss + 1/(2C)·||W||² with l2 = 1/C; the
 * intercept is not penalised. One epoch is one L-BFGS iteration (a direction from the last
 * `memory` curvature pairs, then a backtracking Armijo line search with quadratic interpolation).
 * It stops when the largest gradient component is below `gradientTolerance` or an iteration
 * lowers f by less than `relativeTolerance`·max(|f|, 1).
 */
import { TrainingDataError } from './errors';
import {
  stateArray,
  stateInt,
  meanLoss,
  validationScore,
  type EpochReport,
  type EstimatorRun,
  type EstimatorState,
  type Problem,
} from './estimator';
import { networkOutputs, type DenseLayer } from './network';

export interface LogisticRegressionParams {
  trainer: 'logistic_regression';
  /** L2 strength on the sum of losses, scikit-learn's 1/C (default 1). */
  l2?: number;
  /** Epochs (L-BFGS iterations) at most (default 1000). */
  maxEpochs?: number;
  /** Default 1e-6 (on the per-row gradient). */
  gradientTolerance?: number;
  /** Default 1e-12. */
  relativeTolerance?: number;
  /** Curvature pairs kept (default 10). */
  memory?: number;
  /** Rows held out for the per-epoch validation metric (default 0: LR needs no early stopping). */
  validationFraction?: number;
}

const ARMIJO_C1 = 1e-4;
const MAX_LINE_SEARCH_STEPS = 40;

export function checkLogisticParams(p: LogisticRegressionParams): Required<LogisticRegressionParams> {
  const r = {
    trainer: p.trainer,
    l2: p.l2 ?? 1,
    maxEpochs: p.maxEpochs ?? 1000,
    gradientTolerance: p.gradientTolerance ?? 1e-6,
    relativeTolerance: p.relativeTolerance ?? 1e-12,
    memory: p.memory ?? 10,
    validationFraction: p.validationFraction ?? 0,
  };
  if (!(r.l2 >= 0)) throw new TrainingDataError('INVALID_PARAMETER', `l2 must be ≥ 0, got ${r.l2}`);
  if (!(Number.isInteger(r.maxEpochs) && r.maxEpochs >= 1))
    throw new TrainingDataError('INVALID_PARAMETER', `maxEpochs must be a positive integer, got ${r.maxEpochs}`);
  if (!(Number.isInteger(r.memory) && r.memory >= 1 && r.memory <= 100))
    throw new TrainingDataError('INVALID_PARAMETER', `memory must be an integer in 1..100, got ${r.memory}`);
  if (!(r.gradientTolerance >= 0 && r.relativeTolerance >= 0)) throw new TrainingDataError('INVALID_PARAMETER', 'tolerances must be ≥ 0');
  return r;
}

export class LogisticRegressionRun implements EstimatorRun {
  private readonly k: number;
  private readonly d: number;
  private readonly size: number;
  private theta: Float64Array;
  private grad: Float64Array;
  private f: number;
  private readonly s: Float64Array;
  private readonly yHist: Float64Array;
  private readonly rho: Float64Array;
  private historyCount = 0;
  private historyHead = 0;
  private epochsDone = 0;
  private finished = false;
  private trial: Float64Array;
  private trialGrad: Float64Array;
  private readonly direction: Float64Array;
  private readonly alpha: Float64Array;
  private readonly z: Float64Array;

  constructor(
    private readonly problem: Problem,
    private readonly params: Required<LogisticRegressionParams>,
  ) {
    if (problem.task === 'regression')
      throw new TrainingDataError(
        'INVALID_PARAMETER',
        'trainer "logistic_regression" needs task "binary" or "multiclass"; use "ridge" or "mlp" for regression',
      );
    this.k = problem.task === 'binary' ? 1 : problem.classCount;
    this.d = problem.width;
    this.size = this.k * (this.d + 1);
    const m = params.memory;
    this.theta = new Float64Array(this.size);
    this.grad = new Float64Array(this.size);
    this.s = new Float64Array(m * this.size);
    this.yHist = new Float64Array(m * this.size);
    this.rho = new Float64Array(m);
    this.trial = new Float64Array(this.size);
    this.trialGrad = new Float64Array(this.size);
    this.direction = new Float64Array(this.size);
    this.alpha = new Float64Array(m);
    this.z = new Float64Array(4 * this.k);
    this.f = this.objective(this.theta, this.grad);
  }

  get epoch(): number {
    return this.epochsDone;
  }
  get done(): boolean {
    return this.finished;
  }

  /** f(θ) and its gradient into `g`; θ = [W (k × d) row-major, b (k)]. */
  private objective(theta: Float64Array, g: Float64Array): number {
    const { x, y, rows: n } = this.problem.train;
    const d = this.d;
    const k = this.k;
    const wOff = k * d;
    g.fill(0);
    let loss = 0;
    if (k === 1) {
      loss = binaryLossAndGradient(x, y, n, d, theta, g);
    } else {
      loss = multinomialLossAndGradient(x, y, n, d, k, theta, g, this.z);
    }
    const l2 = this.params.l2;
    let penalty = 0;
    for (let i = 0; i < wOff; i++) {
      const w = theta[i] as number;
      penalty += w * w;
      g[i] = (g[i] as number) + l2 * w;
    }
    const inv = 1 / n;
    for (let i = 0; i < this.size; i++) g[i] = (g[i] as number) * inv;
    return (loss + 0.5 * l2 * penalty) * inv;
  }

  /** direction = −H·g by the two-loop recursion over the stored pairs, newest first. */
  private computeDirection(): void {
    const P = this.size;
    const m = this.params.memory;
    const q = this.direction;
    for (let i = 0; i < P; i++) q[i] = -(this.grad[i] as number);
    const count = this.historyCount;
    for (let h = 0; h < count; h++) {
      const slot = (this.historyHead - 1 - h + m) % m;
      const o = slot * P;
      let dot = 0;
      for (let i = 0; i < P; i++) dot += (this.s[o + i] as number) * (q[i] as number);
      const a = (this.rho[slot] as number) * dot;
      this.alpha[slot] = a;
      for (let i = 0; i < P; i++) q[i] = (q[i] as number) - a * (this.yHist[o + i] as number);
    }
    if (count > 0) {
      const slot = (this.historyHead - 1 + m) % m;
      const o = slot * P;
      let sy = 0;
      let yy = 0;
      for (let i = 0; i < P; i++) {
        sy += (this.s[o + i] as number) * (this.yHist[o + i] as number);
        yy += (this.yHist[o + i] as number) * (this.yHist[o + i] as number);
      }
      const gamma = sy / yy;
      for (let i = 0; i < P; i++) q[i] = (q[i] as number) * gamma;
    }
    for (let h = count - 1; h >= 0; h--) {
      const slot = (this.historyHead - 1 - h + m) % m;
      const o = slot * P;
      let dot = 0;
      for (let i = 0; i < P; i++) dot += (this.yHist[o + i] as number) * (q[i] as number);
      const beta = (this.rho[slot] as number) * dot;
      const a = this.alpha[slot] as number;
      for (let i = 0; i < P; i++) q[i] = (q[i] as number) + (a - beta) * (this.s[o + i] as number);
    }
  }

  private maxAbsGradient(): number {
    let m = 0;
    for (let i = 0; i < this.size; i++) m = Math.max(m, Math.abs(this.grad[i] as number));
    return m;
  }

  runEpoch(): EpochReport {
    if (this.finished) throw new RangeError('this training run is finished');
    const P = this.size;
    if (this.maxAbsGradient() <= this.params.gradientTolerance) {
      this.finished = true;
      this.epochsDone++;
      return this.report();
    }
    this.computeDirection();
    let slope = 0;
    for (let i = 0; i < P; i++) slope += (this.grad[i] as number) * (this.direction[i] as number);
    if (!(slope < 0)) {
      // the stored curvature no longer gives a descent direction: forget it and go down the gradient
      this.historyCount = 0;
      this.computeDirection();
      slope = 0;
      for (let i = 0; i < P; i++) slope += (this.grad[i] as number) * (this.direction[i] as number);
    }
    let step = 1;
    if (this.historyCount === 0) {
      let norm = 0;
      for (let i = 0; i < P; i++) norm += (this.grad[i] as number) * (this.grad[i] as number);
      step = Math.min(1, 1 / Math.sqrt(norm));
    }
    let fNew = Number.NaN;
    let accepted = false;
    for (let ls = 0; ls < MAX_LINE_SEARCH_STEPS; ls++) {
      for (let i = 0; i < P; i++) this.trial[i] = (this.theta[i] as number) + step * (this.direction[i] as number);
      fNew = this.objective(this.trial, this.trialGrad);
      if (fNew <= this.f + ARMIJO_C1 * step * slope) {
        accepted = true;
        break;
      }
      // minimiser of the quadratic through f(0), f'(0) and f(step), kept within [0.1, 0.5]·step
      const q = (-slope * step * step) / (2 * (fNew - this.f - slope * step));
      step = Number.isFinite(q) ? Math.min(0.5 * step, Math.max(0.1 * step, q)) : 0.5 * step;
    }
    this.epochsDone++;
    if (!accepted) {
      this.finished = true; // no decrease is possible at float64 precision: θ is at the minimum
      return this.report();
    }
    const m = this.params.memory;
    const o = this.historyHead * P;
    let sy = 0;
    for (let i = 0; i < P; i++) {
      const si = (this.trial[i] as number) - (this.theta[i] as number);
      const yi = (this.trialGrad[i] as number) - (this.grad[i] as number);
      this.s[o + i] = si;
      this.yHist[o + i] = yi;
      sy += si * yi;
    }
    if (sy > 1e-300) {
      this.rho[this.historyHead] = 1 / sy;
      this.historyHead = (this.historyHead + 1) % m;
      this.historyCount = Math.min(this.historyCount + 1, m);
    }
    const fOld = this.f;
    [this.theta, this.trial] = [this.trial, this.theta];
    [this.grad, this.trialGrad] = [this.trialGrad, this.grad];
    this.f = fNew;
    if (
      fOld - fNew <= this.params.relativeTolerance * Math.max(Math.abs(fOld), Math.abs(fNew), 1) ||
      this.maxAbsGradient() <= this.params.gradientTolerance
    ) {
      this.finished = true;
    }
    if (this.epochsDone >= this.params.maxEpochs) this.finished = true;
    return this.report();
  }

  private report(): EpochReport {
    const r: EpochReport = { epoch: this.epochsDone, loss: this.f };
    const v = this.problem.validation;
    if (v.rows > 0) {
      const out = networkOutputs(this.layers(), v.x, v.rows);
      r.validationLoss = meanLoss(this.problem.task, out, v.y, v.rows, this.k);
      r.validationMetric = validationScore(this.problem.task, out, v.y, v.rows, this.k);
      r.validationMetricName = 'accuracy';
    }
    return r;
  }

  layers(): DenseLayer[] {
    const wOff = this.k * this.d;
    return [{ inputs: this.d, outputs: this.k, weights: this.theta.slice(0, wOff), bias: this.theta.slice(wOff) }];
  }

  saveState(): EstimatorState {
    return {
      ints: [
        ['epoch', this.epochsDone],
        ['done', this.finished ? 1 : 0],
        ['historyCount', this.historyCount],
        ['historyHead', this.historyHead],
      ],
      arrays: [
        ['theta', this.theta.slice()],
        ['gradient', this.grad.slice()],
        ['objective', Float64Array.of(this.f)],
        ['s', this.s.slice()],
        ['y', this.yHist.slice()],
        ['rho', this.rho.slice()],
      ],
    };
  }

  restoreState(state: EstimatorState): void {
    const P = this.size;
    const m = this.params.memory;
    this.epochsDone = stateInt(state, 'epoch');
    this.finished = stateInt(state, 'done') === 1;
    this.historyCount = stateInt(state, 'historyCount');
    this.historyHead = stateInt(state, 'historyHead');
    this.theta.set(stateArray(state, 'theta', P));
    this.grad.set(stateArray(state, 'gradient', P));
    this.f = stateArray(state, 'objective', 1)[0] as number;
    this.s.set(stateArray(state, 's', m * P));
    this.yHist.set(stateArray(state, 'y', m * P));
    this.rho.set(stateArray(state, 'rho', m));
  }
}

/** log(1 + e^z) − t·z and σ(z) − t, without overflow. Adds the loss to acc[0] and returns the residual. */
function logisticTerm(z: number, t: number, acc: Float64Array): number {
  if (z > 0) {
    const e = Math.exp(-z);
    acc[0] = (acc[0] as number) + (z + Math.log1p(e) - t * z);
    return 1 / (1 + e) - t;
  }
  const e = Math.exp(z);
  acc[0] = (acc[0] as number) + (Math.log1p(e) - t * z);
  return e / (1 + e) - t;
}

/**
 * Σ loss over the rows and its gradient (unscaled, unpenalised) into g for one sigmoid unit,
 * θ = [w (d), b]. Rows go four at a time: each weight is loaded once for four products and each
 * gradient entry is read and written once per four rows, about three times faster than row by
 * row here. The order of every sum is fixed (blocks in row order, then the last rows one by one).
 */
function binaryLossAndGradient(x: Float64Array, y: Float64Array, n: number, d: number, theta: Float64Array, g: Float64Array): number {
  const b = theta[d] as number;
  const acc = Float64Array.of(0);
  let gb = 0;
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    const x0 = r * d;
    const x1 = x0 + d;
    const x2 = x1 + d;
    const x3 = x2 + d;
    let z0 = b;
    let z1 = b;
    let z2 = b;
    let z3 = b;
    for (let j = 0; j < d; j++) {
      const w = theta[j] as number;
      z0 += (x[x0 + j] as number) * w;
      z1 += (x[x1 + j] as number) * w;
      z2 += (x[x2 + j] as number) * w;
      z3 += (x[x3 + j] as number) * w;
    }
    const r0 = logisticTerm(z0, y[r] as number, acc);
    const r1 = logisticTerm(z1, y[r + 1] as number, acc);
    const r2 = logisticTerm(z2, y[r + 2] as number, acc);
    const r3 = logisticTerm(z3, y[r + 3] as number, acc);
    gb += r0 + r1 + r2 + r3;
    for (let j = 0; j < d; j++) {
      g[j] =
        (g[j] as number) +
        r0 * (x[x0 + j] as number) +
        r1 * (x[x1 + j] as number) +
        r2 * (x[x2 + j] as number) +
        r3 * (x[x3 + j] as number);
    }
  }
  for (; r < n; r++) {
    const xr = r * d;
    let z = b;
    for (let j = 0; j < d; j++) z += (x[xr + j] as number) * (theta[j] as number);
    const res = logisticTerm(z, y[r] as number, acc);
    gb += res;
    for (let j = 0; j < d; j++) g[j] = (g[j] as number) + res * (x[xr + j] as number);
  }
  g[d] = gb;
  return acc[0] as number;
}

/**
 * Σ softmax loss over the rows and its gradient (unscaled, unpenalised) into g, θ = [W (k × d), b (k)];
 * `z` is scratch of 4·k. Rows go four at a time for the same reason as the binary case; the
 * grouping is fixed (four-row blocks in row order, then the last rows one by one).
 */
function multinomialLossAndGradient(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  k: number,
  theta: Float64Array,
  g: Float64Array,
  z: Float64Array,
): number {
  const wOff = k * d;
  let loss = 0;
  /** Turns the logits of block row q (z[q·k …]) into residuals p − onehot(t) and returns that row's loss. */
  const softmaxResidual = (q: number, t: number): number => {
    const o = q * k;
    let max = -Infinity;
    for (let c = 0; c < k; c++) if ((z[o + c] as number) > max) max = z[o + c] as number;
    const logitOfLabel = z[o + t] as number;
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp((z[o + c] as number) - max);
      z[o + c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) z[o + c] = (z[o + c] as number) / sum - (c === t ? 1 : 0);
    return max + Math.log(sum) - logitOfLabel;
  };
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    const x0 = r * d;
    const x1 = x0 + d;
    const x2 = x1 + d;
    const x3 = x2 + d;
    for (let c = 0; c < k; c++) {
      const wc = c * d;
      const bc = theta[wOff + c] as number;
      let z0 = bc;
      let z1 = bc;
      let z2 = bc;
      let z3 = bc;
      for (let j = 0; j < d; j++) {
        const w = theta[wc + j] as number;
        z0 += (x[x0 + j] as number) * w;
        z1 += (x[x1 + j] as number) * w;
        z2 += (x[x2 + j] as number) * w;
        z3 += (x[x3 + j] as number) * w;
      }
      z[c] = z0;
      z[k + c] = z1;
      z[2 * k + c] = z2;
      z[3 * k + c] = z3;
    }
    for (let q = 0; q < 4; q++) loss += softmaxResidual(q, y[r + q] as number);
    for (let c = 0; c < k; c++) {
      const r0 = z[c] as number;
      const r1 = z[k + c] as number;
      const r2 = z[2 * k + c] as number;
      const r3 = z[3 * k + c] as number;
      g[wOff + c] = (g[wOff + c] as number) + (r0 + r1 + r2 + r3);
      const wc = c * d;
      for (let j = 0; j < d; j++) {
        g[wc + j] =
          (g[wc + j] as number) +
          r0 * (x[x0 + j] as number) +
          r1 * (x[x1 + j] as number) +
          r2 * (x[x2 + j] as number) +
          r3 * (x[x3 + j] as number);
      }
    }
  }
  for (; r < n; r++) {
    const xr = r * d;
    for (let c = 0; c < k; c++) {
      let s = theta[wOff + c] as number;
      const wc = c * d;
      for (let j = 0; j < d; j++) s += (x[xr + j] as number) * (theta[wc + j] as number);
      z[c] = s;
    }
    loss += softmaxResidual(0, y[r] as number);
    for (let c = 0; c < k; c++) {
      const res = z[c] as number;
      g[wOff + c] = (g[wOff + c] as number) + res;
      const wc = c * d;
      for (let j = 0; j < d; j++) g[wc + j] = (g[wc + j] as number) + res * (x[xr + j] as number);
    }
  }
  return loss;
}
