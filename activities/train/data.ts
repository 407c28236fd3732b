/**
 * What training receives from the dataset layer: columns by name and a spec saying which columns
 * are features (numeric or categorical), which is the label, and the task.
 */
import { TrainingDataError } from './errors';
import type { Xoshiro128 } from './random';

export type FeatureKind = 'numeric' | 'categorical';
export interface FeatureSpec {
  name: string;
  kind: FeatureKind;
}
export type TaskKind = 'binary' | 'multiclass' | 'regression';
export interface DatasetSpec {
  features: FeatureSpec[];
  label: string;
  task: TaskKind;
}

/** One column's values; `null` is a missing value. Categorical values are strings (numbers are read as their decimal text). */
export type ColumnValues = Float64Array | Float32Array | Int32Array | readonly (number | null)[] | readonly (string | number | null)[];

export interface TabularData {
  rowCount: number;
  columns: Readonly<Record<string, ColumnValues>>;
}

/** A class label as it appears in the data; class indices follow the sorted order of these. */
export type ClassLabel = string | number;

export function columnOf(data: TabularData, name: string): ColumnValues {
  const col = data.columns[name];
  if (col === undefined) {
    throw new TrainingDataError(
      'UNKNOWN_COLUMN',
      `column "${name}" is not in the dataset (it has: ${Object.keys(data.columns).join(', ') || 'no columns'})`,
      name,
    );
  }
  if (col.length !== data.rowCount) {
    throw new TrainingDataError(
      'COLUMN_LENGTH',
      `column "${name}" has ${col.length} values but the dataset has ${data.rowCount} rows`,
      name,
    );
  }
  return col;
}

/** Numbers sort numerically, strings by UTF-16 code units, numbers before strings: the same order on every machine and locale. */
function compareLabels(a: ClassLabel, b: ClassLabel): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface EncodedLabels {
  /** Class index per row (classification) or the target value (regression). */
  values: Float64Array;
  /** Sorted distinct labels (classification only). */
  classes?: ClassLabel[];
}

/**
 * Reads the label column. Classes come from all rows (a label vocabulary leaks nothing about
 * feature scales), sorted, so class indices do not depend on row order.
 */
export function encodeLabels(data: TabularData, spec: DatasetSpec): EncodedLabels {
  const col = columnOf(data, spec.label);
  const n = data.rowCount;
  const values = new Float64Array(n);
  if (spec.task === 'regression') {
    for (let i = 0; i < n; i++) {
      const v = col[i];
      if (v === null || v === undefined)
        throw new TrainingDataError('MISSING_LABEL', `label "${spec.label}" is missing in row ${i}`, spec.label, i);
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new TrainingDataError(
          'MISSING_LABEL',
          `label "${spec.label}" must be a finite number for regression; row ${i} has ${String(v)}`,
          spec.label,
          i,
        );
      }
      values[i] = v;
    }
    return { values };
  }
  const seen = new Map<ClassLabel, number>();
  for (let i = 0; i < n; i++) {
    const v = col[i];
    if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) {
      throw new TrainingDataError('MISSING_LABEL', `label "${spec.label}" is missing or not a number in row ${i}`, spec.label, i);
    }
    if (!seen.has(v)) seen.set(v, 0);
  }
  const classes = [...seen.keys()].sort(compareLabels);
  if (classes.length < 2) {
    throw new TrainingDataError(
      'SINGLE_CLASS',
      `label "${spec.label}" has a single class (${String(classes[0])}); a classifier needs at least two`,
      spec.label,
    );
  }
  if (spec.task === 'binary' && classes.length > 2) {
    throw new TrainingDataError(
      'TOO_MANY_CLASSES',
      `label "${spec.label}" has ${classes.length} classes; task "binary" needs exactly two (use "multiclass")`,
      spec.label,
    );
  }
  classes.forEach((c, k) => seen.set(c, k));
  for (let i = 0; i < n; i++) values[i] = seen.get(col[i] as ClassLabel) as number;
  return { values, classes };
}

export interface Split {
  train: Uint32Array;
  validation: Uint32Array;
}

/**
 * A seeded shuffle of the rows, the first `round(n × validationFraction)` of it held out. Row
 * indices inside each part are sorted back into dataset order, so that sums over a split run in
 * one fixed order.
 */
export function splitRows(rowCount: number, validationFraction: number, rng: Xoshiro128): Split {
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new TrainingDataError('INVALID_PARAMETER', `validationFraction must be in [0, 1), got ${validationFraction}`);
  }
  if (rowCount === 0) throw new TrainingDataError('EMPTY_SPLIT', 'the dataset has no rows to train on');
  const order = new Uint32Array(rowCount);
  for (let i = 0; i < rowCount; i++) order[i] = i;
  if (validationFraction === 0) return { train: order, validation: new Uint32Array(0) };
  rng.shuffle(order);
  const nVal = Math.round(rowCount * validationFraction);
  if (nVal < 1 || rowCount - nVal < 2) {
    throw new TrainingDataError(
      'TOO_FEW_ROWS',
      `${rowCount} rows are too few for a validation split of ${validationFraction}: it needs at least one validation row and two training rows`,
    );
  }
  const validation = order.slice(0, nVal).sort();
  const train = order.slice(nVal).sort();
  return { train, validation };
}
