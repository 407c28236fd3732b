import { createHash } from 'node:crypto';
import { InferenceSession } from 'onnxruntime-node';
import { exportModelToOnnx, onnxFeeds, ONNX_EXPORT_OPSET } from '../../activities/onnx';
import { predict, trainModel, type TaskKind, type TrainerParams, type TrainedModel } from '../../activities/train';
import { mixedDataset, sliceRows } from '../helpers/trainData';

const TOLERANCE = 1e-5;

async function score(model: TrainedModel, rows: ReturnType<typeof mixedDataset>['data']) {
  const session = await InferenceSession.create(exportModelToOnnx(model));
  try {
    return { out: await session.run(onnxFeeds(model, rows)) };
  } finally {
    await session.release();
  }
}

const CASES: { name: string; task: TaskKind; trainer: TrainerParams }[] = [
  { name: 'binary logistic regression', task: 'binary', trainer: { trainer: 'logistic_regression' } },
  { name: 'multiclass logistic regression', task: 'multiclass', trainer: { trainer: 'logistic_regression' } },
  { name: 'ridge regression', task: 'regression', trainer: { trainer: 'ridge' } },
  { name: 'MLP, 1 hidden layer, binary', task: 'binary', trainer: { trainer: 'mlp', hiddenLayers: [16], maxEpochs: 15, batchSize: 32 } },
  {
    name: 'MLP, 2 hidden layers, multiclass',
    task: 'multiclass',
    trainer: { trainer: 'mlp', hiddenLayers: [16, 8], maxEpochs: 15, batchSize: 32 },
  },
  {
    name: 'MLP, 2 hidden layers, regression',
    task: 'regression',
    trainer: { trainer: 'mlp', hiddenLayers: [12, 6], maxEpochs: 15, batchSize: 32 },
  },
];

describe(`ONNX export (opset ${ONNX_EXPORT_OPSET}) scored by onnxruntime-node`, () => {
  it.each(CASES)(
    '$name: ONNX Runtime predicts what the trainer predicts, within 1e-5, from raw numeric and categorical values',
    async ({ task, trainer }) => {
      const { data, spec } = mixedDataset(700, task);
      const train = sliceRows(data, 0, 500);
      const test = sliceRows(data, 500, 700);
      // an unseen category and missing values must encode as zeros in both
      (test.columns.color as (string | null)[])[0] = 'purple';
      (test.columns.size as (string | null)[])[1] = null;
      const model = trainModel({ data: train, spec, trainer, seed: 3 });
      const mine = predict(model, test);
      const { out } = await score(model, test);
      const label = out.label;
      expect(label).toBeDefined();
      if (mine.task === 'regression') {
        expect(label?.type).toBe('float32');
        expect(label?.dims).toEqual([200]);
        const got = label?.data as Float32Array;
        for (let i = 0; i < 200; i++)
          expect(Math.abs((got[i] as number) - (mine.value[i] as number))).toBeLessThanOrEqual(
            TOLERANCE * Math.max(1, Math.abs(mine.value[i] as number)),
          );
        return;
      }
      const probs = out.probabilities?.data as Float32Array;
      expect(out.probabilities?.dims).toEqual([200, mine.classCount]);
      expect(label?.type).toBe('int64');
      let maxDiff = 0;
      for (let i = 0; i < probs.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs((probs[i] as number) - (mine.probabilities[i] as number)));
      expect(maxDiff).toBeLessThanOrEqual(TOLERANCE);
      const labels = label?.data as BigInt64Array;
      for (let i = 0; i < 200; i++) {
        const k = mine.classCount;
        const sorted = Array.from(mine.probabilities.subarray(i * k, i * k + k)).sort((a, b) => b - a);
        // a class can only differ where the top two probabilities are closer than float32 can tell
        if ((sorted[0] as number) - (sorted[1] as number) > TOLERANCE) expect(Number(labels[i])).toBe(mine.classIndex[i]);
      }
    },
  );

  it('writes the same bytes for the same model, and the model for the same data, parameters and seed', () => {
    const { data, spec } = mixedDataset(300, 'multiclass');
    const trainer: TrainerParams = { trainer: 'mlp', hiddenLayers: [8, 8], maxEpochs: 5, batchSize: 32 };
    const a = exportModelToOnnx(trainModel({ data, spec, trainer, seed: 11 }));
    const b = exportModelToOnnx(trainModel({ data, spec, trainer, seed: 11 }));
    const c = exportModelToOnnx(trainModel({ data, spec, trainer, seed: 12 }));
    const sha = (x: Uint8Array): string => createHash('sha256').update(x).digest('hex');
    expect(sha(a)).toBe(sha(b));
    expect(sha(c)).not.toBe(sha(a));
  });

  it('declares raw-value inputs and records features and classes in the metadata', async () => {
    const { data, spec } = mixedDataset(200, 'binary');
    const model = trainModel({ data, spec, trainer: { trainer: 'logistic_regression' }, seed: 1 });
    const session = await InferenceSession.create(exportModelToOnnx(model));
    try {
      expect([...session.inputNames]).toEqual(['numeric', 'color', 'size']);
      expect([...session.outputNames].sort()).toEqual(['label', 'probabilities']);
    } finally {
      await session.release();
    }
    const text = Buffer.from(exportModelToOnnx(model)).toString('latin1');
    expect(text).toContain('sluice.numeric_features');
    expect(text).toContain(JSON.stringify(['age', 'income', 'score']));
    expect(text).toContain(JSON.stringify(['no', 'yes']));
  });

  it('refuses a categorical feature whose name is one of the graph’s own input or output names', () => {
    const { data, spec } = mixedDataset(100, 'binary');
    const renamed = {
      rowCount: data.rowCount,
      columns: { ...data.columns, label2: data.columns.label, numeric: data.columns.color },
    } as typeof data;
    const model = trainModel({
      data: renamed,
      spec: {
        ...spec,
        label: 'label2',
        features: [
          { name: 'age', kind: 'numeric' },
          { name: 'numeric', kind: 'categorical' },
        ],
      },
      trainer: { trainer: 'logistic_regression' },
      seed: 1,
    });
    expect(() => exportModelToOnnx(model)).toThrow(/categorical feature "numeric" cannot be an ONNX input name/);
  });
});
