// A snapshot's columns as training data: the copy from Arrow buffers (float and small-integer
// columns without nulls) gives exactly the numbers Arrow's own per-row `get` gives, for every column
// type, over several record batches.
import {
  makeData,
  RecordBatch,
  Schema,
  Field,
  Float32,
  Float64,
  Int8,
  Int32,
  Int64,
  Uint32,
  Table,
  tableToIPC,
  vectorFromArray,
  Struct,
} from 'apache-arrow';
import { DEFAULT_SPLIT_COLUMN, trainingRowsFromArrow } from '../../activities/train/arrowData';

function batch(offset: number, rows: number): Record<string, unknown[]> {
  const idx = Array.from({ length: rows }, (_, i) => offset + i);
  return {
    __split: idx.map((i) => i % 3),
    f64: idx.map((i) => i * 0.1 - 7.25),
    f32: idx.map((i) => Math.fround(i / 3)),
    i8: idx.map((i) => (i % 200) - 100),
    u32: idx.map((i) => 4_000_000_000 + i),
    i64: idx.map((i) => BigInt(i) * 1_000_000n),
    nullable: idx.map((i) => (i % 7 === 0 ? null : i + 0.5)),
    label: idx.map((i) => (i * 7) % 4),
  };
}

const TYPES = {
  __split: new Int8(),
  f64: new Float64(),
  f32: new Float32(),
  i8: new Int8(),
  u32: new Uint32(),
  i64: new Int64(),
  nullable: new Float64(),
  label: new Int32(),
};

function tableOf(batches: Record<string, unknown[]>[]): Table {
  const schema = new Schema(Object.entries(TYPES).map(([name, type]) => new Field(name, type, name === 'nullable')));
  const records = batches.map((b) => {
    const children = Object.entries(TYPES).map(([name, type]) => vectorFromArray(b[name] as never[], type).data[0]!);
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: b.__split!.length, children }));
  });
  return new Table(schema, records);
}

describe('trainingRowsFromArrow', () => {
  it('reads every numeric column type, nulls and several record batches as Arrow gives them row by row', () => {
    const table = tableOf([batch(0, 50), batch(50, 37), batch(87, 64)]);
    expect(table.batches.length).toBe(3);
    const features = ['f64', 'f32', 'i8', 'u32', 'i64', 'nullable'];
    const r = trainingRowsFromArrow(
      tableToIPC(table, 'file'),
      { features: features.map((name) => ({ name, kind: 'numeric' as const })), label: 'label', task: 'multiclass' },
      DEFAULT_SPLIT_COLUMN,
    );
    const kept = Array.from({ length: table.numRows }, (_, i) => i).filter((i) => i % 3 !== 2);
    expect(r.data.rowCount).toBe(kept.length);
    expect(r.testRows).toBe(table.numRows - kept.length);
    for (const name of features) {
      const v = table.getChild(name)!;
      const expected = kept.map((i) => {
        const x: unknown = v.get(i);
        return x === null ? Number.NaN : Number(x);
      });
      expect(Array.from(r.data.columns[name] as Float64Array)).toEqual(expected);
    }
    expect(r.data.columns.label).toEqual(kept.map((i) => (i * 7) % 4));
    expect(Array.from(r.split.validation).every((j) => (kept[j] as number) % 3 === 1)).toBe(true);
  });
});
