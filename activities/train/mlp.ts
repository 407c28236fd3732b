/**
 * A small multilayer perceptron: 1–2 hidden ReLU layers, a sigmoid (binary), softmax (multiclass)
 * or linear (regression) output, trained with Adam on shuffled mini-batches.
 *
 * - Initialisation: He (weights ~ N(0, 2/fan_in), biases 0) for every layer, drawn from the run's
 *   PRNG in layer order, weights row by row.
 * - Loss: mean log loss (classification) or half mean squared error (regression) per batch, plus
 *   (l2/2)·||W||²/batch (biases unpenalised), as scikit-learn's MLP `alpha`.
 * - One epoch: a Fisher–Yates shuffle of the training rows from the run's PRNG, then batches in
 *   that order (the last one may be short).
 * - Early stopping: after each epoch the validation loss (the training loss when no rows are held
 *   out) must improve on the best so far by more than `minDelta`; after `patience` epochs without
 *   that, training stops. The model kept is the best epoch's, so a stop never loses ground.
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
import {
  copyLayers,
  denseForward,
  networkOutputs,
  outputUnits,
  reluInPlace,
  sigmoid,
  softmaxRowsInPlace,
  type DenseLayer,
} from './network';
import type { RngState, Xoshiro128 } from './random';
import type { TaskKind } from './data';

export interface MlpParams {
  trainer: 'mlp';
  /** Units of each hidden layer, one or two layers (default [64]). */
  hiddenLayers?: number[];
  /** Adam step size (default 1e-3). */
  learningRate?: number;
  /** Default 200. */
  batchSize?: number;
  /** Default 200. */
  maxEpochs?: number;
  /** Epochs without improvement before stopping (default 10). */
  patience?: number;
  /** Improvement smaller than this does not count (default 1e-4). */
  minDelta?: number;
  /** L2 on the weights (default 1e-4, scikit-learn's `alpha`). */
  l2?: number;
  /** Rows held out for early stopping (default 0.1). */
  validationFraction?: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

export function checkMlpParams(p: MlpParams): Required<MlpParams> {
  const r = {
    trainer: p.trainer,
    hiddenLayers: p.hiddenLayers ?? [64],
    learningRate: p.learningRate ?? 1e-3,
    batchSize: p.batchSize ?? 200,
    maxEpochs: p.maxEpochs ?? 200,
    patience: p.patience ?? 10,
    minDelta: p.minDelta ?? 1e-4,
    l2: p.l2 ?? 1e-4,
    validationFraction: p.validationFraction ?? 0.1,
  };
  if (r.hiddenLayers.length < 1 || r.hiddenLayers.length > 2 || !r.hiddenLayers.every((u) => Number.isInteger(u) && u >= 1)) {
    throw new TrainingDataError(
      'INVALID_PARAMETER',
      `hiddenLayers must list one or two positive unit counts, got [${r.hiddenLayers.join(', ')}]`,
    );
  }
  for (const key of ['batchSize', 'maxEpochs', 'patience'] as const) {
    if (!(Number.isInteger(r[key]) && r[key] >= 1))
      throw new TrainingDataError('INVALID_PARAMETER', `${key} must be a positive integer, got ${r[key]}`);
  }
  if (!(r.learningRate > 0)) throw new TrainingDataError('INVALID_PARAMETER', `learningRate must be > 0, got ${r.learningRate}`);
  if (!(r.l2 >= 0 && r.minDelta >= 0)) throw new TrainingDataError('INVALID_PARAMETER', 'l2 and minDelta must be ≥ 0');
  return r;
}

interface LayerBuffers extends LayerWork {
  mW: Float64Array;
  vW: Float64Array;
  mB: Float64Array;
  vB: Float64Array;
}

export class MlpRun implements EstimatorRun {
  private readonly net: DenseLayer[];
  private readonly buffers: LayerBuffers[];
  private best: DenseLayer[];
  private bestLoss = Infinity;
  private sinceBest = 0;
  private adamStep = 0;
  private epochsDone = 0;
  private finished = false;
  private readonly order: Uint32Array;
  private readonly batchX: Float64Array;
  /** Inside an epoch: the first row (in `order`) of the next batch; 0 between epochs. */
  private batchStart = 0;
  private epochLossSum = 0;
  private epochRowsSeen = 0;
  /** The PRNG's state before this epoch's shuffle: a checkpoint inside the epoch shuffles again from it. */
  private epochRng: RngState = [0, 0, 0, 0];
  private readonly k: number;

