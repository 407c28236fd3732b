/** Small seeded datasets for the training and ONNX export tests: numeric and categorical features, every task. */
import { Xoshiro128, type DatasetSpec, type TabularData, type TaskKind } from '../../activities/train';

export const MIXED_FEATURES: DatasetSpec['features'] = [
  { name: 'age', kind: 'numeric' },
  { name: 'color', kind: 'categorical' },
  { name: 'income', kind: 'numeric' },
  { name: 'size', kind: 'categorical' },
  { name: 'score', kind: 'numeric' },
];

const COLORS = ['red', 'green', 'blue'];
const SIZES = ['S', 'M', 'L', 'XL'];

/**
 * `rows` rows with three numeric features on different scales (float32-representable, so the
 * float32 ONNX input holds exactly what training saw) and two categorical ones (about 3% missing).
 * The label depends on both kinds, non-linearly for the classification tasks.
 */
export function mixedDataset(rows: number, task: TaskKind, seed = 7): { data: TabularData; spec: DatasetSpec } {
  const rng = new Xoshiro128(seed);
  const age = new Float32Array(rows);
  const income = new Float32Array(rows);
  const score = new Float32Array(rows);
  const color: (string | null)[] = [];
  const size: (string | null)[] = [];
  const label: (number | string)[] = [];
  for (let i = 0; i < rows; i++) {
    age[i] = 20 + 50 * rng.nextFloat();
    income[i] = 30_000 + 20_000 * rng.nextNormal();
    score[i] = rng.nextNormal();
    const c = rng.nextInt(COLORS.length);
    const s = rng.nextInt(SIZES.length);
    color.push(rng.nextFloat() < 0.03 ? null : (COLORS[c] as string));
    size.push(rng.nextFloat() < 0.03 ? null : (SIZES[s] as string));
    const zAge = ((age[i] as number) - 45) / 15;
    const zIncome = ((income[i] as number) - 30_000) / 20_000;
    const z =
      1.5 * zAge -
      zIncome +
      (c === 0 ? 1 : c === 1 ? -1 : 0) +
      0.5 * s -
      0.75 +
      (score[i] as number) * (score[i] as number) -
      1 +
      0.3 * rng.nextNormal();
    if (task === 'regression') label.push(z);
    else if (task === 'binary') label.push(z > 0 ? 'yes' : 'no');
    else label.push(z < -0.7 ? 0 : z < 0.7 ? 1 : 2);
  }
  return {
    data: { rowCount: rows, columns: { age, color, income, size, score, label } },
    spec: { features: MIXED_FEATURES, label: 'label', task },
  };
}

/** Rows [from, to) of `data`. */
export function sliceRows(data: TabularData, from: number, to: number): TabularData {
  return { rowCount: to - from, columns: Object.fromEntries(Object.entries(data.columns).map(([k, v]) => [k, v.slice(from, to)])) };
}

/** Bit patterns of every parameter of a model, for "bit-identical" checks. */
export function parameterBits(layers: { weights: Float64Array; bias: Float64Array }[]): string {
  return layers
    .map(
      (l) =>
        Buffer.from(l.weights.buffer, l.weights.byteOffset, l.weights.byteLength).toString('hex') +
        '|' +
        Buffer.from(l.bias.buffer, l.bias.byteOffset, l.bias.byteLength).toString('hex'),
    )
    .join('/');
}
