/**
 * Linear regression with an L2 penalty (ridge), in closed form: the normal equations
 * (XᵀX + l2·I′)·[w; b] = Xᵀy over X augmented with a column of ones, where I′ leaves the
 * intercept unpenalised (as scikit-learn's Ridge), solved by Cholesky. The features are few (d is
 * the encoded width), so the (d+1)² system is small; building XᵀX costs n·d²/2. One epoch.
 */
import { TrainingDataError } from './errors';
import {
  meanLoss,
  stateArray,
  stateInt,
  validationScore,
  type EpochReport,
  type EstimatorRun,
  type EstimatorState,
  type Problem,
} from './estimator';
import { choleskySolve } from './linalg';
import { networkOutputs, type DenseLayer } from './network';

export interface RidgeParams {
  trainer: 'ridge';
  /** L2 strength on the sum of squared errors, scikit-learn's `alpha` (default 1). */
  l2?: number;
  /** Rows held out for the validation metric (default 0). */
  validationFraction?: number;
}

export function checkRidgeParams(p: RidgeParams): Required<RidgeParams> {
  const r = { trainer: p.trainer, l2: p.l2 ?? 1, validationFraction: p.validationFraction ?? 0 };
  if (!(r.l2 >= 0)) throw new TrainingDataError('INVALID_PARAMETER', `l2 must be ≥ 0, got ${r.l2}`);
  return r;
}

export class RidgeRun implements EstimatorRun {
  private readonly d: number;
  private coefficients: Float64Array;
  private epochsDone = 0;
  private loss = Number.NaN;

  constructor(
    private readonly problem: Problem,
    private readonly params: Required<RidgeParams>,
  ) {
    if (problem.task !== 'regression')
      throw new TrainingDataError(
        'INVALID_PARAMETER',
        `trainer "ridge" needs task "regression", got "${problem.task}"; use "logistic_regression" or "mlp"`,
      );
    this.d = problem.width;
    this.coefficients = new Float64Array(this.d + 1);
  }

  get epoch(): number {
    return this.epochsDone;
  }
  get done(): boolean {
    return this.epochsDone >= 1;
  }

  runEpoch(): EpochReport {
    if (this.done) throw new RangeError('this training run is finished');
    const { x, y, rows: n } = this.problem.train;
    const d = this.d;
    const m = d + 1;
    const a = new Float64Array(m * m);
    const rhs = new Float64Array(m);
    for (let r = 0; r < n; r++) {
      const xr = r * d;
      const t = y[r] as number;
      for (let i = 0; i < d; i++) {
        const xi = x[xr + i] as number;
        if (xi === 0) continue; // one-hot blocks are mostly zeros; skipping adds nothing
        const ai = i * m;
        for (let j = 0; j <= i; j++) a[ai + j] = (a[ai + j] as number) + xi * (x[xr + j] as number);
        a[d * m + i] = (a[d * m + i] as number) + xi;
        rhs[i] = (rhs[i] as number) + xi * t;
      }
      rhs[d] = (rhs[d] as number) + t;
    }
    a[d * m + d] = n;
    for (let i = 0; i < d; i++) a[i * m + i] = (a[i * m + i] as number) + this.params.l2;
    const solution = choleskySolve(a, rhs, m);
    if (!solution) {
      throw new TrainingDataError(
        'COLLINEAR_FEATURES',
        'the encoded features are linearly dependent (for example a one-hot block with every category present); set l2 > 0',
      );
    }
    this.coefficients = solution;
    this.epochsDone = 1;
    const out = networkOutputs(this.layers(), x, n);
    this.loss = meanLoss('regression', out, y, n, 1);
    return this.report();
  }

  private report(): EpochReport {
    const r: EpochReport = { epoch: this.epochsDone, loss: this.loss };
    const v = this.problem.validation;
    if (v.rows > 0) {
      const out = networkOutputs(this.layers(), v.x, v.rows);
      r.validationLoss = meanLoss('regression', out, v.y, v.rows, 1);
      r.validationMetric = validationScore('regression', out, v.y, v.rows, 1);
      r.validationMetricName = 'rmse';
    }
    return r;
  }

  layers(): DenseLayer[] {
    return [{ inputs: this.d, outputs: 1, weights: this.coefficients.slice(0, this.d), bias: this.coefficients.slice(this.d) }];
  }

  saveState(): EstimatorState {
    return {
      ints: [['epoch', this.epochsDone]],
      arrays: [
        ['coefficients', this.coefficients.slice()],
        ['loss', Float64Array.of(this.loss)],
      ],
    };
  }

  restoreState(state: EstimatorState): void {
    this.epochsDone = stateInt(state, 'epoch');
    this.coefficients = stateArray(state, 'coefficients', this.d + 1).slice();
    this.loss = stateArray(state, 'loss', 1)[0] as number;
  }
}