  constructor(
    private readonly problem: Problem,
    private readonly params: Required<MlpParams>,
    private readonly rng: Xoshiro128,
  ) {
    if (problem.task !== 'regression' && problem.classCount < 2)
      throw new TrainingDataError('SINGLE_CLASS', 'a classifier needs at least two classes');
    this.k = outputUnits(problem.task, problem.classCount);
    const sizes = [problem.width, ...params.hiddenLayers, this.k];
    const batch = Math.min(params.batchSize, problem.train.rows);
    this.net = [];
    this.buffers = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const nIn = sizes[l] as number;
      const nOut = sizes[l + 1] as number;
      const weights = new Float64Array(nIn * nOut);
      const scale = Math.sqrt(2 / nIn);
      for (let i = 0; i < weights.length; i++) weights[i] = scale * rng.nextNormal();
      this.net.push({ inputs: nIn, outputs: nOut, weights, bias: new Float64Array(nOut) });
      this.buffers.push({
        gradW: new Float64Array(nIn * nOut),
        gradB: new Float64Array(nOut),
        mW: new Float64Array(nIn * nOut),
        vW: new Float64Array(nIn * nOut),
        mB: new Float64Array(nOut),
        vB: new Float64Array(nOut),
        act: new Float64Array(batch * nOut),
        delta: new Float64Array(batch * nOut),
      });
    }
    this.best = copyLayers(this.net);
    this.order = new Uint32Array(problem.train.rows);
    this.batchX = new Float64Array(batch * problem.width);
  }

  get epoch(): number {
    return this.epochsDone;
  }
  get done(): boolean {
    return this.finished;
  }

  private shuffleOrder(): void {
    for (let i = 0; i < this.order.length; i++) this.order[i] = i;
    this.rng.shuffle(this.order);
  }

  /** Rows of the current epoch done so far (0 between epochs) and the rows of an epoch. */
  get epochRows(): { done: number; total: number } {
    return { done: this.batchStart, total: this.problem.train.rows };
  }

  /** One Adam step on the rows order[start, start + size); returns the batch's mean loss (without the penalty). */
  private trainBatch(start: number, size: number): number {
    const { x } = this.problem.train;
    const d = this.problem.width;
    const bx = this.batchX;
    for (let r = 0; r < size; r++) {
      const src = (this.order[start + r] as number) * d;
      for (let j = 0; j < d; j++) bx[r * d + j] = x[src + j] as number;
    }
    const batchLoss = batchGradient(this.net, this.buffers, this.problem.task, this.params.l2, bx, this.batchTargets(start, size), size);
    const L = this.net.length;
    // Adam
    this.adamStep++;
    const lr = this.params.learningRate;
    const c1 = 1 - Math.pow(BETA1, this.adamStep);
    const c2 = 1 - Math.pow(BETA2, this.adamStep);
    for (let l = 0; l < L; l++) {
      const layer = this.net[l] as DenseLayer;
      const buf = this.buffers[l] as LayerBuffers;
      adamUpdate(layer.weights, buf.gradW, buf.mW, buf.vW, lr, c1, c2);
      adamUpdate(layer.bias, buf.gradB, buf.mB, buf.vB, lr, c1, c2);
    }
    return batchLoss;
  }

  private targets = new Float64Array(0);
  private batchTargets(start: number, size: number): Float64Array {
    if (this.targets.length < size) this.targets = new Float64Array(size);
    const y = this.problem.train.y;
    for (let r = 0; r < size; r++) this.targets[r] = y[this.order[start + r] as number] as number;
    return this.targets;
  }

  runEpoch(): EpochReport {
    return this.advance(() => false) as EpochReport;
  }

  /**
   * Runs the current epoch's batches until the epoch ends (returns its report) or `pause()`, asked
   * after each batch, says to stop (returns undefined: the run is inside the epoch, and its state,
   * checkpoint included, says where).
   */
  advance(pause: () => boolean): EpochReport | undefined {
    if (this.finished) throw new RangeError('this training run is finished');
    const n = this.problem.train.rows;
    if (this.batchStart === 0) {
      this.epochRng = this.rng.state();
      this.shuffleOrder();
      this.epochLossSum = 0;
      this.epochRowsSeen = 0;
    }
    const batch = Math.min(this.params.batchSize, n);
    while (this.batchStart < n) {
      const size = Math.min(batch, n - this.batchStart);
      this.epochLossSum += this.trainBatch(this.batchStart, size) * size;
      this.epochRowsSeen += size;
      this.batchStart += size;
      if (this.batchStart < n && pause()) return undefined;
    }
    this.batchStart = 0;
    const lossSum = this.epochLossSum;
    const rowsSeen = this.epochRowsSeen;
    this.epochsDone++;
    let penalty = 0;
    for (const layer of this.net)
      for (let i = 0; i < layer.weights.length; i++) penalty += (layer.weights[i] as number) * (layer.weights[i] as number);
    const report: EpochReport = { epoch: this.epochsDone, loss: lossSum / rowsSeen + (0.5 * this.params.l2 * penalty) / n };
    const v = this.problem.validation;
    let monitored = report.loss;
    if (v.rows > 0) {
      const out = networkOutputs(this.net, v.x, v.rows);
      report.validationLoss = meanLoss(this.problem.task, out, v.y, v.rows, this.k);
      report.validationMetric = validationScore(this.problem.task, out, v.y, v.rows, this.k);
      report.validationMetricName = this.problem.task === 'regression' ? 'rmse' : 'accuracy';
      monitored = report.validationLoss;
    }
    if (monitored < this.bestLoss - this.params.minDelta) {
      this.bestLoss = monitored;
      this.sinceBest = 0;
      this.best = copyLayers(this.net);
    } else {
      this.sinceBest++;
    }
    if (this.sinceBest >= this.params.patience || this.epochsDone >= this.params.maxEpochs || !Number.isFinite(monitored))
      this.finished = true;
    return report;
  }

  layers(): DenseLayer[] {
    return copyLayers(this.best);
  }

  saveState(): EstimatorState {
    const [s0, s1, s2, s3] = this.rng.state();
    const arrays: [string, Float64Array][] = [['bestLoss', Float64Array.of(this.bestLoss)]];
    this.net.forEach((layer, l) => {
      const buf = this.buffers[l] as LayerBuffers;
      const best = this.best[l] as DenseLayer;
      arrays.push(
        [`layer${l}.weights`, layer.weights.slice()],
        [`layer${l}.bias`, layer.bias.slice()],
        [`layer${l}.adam.mW`, buf.mW.slice()],
        [`layer${l}.adam.vW`, buf.vW.slice()],
        [`layer${l}.adam.mB`, buf.mB.slice()],
        [`layer${l}.adam.vB`, buf.vB.slice()],
        [`layer${l}.best.weights`, best.weights.slice()],
        [`layer${l}.best.bias`, best.bias.slice()],
      );
    });
    return {
      ints: [
        ['epoch', this.epochsDone],
        ['done', this.finished ? 1 : 0],
        ['adamStep', this.adamStep],
        ['sinceBest', this.sinceBest],
        ['rng0', s0],
        ['rng1', s1],
        ['rng2', s2],
        ['rng3', s3],
        // Inside an epoch only (a MID_EPOCH_CHECKPOINT_FORMAT_VERSION checkpoint): where the epoch stands.
        ...(this.batchStart > 0
          ? ([
              ['batchStart', this.batchStart],
              ['epochRowsSeen', this.epochRowsSeen],
              ['epochRng0', this.epochRng[0]],
              ['epochRng1', this.epochRng[1]],
              ['epochRng2', this.epochRng[2]],
              ['epochRng3', this.epochRng[3]],
            ] as [string, number][])
          : []),
      ],
      arrays: this.batchStart > 0 ? [...arrays, ['epochLossSum', Float64Array.of(this.epochLossSum)]] : arrays,
    };
  }

  restoreState(state: EstimatorState): void {
    this.epochsDone = stateInt(state, 'epoch');
    this.finished = stateInt(state, 'done') === 1;
    this.adamStep = stateInt(state, 'adamStep');
    this.sinceBest = stateInt(state, 'sinceBest');
    const rng: RngState = [stateInt(state, 'rng0'), stateInt(state, 'rng1'), stateInt(state, 'rng2'), stateInt(state, 'rng3')];
    this.batchStart = 0;
    if (state.ints.some(([k]) => k === 'batchStart')) {
      // Inside an epoch: the same shuffle again from the epoch's PRNG state, which must end where the run's did.
      const batchStart = stateInt(state, 'batchStart');
      if (!Number.isInteger(batchStart) || batchStart <= 0 || batchStart >= this.problem.train.rows)
        throw new RangeError(`checkpoint batchStart ${batchStart} is not inside an epoch of ${this.problem.train.rows} rows`);
      this.epochRng = [
        stateInt(state, 'epochRng0'),
        stateInt(state, 'epochRng1'),
        stateInt(state, 'epochRng2'),
        stateInt(state, 'epochRng3'),
      ];
      this.rng.setState(this.epochRng);
      this.shuffleOrder();
      if (this.rng.state().some((v, i) => v !== rng[i])) throw new RangeError('checkpoint PRNG states do not agree with the epoch shuffle');
      this.batchStart = batchStart;
      this.epochRowsSeen = stateInt(state, 'epochRowsSeen');
      this.epochLossSum = stateArray(state, 'epochLossSum', 1)[0] as number;
    }
    this.rng.setState(rng);
    this.bestLoss = stateArray(state, 'bestLoss', 1)[0] as number;
    this.net.forEach((layer, l) => {
      const buf = this.buffers[l] as LayerBuffers;
      const best = this.best[l] as DenseLayer;
      const nW = layer.weights.length;
      const nB = layer.bias.length;
      layer.weights.set(stateArray(state, `layer${l}.weights`, nW));
      layer.bias.set(stateArray(state, `layer${l}.bias`, nB));
      buf.mW.set(stateArray(state, `layer${l}.adam.mW`, nW));
      buf.vW.set(stateArray(state, `layer${l}.adam.vW`, nW));
      buf.mB.set(stateArray(state, `layer${l}.adam.mB`, nB));
      buf.vB.set(stateArray(state, `layer${l}.adam.vB`, nB));
      best.weights.set(stateArray(state, `layer${l}.best.weights`, nW));
      best.bias.set(stateArray(state, `layer${l}.best.bias`, nB));
    });
  }
}

