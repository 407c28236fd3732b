/**
 * Feature preprocessing, fitted on the training split only and recorded in the model, so that the
 * exported ONNX graph replays it on raw values:
 *  - numeric features are standardised, (x − mean) / std, with the population std (as
 *    scikit-learn's StandardScaler). Missing or non-finite values are refused: there is no silent
 *    imputation. A column with one value on every training row is refused too (std 0 would divide
 *    by zero, and a constant carries no signal).
 *  - categorical features are one-hot encoded over the training split's vocabulary (sorted by UTF-16
 *    code units); a category not in it, or a missing value, encodes as all zeros. The empty string
 *    counts as missing, because ONNX string tensors have no null: scorers feed '' for one.
 * The model's input columns are the numeric features in spec order, then one block per
 * categorical feature in spec order.
 */
import { columnOf, type ColumnValues, type DatasetSpec, type TabularData } from './data';
import { TrainingDataError } from './errors';

export interface NumericScaling {
  name: string;
  mean: number;
  std: number;
}
export interface CategoricalEncoding {
  name: string;
  vocabulary: string[];
}
export interface Preprocessing {
  numeric: NumericScaling[];
  categorical: CategoricalEncoding[];
  /** Columns of the encoded matrix: numeric count + the sum of the vocabulary sizes. */
  width: number;
}

function numericValue(col: ColumnValues, row: number, name: string): number {
  const v = col[row];
  if (v === null || v === undefined)
    throw new TrainingDataError(
      'MISSING_VALUE',
      `numeric feature "${name}" is missing in row ${row}; sluice does not impute: fill or drop it upstream`,
      name,
      row,
    );
  if (typeof v !== 'number')
    throw new TrainingDataError(
      'NON_FINITE_FEATURE',
      `numeric feature "${name}" has a non-number (${JSON.stringify(v)}) in row ${row}`,
      name,
      row,
    );
  if (!Number.isFinite(v))
    throw new TrainingDataError(
      'NON_FINITE_FEATURE',
      `numeric feature "${name}" is ${v} in row ${row}; features must be finite numbers`,
      name,
      row,
    );
  return v;
}

function isTypedColumn(col: ColumnValues): col is Float64Array | Float32Array | Int32Array {
  return ArrayBuffer.isView(col); // realm-independent, unlike instanceof
}

function categoryOf(v: string | number | null | undefined): string | null {
  if (v === null || v === undefined || v === '') return null;
  return typeof v === 'string' ? v : String(v);
}

/** Fits the scalers and vocabularies on `rows` (the training split). */
export function fitPreprocessing(data: TabularData, spec: DatasetSpec, rows: Uint32Array): Preprocessing {
  if (spec.features.length === 0) throw new TrainingDataError('NO_FEATURES', 'the dataset spec names no feature columns');
  if (rows.length === 0) throw new TrainingDataError('EMPTY_SPLIT', 'the training split has no rows');
  const names = new Set<string>();
  for (const f of spec.features) {
    if (names.has(f.name)) throw new TrainingDataError('INVALID_PARAMETER', `feature "${f.name}" is listed twice in the spec`, f.name);
    if (f.name === spec.label)
      throw new TrainingDataError('INVALID_PARAMETER', `column "${f.name}" is both a feature and the label`, f.name);
    names.add(f.name);
  }
  const numeric: NumericScaling[] = [];
  const categorical: CategoricalEncoding[] = [];
  const n = rows.length;
  for (const f of spec.features) {
    const col = columnOf(data, f.name);
    if (f.kind === 'numeric') {
      const typed = isTypedColumn(col);
      if (!typed) {
        let nulls = 0;
        for (let i = 0; i < n; i++) if (col[rows[i] as number] === null) nulls++;
        if (nulls === n)
          throw new TrainingDataError('MISSING_VALUE', `numeric feature "${f.name}" is missing in every training row`, f.name);
      }
      const first = numericValue(col, rows[0] as number, f.name);
      let sum = 0;
      let constant = true;
      if (typed) {
        // a typed column holds numbers only: the one check left is finiteness, done after the sum (a NaN or ±Infinity makes it non-finite)
        for (let i = 0; i < n; i++) {
          const v = col[rows[i] as number] as number;
          if (v !== first) constant = false;
          sum += v;
        }
        if (!Number.isFinite(sum)) for (let i = 0; i < n; i++) numericValue(col, rows[i] as number, f.name);
      } else {
        for (let i = 0; i < n; i++) {
          const v = numericValue(col, rows[i] as number, f.name);
          if (v !== first) constant = false;
          sum += v;
        }
      }
      if (constant) {
        throw new TrainingDataError(
          'CONSTANT_FEATURE',
          `numeric feature "${f.name}" has the same value (${first}) in every training row; drop it from the spec`,
          f.name,
        );
      }
      const mean = sum / n;
      let ss = 0;
      for (let i = 0; i < n; i++) {
        const d = (col[rows[i] as number] as number) - mean;
        ss += d * d;
      }
      numeric.push({ name: f.name, mean, std: Math.sqrt(ss / n) });
    } else {
      const seen = new Set<string>();
      let nulls = 0;
      for (let i = 0; i < n; i++) {
        const c = categoryOf(col[rows[i] as number]);
        if (c === null) nulls++;
        else seen.add(c);
      }
      if (seen.size === 0)
        throw new TrainingDataError('MISSING_VALUE', `categorical feature "${f.name}" is missing in every training row`, f.name);
      if (seen.size === 1 && nulls === 0) {
        throw new TrainingDataError(
          'CONSTANT_FEATURE',
          `categorical feature "${f.name}" has one category ("${[...seen][0]}") in every training row; drop it from the spec`,
          f.name,
        );
      }
      categorical.push({ name: f.name, vocabulary: [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) });
    }
  }
  const width = numeric.length + categorical.reduce((s, c) => s + c.vocabulary.length, 0);
  return { numeric, categorical, width };
}

/** Encodes `rows` (all rows when omitted) as a row-major float64 matrix [rows × width]. */
export function applyPreprocessing(prep: Preprocessing, data: TabularData, rows?: Uint32Array): Float64Array {
  const n = rows ? rows.length : data.rowCount;
  const w = prep.width;
  const out = new Float64Array(n * w);
  // row by row, so that the writes into the row-major matrix are sequential
  const numericCols = prep.numeric.map((s) => columnOf(data, s.name));
  const means = prep.numeric.map((s) => s.mean);
  const stds = prep.numeric.map((s) => s.std);
  const dn = numericCols.length;
  const allTyped = numericCols.every(isTypedColumn);
  for (let i = 0; i < n; i++) {
    const row = rows ? (rows[i] as number) : i;
    const o = i * w;
    for (let j = 0; j < dn; j++) {
      const col = numericCols[j] as ColumnValues;
      const v = allTyped ? (col[row] as number) : numericValue(col, row, (prep.numeric[j] as NumericScaling).name);
      if (!Number.isFinite(v)) numericValue(col, row, (prep.numeric[j] as NumericScaling).name); // throws the error naming the row
      out[o + j] = (v - (means[j] as number)) / (stds[j] as number);
    }
  }
  let offset = prep.numeric.length;
  for (const c of prep.categorical) {
    const col = columnOf(data, c.name);
    const index = new Map(c.vocabulary.map((v, k) => [v, k]));
    for (let i = 0; i < n; i++) {
      const cat = categoryOf(col[rows ? (rows[i] as number) : i]);
      const k = cat === null ? undefined : index.get(cat);
      if (k !== undefined) out[i * w + offset + k] = 1;
    }
    offset += c.vocabulary.length;
  }
  return out;
}
