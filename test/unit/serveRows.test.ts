import { Float32, Float64, Int32, Table, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { arrowColumns, DigestWorker, objectRows, OFF_THREAD_MIN_ROWS, RowChecker, type ArrowColumns } from '../../activities/serve';
import type { ModelSignature } from '../../activities/onnx/signature';
import { canonicalJson, sha256Hex } from '../../contracts/canonical';

const signature: ModelSignature = {
  task: 'binary',
  label: 'label',
  numericFeatures: ['income', 'age'],
  categoricalFeatures: ['color'],
  classes: ['no', 'yes'],
};
const checker = new RowChecker(signature);

function columns(cols: Record<string, Vector>): ArrowColumns {
  const parsed = arrowColumns(Buffer.from(tableToIPC(new Table(cols), 'stream')));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.columns;
}

describe('serve rows: the Arrow columnar path', () => {
  const good = {
    income: vectorFromArray([1.5, -2, 3.25], new Float64()),
    age: vectorFromArray([30, 41, 52], new Float32()),
    color: vectorFromArray(['red', null, 'blue'], new Utf8()),
  };

  it('fills the tensor from the columns as the row path fills it from row objects, and digests the same text', () => {
    const { issues, rows } = checker.checkColumns(columns(good));
    expect(issues).toEqual([]);
    const objects = [
      { income: 1.5, age: 30, color: 'red' },
      { income: -2, age: 41, color: null },
      { income: 3.25, age: 52, color: 'blue' },
    ];
    expect(checker.check(objects)).toEqual([]);
    const fromColumns = checker.inputs(rows);
    const fromObjects = checker.inputs(objectRows(objects));
    expect(Array.from(fromColumns.numeric)).toEqual(Array.from(fromObjects.numeric));
    expect(Array.from(fromColumns.numeric)).toEqual([1.5, 30, -2, 41, 3.25, 52]);
    expect(fromColumns.categorical.get('color')).toEqual(['red', '', 'blue']);
    objects.forEach((o, r) => {
      expect(checker.digest(rows, r)).toBe(sha256Hex(canonicalJson(o)));
      expect(checker.digest(objectRows(objects), r)).toBe(sha256Hex(canonicalJson(o)));
    });
  });

  it('refuses NaN, Infinity, nulls, out-of-float32 values, a missing or extra column and a wrong type, naming the row and field', () => {
    const cases: [Record<string, Vector>, { row: number; field: string; message: RegExp }][] = [
      [
        { ...good, income: vectorFromArray([1, Number.NaN, 3], new Float64()) },
        { row: 1, field: 'income', message: /NaN is not a number/ },
      ],
      [
        { ...good, age: vectorFromArray([1, 2, Number.NEGATIVE_INFINITY], new Float32()) },
        { row: 2, field: 'age', message: /-Infinity is not a number/ },
      ],
      [
        { ...good, income: vectorFromArray([1, null, 3], new Float64()) },
        { row: 1, field: 'income', message: /^must be number$/ },
      ],
      [
        { ...good, income: vectorFromArray([1, 1e39, 3], new Float64()) },
        { row: 1, field: 'income', message: /32-bit float/ },
      ],
      [
        { income: good.income, color: good.color },
        { row: 0, field: 'age', message: /missing/ },
      ],
      [
        { ...good, plan: vectorFromArray([1, 2, 3], new Float32()) },
        { row: 0, field: 'plan', message: /no such feature/ },
      ],
      [
        { ...good, age: vectorFromArray(['1', '2', '3'], new Utf8()) },
        { row: 0, field: 'age', message: /^must be number$/ },
      ],
      [
        { ...good, color: vectorFromArray([1, 2, 3], new Int32()) },
        { row: 0, field: 'color', message: /^must be string,null$/ },
      ],
    ];
    for (const [cols, expected] of cases) {
      const { issues } = checker.checkColumns(columns(cols));
      expect(issues[0]).toEqual({ row: expected.row, field: expected.field, message: expect.stringMatching(expected.message) });
    }
    // integer columns are numbers
    expect(checker.checkColumns(columns({ ...good, age: vectorFromArray([1, 2, 3], new Int32()) })).issues).toEqual([]);
  });

  it('says when the body is not Arrow', () => {
    const parsed = arrowColumns(Buffer.from('not arrow'));
    expect(parsed.ok).toBe(false);
  });
});

describe('serve digests: large requests on a worker thread', () => {
  const n = OFF_THREAD_MIN_ROWS + 36;
  const objects = Array.from({ length: n }, (_, r) => ({
    income: r % 7 === 0 ? -0 : Math.fround(r * 1.37 - 40),
    age: r === 3 ? 1e-7 : r * 1e20,
    color: r % 3 === 0 ? null : `c${r}\u00e9"`,
  }));
  const expected = objects.map((o) => sha256Hex(canonicalJson(o)));

  it('computes the same digests as the row checker, off the main thread for a large request, in place for a small one', async () => {
    const worker = new DigestWorker();
    try {
      expect(await worker.digests(checker, objectRows(objects))).toEqual(expected);
      expect(worker.counts).toEqual({ offThread: 1, inPlace: 0 });
      expect(await worker.digests(checker, objectRows(objects.slice(0, 2)))).toEqual(expected.slice(0, 2));
      expect(worker.counts).toEqual({ offThread: 1, inPlace: 1 });
    } finally {
      await worker.close();
    }
  });

  it('digests in place when the worker thread dies, so that no event goes without its digest', async () => {
    const worker = new DigestWorker();
    try {
      const pending = worker.digests(checker, objectRows(objects));
      await worker.close(); // the worker is gone before it answers
      expect(await pending).toEqual(expected);
      expect(worker.counts.inPlace).toBe(1);
      // and the next large request starts a new worker
      expect(await worker.digests(checker, objectRows(objects))).toEqual(expected);
      expect(worker.counts.offThread).toBe(1);
    } finally {
      await worker.close();
    }
  });
});