/** A layer's gradient and, for the current batch, its outputs and the loss gradient with respect to them. */
export interface LayerWork {
  gradW: Float64Array;
  gradB: Float64Array;
  /** [batch × outputs]: after ReLU for hidden layers, logits or values for the last. */
  act: Float64Array;
  delta: Float64Array;
}

/**
 * Forward and backward pass on one batch: fills every layer's gradW/gradB with the gradient of
 * (batch mean loss) + (l2 / 2)·||W||² / size and returns the batch mean loss (without the penalty).
 * For each loss here, with its canonical link, d loss / d logit = prediction − target.
 */
export function batchGradient(
  net: readonly DenseLayer[],
  work: readonly LayerWork[],
  task: TaskKind,
  l2: number,
  bx: Float64Array,
  targets: Float64Array,
  size: number,
): number {
  const L = net.length;
  let input = bx;
  for (let l = 0; l < L; l++) {
    const buf = work[l] as LayerWork;
    denseForward(net[l] as DenseLayer, input, size, buf.act);
    if (l < L - 1) reluInPlace(buf.act, size * (net[l] as DenseLayer).outputs);
    input = buf.act;
  }
  const last = work[L - 1] as LayerWork;
  const k = (net[L - 1] as DenseLayer).outputs;
  const batchLoss = meanLoss(task, last.act, targets, size, k);
  const delta = last.delta;
  const inv = 1 / size;
  for (let r = 0; r < size; r++) {
    const t = targets[r] as number;
    if (task === 'regression') delta[r] = ((last.act[r] as number) - t) * inv;
    else if (task === 'binary') delta[r] = (sigmoid(last.act[r] as number) - t) * inv;
    else {
      for (let c = 0; c < k; c++) delta[r * k + c] = last.act[r * k + c] as number;
      softmaxRowsInPlace(delta.subarray(r * k, r * k + k), 1, k);
      for (let c = 0; c < k; c++) delta[r * k + c] = ((delta[r * k + c] as number) - (c === t ? 1 : 0)) * inv;
    }
  }
  const lambda = l2 * inv;
  for (let l = L - 1; l >= 0; l--) {
    const { inputs: nIn, outputs: nOut, weights: w } = net[l] as DenseLayer;
    const buf = work[l] as LayerWork;
    const a = l === 0 ? bx : (work[l - 1] as LayerWork).act;
    for (let i = 0; i < buf.gradW.length; i++) buf.gradW[i] = lambda * (w[i] as number);
    buf.gradB.fill(0);
    accumulateWeightGradient(buf.gradW, buf.gradB, buf.delta, a, size, nIn, nOut);
    if (l > 0) {
      const pd = (work[l - 1] as LayerWork).delta;
      pd.fill(0, 0, size * nIn);
      backpropagateDelta(pd, buf.delta, w, size, nIn, nOut);
      // ReLU: no gradient where the unit was off
      for (let i = 0; i < size * nIn; i++) if ((a[i] as number) <= 0) pd[i] = 0;
    }
  }
  return batchLoss;
}

