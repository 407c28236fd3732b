/**
 * Model metrics on scored test rows: pure functions of labels and predictions, in float64, every
 * sum in row order (the same rows give the same bits). Definitions follow scikit-learn where it
 * has one, so that numbers can be checked against it:
 *  - accuracy: share of rows whose predicted class (the model's ArgMax) is the actual one;
 *  - ROC AUC: the Mann–Whitney statistic with average ranks for ties (exact, no thresholds);
 *    binary: of the positive class, classes[1]; multiclass: the unweighted mean of one-vs-rest
 *    AUCs over the classes that have both positive and negative test rows;
 *  - log loss: −mean ln p(actual class), p clipped to [1e−15, 1 − 1e−15];
 *  - precision, recall, F1 per class (0 where the denominator is 0, as zero_division=0); macro F1
 *    is the unweighted mean over all the model's classes;
 *  - calibration: 10 equal-width bins of P(positive) (binary) or of the predicted class's
 *    probability against being right (multiclass); ECE = Σ n_b / n · |observed_b − mean_b|;
 *  - regression: RMSE, MAE, R² = 1 − SS_res / SS_tot (null when SS_tot = 0).
 */
import type { CalibrationBin, ClassificationMetrics, ClassMetrics, ModelClassLabel, RegressionMetrics } from '../../api/models';

const LOG_LOSS_EPS = 1e-15;
export const CALIBRATION_BINS = 10;

/** Ranks 1..n of `scores` (ascending), ties sharing their average rank. */
function averageRanks(scores: ArrayLike<number>): Float64Array {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const rank = (i + j + 2) / 2; // mean of the 1-based ranks i+1 … j+1
    for (let k = i; k <= j; k++) ranks[order[k] as number] = rank;
    i = j + 1;
  }
  return ranks;
}

/** Exact ROC AUC of `scores` for `positive` rows; null without both positives and negatives. */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number | null {
  const ranks = averageRanks(scores);
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < scores.length; i++) {
    if (positive[i]) {
      nPos++;
      rankSum += ranks[i] as number;
    }
  }
  const nNeg = scores.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** ROC curve points (FPR, TPR) from the highest threshold down, one per distinct score, thinned to at most `maxPoints`. */
export function rocCurve(scores: ArrayLike<number>, positive: ArrayLike<boolean>, maxPoints = 200): { fpr: number; tpr: number }[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (positive[i]) nPos++;
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return [];
  const points = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    if (positive[i]) tp++;
    else fp++;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[i]) points.push({ fpr: fp / nNeg, tpr: tp / nPos });
  }
  if (points.length <= maxPoints) return points;
  const step = (points.length - 1) / (maxPoints - 1);
  return Array.from({ length: maxPoints }, (_, j) => points[Math.round(j * step)] as { fpr: number; tpr: number });
}

/** Equal-width probability bins; `event[i]` is whether what `predicted[i]` predicts happened. */
export function calibrationBins(
  predicted: ArrayLike<number>,
  event: ArrayLike<boolean>,
  bins = CALIBRATION_BINS,
): { bins: CalibrationBin[]; expectedCalibrationError: number } {
  const count = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const hits = new Float64Array(bins);
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i] as number;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    count[b] = (count[b] as number) + 1;
    sumP[b] = (sumP[b] as number) + p;
    if (event[i]) hits[b] = (hits[b] as number) + 1;
  }
  let ece = 0;
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const c = count[b] as number;
    const meanPredicted = c > 0 ? (sumP[b] as number) / c : null;
    const observed = c > 0 ? (hits[b] as number) / c : null;
    if (c > 0) ece += (c / predicted.length) * Math.abs((observed as number) - (meanPredicted as number));
    out.push({ lower: b / bins, upper: (b + 1) / bins, count: c, meanPredicted, observed });
  }
  return { bins: out, expectedCalibrationError: predicted.length > 0 ? ece : 0 };
}

export interface ScoredClassification {
  classes: ModelClassLabel[];
  /** Actual class index per row. */
  actual: Int32Array;
  /** Predicted class index per row (the model's `label` output). */
  predicted: Int32Array;
  /** Row-major [rows × classes]. */
  probabilities: Float32Array | Float64Array;
}

