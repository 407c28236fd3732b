/**
 * A snapshot (Arrow IPC in the artifact store) as training data: the spec's columns as typed
 * arrays or strings, and the snapshot's own split (a column naming each row's part), so that
 * training validates on the rows the dataset says and the test rows never reach the trainer.
 */
import { DataType, Precision, tableFromIPC, type Table, type Vector } from 'apache-arrow';
import type { ColumnValues, DatasetSpec, TabularData } from './data';
import { TrainingDataError } from './errors';

export interface SplitColumn {
  /** Column naming each row's part (default `__split`). */
  name: string;
  /** Its values for the training, validation and test rows (default 0, 1, 2: the snapshot's Int8 `__split`). */
  train: string | number;
  validation: string | number;
  test: string | number;
}

export const DEFAULT_SPLIT_COLUMN: SplitColumn = { name: '__split', train: 0, validation: 1, test: 2 };

export interface TrainingRows {
  data: TabularData;
  split: { train: Uint32Array; validation: Uint32Array };
  testRows: number;
}

/**
 * A float or (at most 32-bit) integer column without nulls, copied from its buffers: the numbers
 * `vector.get(i)` gives, without a lookup per row (which costs about a second per 300k × 20 values,
 * paid again by every retry of a training). Undefined for any other column.
 */
function plainNumbers(vector: Vector): Float64Array | undefined {
  const type: DataType = vector.type;
  const plain = (DataType.isFloat(type) && type.precision !== Precision.HALF) || (DataType.isInt(type) && type.bitWidth <= 32);
  if (!plain || vector.nullCount > 0) return undefined;
  const out = new Float64Array(vector.length);
  let at = 0;
  for (const chunk of vector.data) {
    // A fixed-width chunk's values start at its first row (slices cut the buffer); set() converts each number exactly.
    out.set((chunk.values as Float64Array | Float32Array | Int32Array).subarray(0, chunk.length), at);
    at += chunk.length;
  }
  return out;
}

function numericColumn(table: Table, name: string): Float64Array {
  const vector = table.getChild(name);
  if (!vector)
    throw new TrainingDataError(
      'UNKNOWN_COLUMN',
      `column "${name}" is not in the dataset (it has: ${table.schema.fields.map((f) => f.name).join(', ')})`,
      name,
    );
  const plain = plainNumbers(vector);
  if (plain) return plain;
  const out = new Float64Array(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const v: unknown = vector.get(i);
    // A missing value stays NaN here and is refused by the trainer with the row it is in.
    out[i] = v === null || v === undefined ? Number.NaN : typeof v === 'bigint' ? Number(v) : Number(v);
  }
  return out;
}

function textColumn(table: Table, name: string): (string | null)[] {
  const vector = table.getChild(name);
  if (!vector)
    throw new TrainingDataError(
      'UNKNOWN_COLUMN',
      `column "${name}" is not in the dataset (it has: ${table.schema.fields.map((f) => f.name).join(', ')})`,
      name,
    );
  const out: (string | null)[] = new Array<string | null>(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const v: unknown = vector.get(i);
    out[i] = v === null || v === undefined ? null : String(v);
  }
  return out;
}

/** Reads the spec's columns of an Arrow IPC snapshot and its split; test rows are left out. */
export function trainingRowsFromArrow(bytes: Uint8Array, spec: DatasetSpec, splitColumn: SplitColumn = DEFAULT_SPLIT_COLUMN): TrainingRows {
  const table = tableFromIPC(bytes);
  const parts = table.getChild(splitColumn.name);
  if (!parts) throw new TrainingDataError('UNKNOWN_COLUMN', `the dataset has no split column "${splitColumn.name}"`, splitColumn.name);
  const keep: number[] = [];
  const isValidation: boolean[] = [];
  let testRows = 0;
  const plainParts = plainNumbers(parts);
  for (let i = 0; i < table.numRows; i++) {
    const raw: unknown = plainParts ? plainParts[i] : parts.get(i);
    const part = typeof raw === 'bigint' ? Number(raw) : raw;
    if (part === splitColumn.train || part === splitColumn.validation) {
      keep.push(i);
      isValidation.push(part === splitColumn.validation);
    } else if (part === splitColumn.test) testRows++;
    else
      throw new TrainingDataError(
        'INVALID_PARAMETER',
        `row ${i} has split ${JSON.stringify(part)}, not one of the split column's values`,
        splitColumn.name,
        i,
      );
  }
  const pick = <T extends ColumnValues>(all: T): T => {
    if (!(all instanceof Float64Array)) return keep.map((i) => (all as readonly unknown[])[i]) as unknown as T;
    const out = new Float64Array(keep.length);
    for (let j = 0; j < keep.length; j++) out[j] = all[keep[j] as number] as number;
    return out as T;
  };
  const columns: Record<string, ColumnValues> = {};
  for (const f of spec.features) columns[f.name] = pick(f.kind === 'numeric' ? numericColumn(table, f.name) : textColumn(table, f.name));
  columns[spec.label] = pick(spec.task === 'regression' ? numericColumn(table, spec.label) : labelColumn(table, spec.label));
  const train: number[] = [];
  const validation: number[] = [];
  isValidation.forEach((v, j) => (v ? validation : train).push(j));
  return {
    data: { rowCount: keep.length, columns },
    split: { train: Uint32Array.from(train), validation: Uint32Array.from(validation) },
    testRows,
  };
}

/** Class labels keep their type: numbers stay numbers (their order is numeric), text stays text. */
function labelColumn(table: Table, name: string): (string | number | null)[] {
  const vector = table.getChild(name);
  if (!vector) throw new TrainingDataError('MISSING_LABEL', `label column "${name}" is not in the dataset`, name);
  const plain = plainNumbers(vector);
  if (plain) return Array.from(plain);
  const out: (string | number | null)[] = new Array<string | number | null>(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const v: unknown = vector.get(i);
    out[i] =
      v === null || v === undefined
        ? null
        : typeof v === 'bigint'
          ? Number(v)
          : typeof v === 'number' || typeof v === 'string'
            ? v
            : String(v);
  }
  return out;
}