function adamUpdate(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, lr: number, c1: number, c2: number): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] as number;
    const mi = BETA1 * (m[i] as number) + (1 - BETA1) * gi;
    const vi = BETA2 * (v[i] as number) + (1 - BETA2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = (p[i] as number) - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + EPSILON);
  }
}

/**
 * gW[o, i] += Σ_r delta[r, o] · a[r, i] and gB[o] += Σ_r delta[r, o]. Blocks of four rows × four
 * outputs: each gradient entry is read and written once per four rows and each activation loaded
 * once per four products (about 2.3× faster than row by row for 64 × 64 here). The grouping is
 * fixed (four-row blocks in row order, then the last rows one by one), so the sums are too.
 */
export function accumulateWeightGradient(
  gW: Float64Array,
  gB: Float64Array,
  delta: Float64Array,
  a: Float64Array,
  rows: number,
  nIn: number,
  nOut: number,
): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const p0 = r * nIn;
    const p1 = p0 + nIn;
    const p2 = p1 + nIn;
    const p3 = p2 + nIn;
    const d0 = r * nOut;
    const d1 = d0 + nOut;
    const d2 = d1 + nOut;
    const d3 = d2 + nOut;
    let o = 0;
    for (; o + 4 <= nOut; o += 4) {
      const g00 = delta[d0 + o] as number;
      const g01 = delta[d0 + o + 1] as number;
      const g02 = delta[d0 + o + 2] as number;
      const g03 = delta[d0 + o + 3] as number;
      const g10 = delta[d1 + o] as number;
      const g11 = delta[d1 + o + 1] as number;
      const g12 = delta[d1 + o + 2] as number;
      const g13 = delta[d1 + o + 3] as number;
      const g20 = delta[d2 + o] as number;
      const g21 = delta[d2 + o + 1] as number;
      const g22 = delta[d2 + o + 2] as number;
      const g23 = delta[d2 + o + 3] as number;
      const g30 = delta[d3 + o] as number;
      const g31 = delta[d3 + o + 1] as number;
      const g32 = delta[d3 + o + 2] as number;
      const g33 = delta[d3 + o + 3] as number;
      gB[o] = (gB[o] as number) + (g00 + g10 + g20 + g30);
      gB[o + 1] = (gB[o + 1] as number) + (g01 + g11 + g21 + g31);
      gB[o + 2] = (gB[o + 2] as number) + (g02 + g12 + g22 + g32);
      gB[o + 3] = (gB[o + 3] as number) + (g03 + g13 + g23 + g33);
      const w0 = o * nIn;
      const w1 = w0 + nIn;
      const w2 = w1 + nIn;
      const w3 = w2 + nIn;
      for (let i = 0; i < nIn; i++) {
        const x0 = a[p0 + i] as number;
        const x1 = a[p1 + i] as number;
        const x2 = a[p2 + i] as number;
        const x3 = a[p3 + i] as number;
        gW[w0 + i] = (gW[w0 + i] as number) + (g00 * x0 + g10 * x1 + g20 * x2 + g30 * x3);
        gW[w1 + i] = (gW[w1 + i] as number) + (g01 * x0 + g11 * x1 + g21 * x2 + g31 * x3);
        gW[w2 + i] = (gW[w2 + i] as number) + (g02 * x0 + g12 * x1 + g22 * x2 + g32 * x3);
        gW[w3 + i] = (gW[w3 + i] as number) + (g03 * x0 + g13 * x1 + g23 * x2 + g33 * x3);
      }
    }
    for (; o < nOut; o++) {
      const g0 = delta[d0 + o] as number;
      const g1 = delta[d1 + o] as number;
      const g2 = delta[d2 + o] as number;
      const g3 = delta[d3 + o] as number;
      gB[o] = (gB[o] as number) + (g0 + g1 + g2 + g3);
      const wo = o * nIn;
      for (let i = 0; i < nIn; i++) {
        gW[wo + i] =
          (gW[wo + i] as number) +
          (g0 * (a[p0 + i] as number) + g1 * (a[p1 + i] as number) + g2 * (a[p2 + i] as number) + g3 * (a[p3 + i] as number));
      }
    }
  }
  for (; r < rows; r++) {
    const ar = r * nIn;
    const dr = r * nOut;
    for (let o = 0; o < nOut; o++) {
      const g = delta[dr + o] as number;
      gB[o] = (gB[o] as number) + g;
      const wo = o * nIn;
      for (let i = 0; i < nIn; i++) gW[wo + i] = (gW[wo + i] as number) + g * (a[ar + i] as number);
    }
  }
}