export interface ClassificationDetail {
  metrics: ClassificationMetrics;
  /** ROC curve per class (binary: the positive class only), for the card. */
  rocCurves: { label: ModelClassLabel; points: { fpr: number; tpr: number }[] }[];
}

export function classificationMetrics(s: ScoredClassification): ClassificationDetail {
  const k = s.classes.length;
  const n = s.actual.length;
  const task = k === 2 ? 'binary' : 'multiclass';
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const a = s.actual[i] as number;
    const p = s.predicted[i] as number;
    const row = confusion[a] as number[];
    row[p] = (row[p] as number) + 1;
    if (a === p) correct++;
    const pa = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, s.probabilities[i * k + a] as number));
    logLoss -= Math.log(pa);
  }
  const column = (c: number): Float64Array => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = s.probabilities[i * k + c] as number;
    return out;
  };
  const isClass = (c: number): boolean[] => Array.from(s.actual, (a) => a === c);
  const perClass: ClassMetrics[] = s.classes.map((label, c) => {
    const tp = (confusion[c] as number[])[c] as number;
    const support = (confusion[c] as number[]).reduce((x, y) => x + y, 0);
    const predictedC = confusion.reduce((x, row) => x + (row[c] as number), 0);
    const fp = predictedC - tp;
    const fn = support - tp;
    // binary: the AUC of class 0 is that of class 1 mirrored; computed anyway, it is cheap and exact
    return {
      label,
      support,
      precision: predictedC > 0 ? tp / predictedC : 0,
      recall: support > 0 ? tp / support : 0,
      f1: 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0,
      rocAuc: rocAuc(column(c), isClass(c)),
    };
  });
  let auc: number | null;
  const rocCurves: ClassificationDetail['rocCurves'] = [];
  let calibration;
  if (task === 'binary') {
    auc = perClass[1]?.rocAuc ?? null;
    const p1 = column(1);
    const y1 = isClass(1);
    rocCurves.push({ label: s.classes[1] as ModelClassLabel, points: rocCurve(p1, y1) });
    calibration = { kind: 'positive_class' as const, ...calibrationBins(p1, y1) };
  } else {
    const defined = perClass.map((c) => c.rocAuc).filter((x): x is number => x !== null);
    auc = defined.length > 0 ? defined.reduce((x, y) => x + y, 0) / defined.length : null;
    s.classes.forEach((label, c) => rocCurves.push({ label, points: rocCurve(column(c), isClass(c)) }));
    const confidence = new Float64Array(n);
    const right = new Array<boolean>(n);
    for (let i = 0; i < n; i++) {
      confidence[i] = s.probabilities[i * k + (s.predicted[i] as number)] as number;
      right[i] = s.predicted[i] === s.actual[i];
    }
    calibration = { kind: 'top_class' as const, ...calibrationBins(confidence, right) };
  }
  return {
    metrics: {
      task,
      rows: n,
      accuracy: n > 0 ? correct / n : 0,
      rocAuc: auc,
      logLoss: n > 0 ? logLoss / n : 0,
      macroF1: perClass.reduce((x, c) => x + c.f1, 0) / k,
      perClass,
      confusion,
      calibration,
    },
    rocCurves,
  };
}

export function regressionMetrics(actual: ArrayLike<number>, predicted: ArrayLike<number>): RegressionMetrics {
  const n = actual.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i] as number;
  mean = n > 0 ? mean / n : 0;
  let ssRes = 0;
  let ssTot = 0;
  let abs = 0;
  for (let i = 0; i < n; i++) {
    const e = (actual[i] as number) - (predicted[i] as number);
    ssRes += e * e;
    abs += Math.abs(e);
    const d = (actual[i] as number) - mean;
    ssTot += d * d;
  }
  return {
    task: 'regression',
    rows: n,
    rmse: n > 0 ? Math.sqrt(ssRes / n) : 0,
    mae: n > 0 ? abs / n : 0,
    r2: ssTot > 0 ? 1 - ssRes / ssTot : null,
  };
}

/** Nearest-rank percentile (q in (0, 1]) of a sample: the smallest value with at least q of the sample at or below it. */
export function percentile(sample: readonly number[], q: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}
