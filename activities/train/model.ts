/** A trained model as data: everything prediction and the ONNX export need. */
import type { ClassLabel, FeatureSpec, TabularData, TaskKind } from './data';
import { networkOutputs, sigmoid, softmaxRowsInPlace, type DenseLayer } from './network';
import { applyPreprocessing, type Preprocessing } from './preprocessing';

export type TrainerKind = 'logistic_regression' | 'ridge' | 'mlp';

export interface TrainedModel {
  trainer: TrainerKind;
  task: TaskKind;
  features: FeatureSpec[];
  label: string;
  /** Sorted class labels; class index k is classes[k]. Absent for regression. */
  classes?: ClassLabel[];
  preprocessing: Preprocessing;
  /** Dense layers, ReLU between them; the output activation follows the task. */
  layers: DenseLayer[];
}

export type Prediction =
  | { task: 'binary' | 'multiclass'; classIndex: Int32Array; probabilities: Float64Array; classCount: number }
  | { task: 'regression'; value: Float64Array };

/**
 * Predicts every row of `data` (raw feature values; the label column is not read). Binary
 * probabilities are [1 − p, p] and the class is the larger one (class 0 on a tie), as the ONNX
 * graph's ArgMax does.
 */
export function predict(model: TrainedModel, data: TabularData): Prediction {
  const n = data.rowCount;
  const x = applyPreprocessing(model.preprocessing, data);
  const out = networkOutputs(model.layers, x, n);
  if (model.task === 'regression') return { task: 'regression', value: out };
  const k = model.classes?.length ?? 2;
  let probabilities: Float64Array;
  if (model.task === 'binary') {
    probabilities = new Float64Array(n * 2);
    for (let r = 0; r < n; r++) {
      const p = sigmoid(out[r] as number);
      probabilities[2 * r] = 1 - p;
      probabilities[2 * r + 1] = p;
    }
  } else {
    softmaxRowsInPlace(out, n, k);
    probabilities = out;
  }
  const classIndex = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probabilities[r * k + c] as number) > (probabilities[r * k + best] as number)) best = c;
    classIndex[r] = best;
  }
  return { task: model.task, classIndex, probabilities, classCount: k };
}
