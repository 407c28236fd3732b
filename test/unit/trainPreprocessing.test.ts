import { ApplicationFailure } from '@temporalio/activity';
import { toFailure } from '../../activities/failures';
import {
  applyPreprocessing,
  CheckpointError,
  fitPreprocessing,
  ModelTraining,
  TrainingDataError,
  Xoshiro128,
  type DatasetSpec,
  type TabularData,
  type TrainerParams,
  type TrainingDataIssue,
} from '../../activities/train';
import { mixedDataset } from '../helpers/trainData';

const SPEC: DatasetSpec = {
  features: [
    { name: 'x', kind: 'numeric' },
    { name: 'c', kind: 'categorical' },
  ],
  label: 'y',
  task: 'binary',
};

describe('preprocessing', () => {
  it('standardises with the mean and population std of the training rows only', () => {
    const data: TabularData = {
      rowCount: 6,
      columns: { x: [1, 2, 3, 5, 1e6, -1e6], c: ['a', 'b', 'a', 'b', 'a', 'b'], y: [0, 1, 0, 1, 0, 1] },
    };
    const train = Uint32Array.of(0, 1, 2, 3);
    const prep = fitPreprocessing(data, SPEC, train);
    expect(prep.numeric).toEqual([{ name: 'x', mean: 2.75, std: Math.sqrt((1.75 ** 2 + 0.75 ** 2 + 0.25 ** 2 + 2.25 ** 2) / 4) }]);
    const x = applyPreprocessing(prep, data, Uint32Array.of(4));
    expect(x[0]).toBe((1e6 - 2.75) / (prep.numeric[0]?.std as number));
  });

  it('one-hot encodes over the training vocabulary, sorted; unknown, missing and empty categories are all zeros', () => {
    const data: TabularData = {
      rowCount: 7,
      columns: { x: [1, 2, 3, 4, 5, 6, 7], c: ['pear', 'apple', 'fig', 'apple', 'kiwi', null, ''], y: [0, 1, 0, 1, 0, 1, 0] },
    };
    const prep = fitPreprocessing(data, SPEC, Uint32Array.of(0, 1, 2, 3));
    expect(prep.categorical).toEqual([{ name: 'c', vocabulary: ['apple', 'fig', 'pear'] }]);
    expect(prep.width).toBe(4);
    const x = applyPreprocessing(prep, data);
    const oneHot = (row: number): number[] => Array.from(x.subarray(row * 4 + 1, row * 4 + 4));
    expect(oneHot(0)).toEqual([0, 0, 1]);
    expect(oneHot(1)).toEqual([1, 0, 0]);
    expect(oneHot(4)).toEqual([0, 0, 0]); // kiwi: not in the training rows
    expect(oneHot(5)).toEqual([0, 0, 0]);
    expect(oneHot(6)).toEqual([0, 0, 0]);
  });

  it('records numeric features first, then one block per categorical feature, each in spec order', () => {
    const { data, spec } = mixedDataset(200, 'binary');
    const run = ModelTraining.start({ data, spec, trainer: { trainer: 'logistic_regression' }, seed: 1 });
    const prep = run.model().preprocessing;
    expect(prep.numeric.map((s) => s.name)).toEqual(['age', 'income', 'score']);
    expect(prep.categorical.map((c) => [c.name, c.vocabulary])).toEqual([
      ['color', ['blue', 'green', 'red']],
      ['size', ['L', 'M', 'S', 'XL']],
    ]);
    expect(run.model().classes).toEqual(['no', 'yes']);
  });
});

