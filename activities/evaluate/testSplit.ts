/**
 * The test rows of an Arrow IPC file, as the inputs of a model exported by activities/onnx: the
 * numeric features as one float32 row-major matrix in the model's order, one string column per
 * categorical feature ('' = missing, as the graph expects), and the labels. Only rows whose split
 * column holds a test value are read; a problem is reported in the user's terms (column, row).
 */
import { tableFromIPC, type Table } from 'apache-arrow';
import { ErrorCodes } from '../../api/errors';
import type { ModelClassLabel, ModelTask } from '../../api/models';
import { SluiceError } from '../failures';

export const DEFAULT_SPLIT_COLUMN = '__split';
export const DEFAULT_TEST_VALUES: (string | number)[] = ['test', 2];

export interface ModelInputs {
  numericFeatures: string[];
  categoricalFeatures: string[];
}

export interface TestRows {
  rows: number;
  /** Row-major [rows × numeric features]. */
  numeric: Float32Array;
  categorical: Map<string, string[]>;
  /** Classification: class index per row; regression: undefined. */
  classIndex?: Int32Array;
  /** Regression: label per row. */
  value?: Float64Array;
  /** Rows of the file (all splits), for the card. */
  fileRows: number;
}

const invalid = (message: string): SluiceError => new SluiceError(ErrorCodes.InvalidInput, message);

/** A cell as JS: bigint → number (Int64 labels and split markers), everything else as Arrow gives it. */
function cell(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

export function readTable(bytes: Uint8Array, describe: string): Table {
  try {
    return tableFromIPC(bytes);
  } catch (err) {
    throw invalid(`${describe} is not an Arrow IPC file: ${(err as Error).message}`);
  }
}

export function readTestRows(
  table: Table,
  options: {
    describe: string;
    inputs: ModelInputs;
    splitColumn: string;
    testValues: (string | number)[];
    labelColumn: string;
    task: ModelTask;
    classes?: ModelClassLabel[];
  },
): TestRows {
  const { describe, inputs } = options;
  const columnNames = table.schema.fields.map((f) => f.name);
  const column = (name: string, role: string) => {
    const v = table.getChild(name);
    if (!v) throw invalid(`${describe} has no ${role} column "${name}" (it has: ${columnNames.join(', ')})`);
    return v;
  };
  const split = column(options.splitColumn, 'split');
  const wanted = new Set(options.testValues.map(String));
  const rowsOf: number[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const v = cell(split.get(i));
    if (v !== null && v !== undefined && wanted.has(String(v))) rowsOf.push(i);
  }
  const n = rowsOf.length;
  if (n === 0) {
    throw invalid(
      `${describe} has no test rows: no value of column "${options.splitColumn}" is one of ${JSON.stringify(options.testValues)} in its ${table.numRows} rows`,
    );
  }

  const d = inputs.numericFeatures.length;
  const numeric = new Float32Array(n * d);
  inputs.numericFeatures.forEach((name, j) => {
    const v = column(name, 'feature');
    rowsOf.forEach((row, r) => {
      const x = cell(v.get(row));
      // sluice does not impute (activities/train/preprocessing.ts): a missing value is the data's problem, said as such
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw invalid(
          `numeric feature "${name}" is ${x === null || x === undefined ? 'missing' : JSON.stringify(x)} in row ${row} of ${describe}; the model needs a finite number`,
        );
      }
      numeric[r * d + j] = x;
    });
  });
  const categorical = new Map<string, string[]>();
  for (const name of inputs.categoricalFeatures) {
    const v = column(name, 'feature');
    categorical.set(
      name,
      rowsOf.map((row) => {
        const x = cell(v.get(row));
        return x === null || x === undefined ? '' : String(x);
      }),
    );
  }

  const label = column(options.labelColumn, 'label');
  if (options.task === 'regression') {
    const value = new Float64Array(n);
    rowsOf.forEach((row, r) => {
      const y = cell(label.get(row));
      if (typeof y !== 'number' || !Number.isFinite(y))
        throw invalid(
          `label "${options.labelColumn}" is ${JSON.stringify(y ?? null)} in row ${row} of ${describe}; a regression label must be a finite number`,
        );
      value[r] = y;
    });
    return { rows: n, numeric, categorical, value, fileRows: table.numRows };
  }
  const classes = options.classes ?? [];
  const indexOf = new Map(classes.map((c, k) => [String(c), k]));
  const classIndex = new Int32Array(n);
  rowsOf.forEach((row, r) => {
    const y = cell(label.get(row));
    const k = y === null || y === undefined ? undefined : indexOf.get(String(y));
    if (k === undefined) {
      throw invalid(
        `label "${options.labelColumn}" is ${JSON.stringify(y ?? null)} in row ${row} of ${describe}, which is not one of the model's classes ${JSON.stringify(classes)}`,
      );
    }
    classIndex[r] = k;
  });
  return { rows: n, numeric, categorical, classIndex, fileRows: table.numRows };
}