/**
 * prev[r, i] += Σ_o delta[r, o] · W[o, i]. Blocks of two rows × four outputs: each weight loaded
 * once for two rows, each entry of `prev` written once per four outputs (about 1.5× faster than
 * row by row here); fixed grouping as above.
 */
export function backpropagateDelta(
  prev: Float64Array,
  delta: Float64Array,
  w: Float64Array,
  rows: number,
  nIn: number,
  nOut: number,
): void {
  let r = 0;
  for (; r + 2 <= rows; r += 2) {
    const p0 = r * nIn;
    const p1 = p0 + nIn;
    const d0 = r * nOut;
    const d1 = d0 + nOut;
    let o = 0;
    for (; o + 4 <= nOut; o += 4) {
      const g00 = delta[d0 + o] as number;
      const g01 = delta[d0 + o + 1] as number;
      const g02 = delta[d0 + o + 2] as number;
      const g03 = delta[d0 + o + 3] as number;
      const g10 = delta[d1 + o] as number;
      const g11 = delta[d1 + o + 1] as number;
      const g12 = delta[d1 + o + 2] as number;
      const g13 = delta[d1 + o + 3] as number;
      const w0 = o * nIn;
      const w1 = w0 + nIn;
      const w2 = w1 + nIn;
      const w3 = w2 + nIn;
      for (let i = 0; i < nIn; i++) {
        const v0 = w[w0 + i] as number;
        const v1 = w[w1 + i] as number;
        const v2 = w[w2 + i] as number;
        const v3 = w[w3 + i] as number;
        prev[p0 + i] = (prev[p0 + i] as number) + (g00 * v0 + g01 * v1 + g02 * v2 + g03 * v3);
        prev[p1 + i] = (prev[p1 + i] as number) + (g10 * v0 + g11 * v1 + g12 * v2 + g13 * v3);
      }
    }
    for (; o < nOut; o++) {
      const g0 = delta[d0 + o] as number;
      const g1 = delta[d1 + o] as number;
      const wo = o * nIn;
      for (let i = 0; i < nIn; i++) {
        const v = w[wo + i] as number;
        prev[p0 + i] = (prev[p0 + i] as number) + g0 * v;
        prev[p1 + i] = (prev[p1 + i] as number) + g1 * v;
      }
    }
  }
  for (; r < rows; r++) {
    const ar = r * nIn;
    const dr = r * nOut;
    for (let o = 0; o < nOut; o++) {
      const g = delta[dr + o] as number;
      const wo = o * nIn;
      for (let i = 0; i < nIn; i++) prev[ar + i] = (prev[ar + i] as number) + g * (w[wo + i] as number);
    }
  }
}