describe('bad training input fails with a typed error in the user’s terms', () => {
  type Columns = { x: (number | string | null)[]; c: (number | string | null)[]; y: (number | string | null)[] };
  const base = (): Columns => ({
    x: [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5],
    c: ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'],
    y: [0, 1, 0, 1, 1, 0, 1, 0],
  });
  const lr: TrainerParams = { trainer: 'logistic_regression' };
  const CASES: {
    name: string;
    issue: TrainingDataIssue;
    message: RegExp;
    columns?: (c: ReturnType<typeof base>) => void;
    spec?: Partial<DatasetSpec>;
    trainer?: TrainerParams;
    rows?: number;
  }[] = [
    {
      name: 'NaN in a feature',
      issue: 'NON_FINITE_FEATURE',
      message: /numeric feature "x" is NaN in row 2/,
      columns: (c) => (c.x[2] = NaN),
    },
    {
      name: 'Infinity in a feature',
      issue: 'NON_FINITE_FEATURE',
      message: /"x" is Infinity in row 0/,
      columns: (c) => (c.x[0] = Infinity),
    },
    {
      name: '−Infinity in a feature',
      issue: 'NON_FINITE_FEATURE',
      message: /"x" is -Infinity in row 7/,
      columns: (c) => (c.x[7] = -Infinity),
    },
    {
      name: 'a missing numeric value',
      issue: 'MISSING_VALUE',
      message: /numeric feature "x" is missing in row 3; sluice does not impute/,
      columns: (c) => (c.x[3] = null),
    },
    {
      name: 'an all-null numeric column',
      issue: 'MISSING_VALUE',
      message: /numeric feature "x" is missing in every training row/,
      columns: (c) => c.x.fill(null),
    },
    {
      name: 'a constant numeric column',
      issue: 'CONSTANT_FEATURE',
      message: /numeric feature "x" has the same value \(4\) in every training row/,
      columns: (c) => c.x.fill(4),
    },
    {
      name: 'a constant categorical column',
      issue: 'CONSTANT_FEATURE',
      message: /categorical feature "c" has one category \("a"\)/,
      columns: (c) => c.c.fill('a'),
    },
    {
      name: 'an all-null categorical column',
      issue: 'MISSING_VALUE',
      message: /categorical feature "c" is missing in every training row/,
      columns: (c) => c.c.fill(null),
    },
    {
      name: 'a label with a single class',
      issue: 'SINGLE_CLASS',
      message: /label "y" has a single class \(1\)/,
      columns: (c) => c.y.fill(1),
    },
    {
      name: 'three classes for a binary task',
      issue: 'TOO_MANY_CLASSES',
      message: /3 classes; task "binary" needs exactly two/,
      columns: (c) => (c.y[0] = 2),
    },
    {
      name: 'a missing label',
      issue: 'MISSING_LABEL',
      message: /label "y" is missing or not a number in row 4/,
      columns: (c) => (c.y[4] = null),
    },
    {
      name: 'a text label for regression',
      issue: 'MISSING_LABEL',
      message: /must be a finite number for regression; row 0 has yes/,
      columns: (c) => (c.y[0] = 'yes'),
      spec: { task: 'regression' },
      trainer: { trainer: 'ridge' },
    },
    {
      name: 'an empty dataset',
      issue: 'EMPTY_SPLIT',
      message: /no rows to train on/,
      rows: 0,
      columns: (c) => Object.values(c).forEach((v) => (v.length = 0)),
    },
    {
      name: 'too few rows for the validation split',
      issue: 'TOO_FEW_ROWS',
      message: /8 rows are too few for a validation split of 0.01/,
      trainer: { trainer: 'mlp', validationFraction: 0.01 },
    },
    {
      name: 'a feature that is not in the data',
      issue: 'UNKNOWN_COLUMN',
      message: /column "z" is not in the dataset \(it has: x, c, y\)/,
      spec: { features: [{ name: 'z', kind: 'numeric' }] },
    },
    { name: 'no features', issue: 'NO_FEATURES', message: /names no feature columns/, spec: { features: [] } },
    {
      name: 'a column shorter than the dataset',
      issue: 'COLUMN_LENGTH',
      message: /column "x" has 7 values but the dataset has 8 rows/,
      columns: (c) => c.x.pop(),
    },
    {
      name: 'logistic regression for a regression task',
      issue: 'INVALID_PARAMETER',
      message: /"logistic_regression" needs task "binary" or "multiclass"/,
      spec: { task: 'regression' },
    },
    {
      name: 'ridge for a classification task',
      issue: 'INVALID_PARAMETER',
      message: /"ridge" needs task "regression", got "binary"/,
      trainer: { trainer: 'ridge' },
    },
    {
      name: 'three hidden layers',
      issue: 'INVALID_PARAMETER',
      message: /hiddenLayers must list one or two positive unit counts, got \[4, 4, 4\]/,
      trainer: { trainer: 'mlp', hiddenLayers: [4, 4, 4] },
    },
    {
      name: 'collinear features without L2',
      issue: 'COLLINEAR_FEATURES',
      message: /linearly dependent.*set l2 > 0/,
      spec: { task: 'regression' },
      trainer: { trainer: 'ridge', l2: 0 },
    },
  ];

  it.each(CASES)('$name → $issue', ({ issue, message, columns, spec, trainer, rows }) => {
    const cols = base();
    columns?.(cols);
    const data: TabularData = { rowCount: rows ?? 8, columns: cols };
    let caught: unknown;
    try {
      ModelTraining.start({ data, spec: { ...SPEC, ...spec }, trainer: trainer ?? lr, seed: 1 }).runEpoch();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TrainingDataError);
    expect((caught as TrainingDataError).issue).toBe(issue);
    expect((caught as TrainingDataError).message).toMatch(message);
  });

  it('names the row at fault', () => {
    const cols = base();
    cols.x[5] = NaN;
    try {
      ModelTraining.start({ data: { rowCount: 8, columns: cols }, spec: SPEC, trainer: lr, seed: 1 });
      throw new Error('expected a TrainingDataError');
    } catch (err) {
      expect(err).toMatchObject({ name: 'TrainingDataError', issue: 'NON_FINITE_FEATURE', column: 'x', row: 5 });
    }
  });

  it('a training split that holds one class is refused even when the whole label has two', () => {
    // 20 rows, one of class 1: a seed that holds that row out leaves a single class to train on
    const y = Array.from({ length: 20 }, (_, i) => (i === 0 ? 1 : 0));
    const data: TabularData = {
      rowCount: 20,
      columns: { x: Array.from({ length: 20 }, (_, i) => i), c: y.map((v, i) => (i % 2 ? 'a' : 'b')), y },
    };
    const seed = [...Array(100).keys()].find((s) => {
      const rng = new Xoshiro128(s);
      const order = Uint32Array.from({ length: 20 }, (_, i) => i);
      rng.shuffle(order);
      return order.slice(0, 4).includes(0);
    });
    expect(seed).toBeDefined();
    expect(() =>
      ModelTraining.start({ data, spec: SPEC, trainer: { trainer: 'mlp', validationFraction: 0.2 }, seed: seed as number }),
    ).toThrow(/the training split holds a single class of "y" \(0\)/);
  });
});

describe('training errors as Temporal failures', () => {
  it.each([
    [
      'TrainingDataError',
      new TrainingDataError('CONSTANT_FEATURE', 'numeric feature "x" has the same value (4) in every training row', 'x'),
    ],
    ['CheckpointError', new CheckpointError('DIFFERENT_RUN', 'this checkpoint belongs to another training run')],
  ])('%s becomes a non-retryable SLUICE_INVALID_INPUT with its message', (_name, err) => {
    const failure = toFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'SLUICE_INVALID_INPUT', nonRetryable: true, message: err.message });
  });
});
