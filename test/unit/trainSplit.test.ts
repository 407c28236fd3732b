// A dataset's own split (rows by index, e.g. a snapshot's split by key hash) replaces the seeded
// shuffle: the trainer validates on exactly those rows, and the run stays reproducible.
import { ModelTraining, TrainingDataError } from '../../activities/train';
import { mixedDataset, parameterBits } from '../helpers/trainData';

describe('training on a given split', () => {
  const { data, spec } = mixedDataset(300, 'binary');
  const train = Uint32Array.from({ length: 240 }, (_, i) => i);
  const validation = Uint32Array.from({ length: 60 }, (_, i) => 240 + i);

  it('validates on the given rows and is bit-reproducible', () => {
    const run = () => {
      const r = ModelTraining.start({
        data,
        spec,
        trainer: { trainer: 'mlp', hiddenLayers: [8], maxEpochs: 3 },
        seed: 5,
        split: { train, validation },
      });
      const reports = [];
      while (!r.done) reports.push(r.runEpoch());
      return { reports, bits: parameterBits(r.model().layers) };
    };
    const a = run();
    expect(a.reports[0]?.validationLoss).toBeDefined();
    expect(run()).toEqual(a);
    // Another split of the same rows is another run.
    const other = ModelTraining.start({
      data,
      spec,
      trainer: { trainer: 'mlp', hiddenLayers: [8], maxEpochs: 3 },
      seed: 5,
      split: { train: validation, validation: train },
    });
    while (!other.done) other.runEpoch();
    expect(parameterBits(other.model().layers)).not.toBe(a.bits);
  });

  it('refuses an empty training split and rows outside the data', () => {
    const params = { data, spec, trainer: { trainer: 'logistic_regression' as const }, seed: 1 };
    expect(() => ModelTraining.start({ ...params, split: { train: new Uint32Array(0), validation } })).toThrow(TrainingDataError);
    expect(() => ModelTraining.start({ ...params, split: { train: Uint32Array.of(0, 1, 999), validation } })).toThrow(
      /outside the 300 rows/,
    );
  });
});
