import { exportModelToOnnx } from '../../activities/onnx';
import {
  CHECKPOINT_FORMAT_VERSION,
  CheckpointError,
  MID_EPOCH_CHECKPOINT_FORMAT_VERSION,
  decodeCheckpoint,
  encodeCheckpoint,
  ModelTraining,
  trainModel,
  type EpochReport,
  type TaskKind,
  type TrainerParams,
  type TrainModelInput,
} from '../../activities/train';
import { mixedDataset, parameterBits } from '../helpers/trainData';

const CASES: { name: string; task: TaskKind; trainer: TrainerParams; epochs: number; stopAt: number }[] = [
  {
    name: 'binary logistic regression (L-BFGS history)',
    task: 'binary',
    trainer: { trainer: 'logistic_regression', maxEpochs: 12 },
    epochs: 12,
    stopAt: 5,
  },
  {
    name: 'multiclass logistic regression',
    task: 'multiclass',
    trainer: { trainer: 'logistic_regression', maxEpochs: 12 },
    epochs: 12,
    stopAt: 7,
  },
  {
    name: 'MLP with one hidden layer (Adam moments, PRNG, best-so-far)',
    task: 'binary',
    trainer: { trainer: 'mlp', hiddenLayers: [16], maxEpochs: 8, batchSize: 32 },
    epochs: 8,
    stopAt: 3,
  },
  {
    name: 'MLP with two hidden layers',
    task: 'multiclass',
    trainer: { trainer: 'mlp', hiddenLayers: [12, 8], maxEpochs: 8, batchSize: 32 },
    epochs: 8,
    stopAt: 5,
  },
  { name: 'ridge regression (one epoch)', task: 'regression', trainer: { trainer: 'ridge' }, epochs: 1, stopAt: 0 },
];

function inputFor(task: TaskKind, trainer: TrainerParams): TrainModelInput {
  const { data, spec } = mixedDataset(400, task);
  return { data, spec, trainer, seed: 42 };
}

describe('training resumes from a checkpoint bit for bit', () => {
  it.each(CASES)('$name: N epochs straight = k epochs, checkpoint, restore, N − k epochs', ({ task, trainer, epochs, stopAt }) => {
    const straightReports: EpochReport[] = [];
    const straight = trainModel(inputFor(task, trainer), { onEpoch: (r) => straightReports.push(r) });
    expect(straightReports.map((r) => r.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));

    const first = ModelTraining.start(inputFor(task, trainer));
    for (let i = 0; i < stopAt; i++) first.runEpoch();
    const bytes = first.checkpoint();
    expect(first.checkpoint()).toEqual(bytes); // the same state writes the same bytes

    // a fresh "process": new input objects, nothing shared with the first run but the bytes
    const copy = Uint8Array.from(bytes);
    const resumedReports: EpochReport[] = [];
    const resumed = trainModel(inputFor(task, trainer), { resumeFrom: copy, onEpoch: (r) => resumedReports.push(r) });
    expect(resumedReports).toEqual(straightReports.slice(stopAt));
    expect(parameterBits(resumed.layers)).toBe(parameterBits(straight.layers));
    expect(Buffer.from(exportModelToOnnx(resumed)).equals(Buffer.from(exportModelToOnnx(straight)))).toBe(true);
  });

  it('writes the documented layout: magic, version, JSON header, 8-byte aligned float64 buffers', () => {
    const run = ModelTraining.start(inputFor('binary', { trainer: 'mlp', hiddenLayers: [4], maxEpochs: 3 }));
    run.runEpoch();
    const bytes = run.checkpoint();
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe('SLUICECK');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(8, true)).toBe(CHECKPOINT_FORMAT_VERSION);
    const header = JSON.parse(Buffer.from(bytes.subarray(16, 16 + view.getUint32(12, true))).toString('utf8')) as {
      trainer: string;
      ints: [string, number][];
      arrays: [string, number][];
    };
    expect(header.trainer).toBe('mlp');
    expect(header.ints.map(([k]) => k)).toEqual(['epoch', 'done', 'adamStep', 'sinceBest', 'rng0', 'rng1', 'rng2', 'rng3']);
    const floats = header.arrays.reduce((s, [, n]) => s + n, 0);
    expect(bytes.length % 8).toBe(0);
    expect(bytes.length - 8 * floats).toBe(Math.ceil((16 + view.getUint32(12, true)) / 8) * 8);
    const decoded = decodeCheckpoint(bytes);
    expect(decoded.state.ints.find(([k]) => k === 'epoch')?.[1]).toBe(1);
  });

  it('refuses bytes that are not a checkpoint, a truncated one, another version, and one from another run', () => {
    const input = inputFor('binary', { trainer: 'logistic_regression', maxEpochs: 5 });
    const run = ModelTraining.start(input);
    run.runEpoch();
    const bytes = run.checkpoint();
    const issue = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(CheckpointError);
        return (err as CheckpointError).issue;
      }
      throw new Error('expected a CheckpointError');
    };
    expect(issue(() => ModelTraining.resume(input, new TextEncoder().encode('{"not":"a checkpoint"}')))).toBe('NOT_A_CHECKPOINT');
    expect(issue(() => ModelTraining.resume(input, bytes.subarray(0, bytes.length - 8)))).toBe('CORRUPT');
    const v2 = Uint8Array.from(bytes);
    new DataView(v2.buffer).setUint32(8, 3, true);
    expect(issue(() => ModelTraining.resume(input, v2))).toBe('UNSUPPORTED_VERSION');
    expect(issue(() => ModelTraining.resume({ ...input, seed: 43 }, bytes))).toBe('DIFFERENT_RUN');
    expect(issue(() => ModelTraining.resume({ ...input, trainer: { trainer: 'logistic_regression', maxEpochs: 5, l2: 2 } }, bytes))).toBe(
      'DIFFERENT_RUN',
    );
    const other = mixedDataset(401, 'binary');
    expect(issue(() => ModelTraining.resume({ ...input, data: other.data }, bytes))).toBe('DIFFERENT_RUN');
  });

  it('a finished run resumed from its last checkpoint is finished and gives the same model', () => {
    const input = inputFor('binary', { trainer: 'logistic_regression' });
    const run = ModelTraining.start(input);
    while (!run.done) run.runEpoch();
    const resumed = ModelTraining.resume(input, run.checkpoint());
    expect(resumed.done).toBe(true);
    expect(resumed.epoch).toBe(run.epoch);
    expect(parameterBits(resumed.model().layers)).toBe(parameterBits(run.model().layers));
  });

  describe('inside an epoch (MLP batches)', () => {
    const trainer: TrainerParams = { trainer: 'mlp', hiddenLayers: [12, 8], maxEpochs: 4, batchSize: 16 };
    /** Pauses after every `n`-th batch. */
    const everyNth = (n: number): (() => boolean) => {
      let batches = 0;
      return () => ++batches % n === 0;
    };

    it('advance() with pauses gives the same reports and model as runEpoch()', () => {
      const straightReports: EpochReport[] = [];
      const straight = trainModel(inputFor('multiclass', trainer), { onEpoch: (r) => straightReports.push(r) });
      const run = ModelTraining.start(inputFor('multiclass', trainer));
      const reports: EpochReport[] = [];
      let pauses = 0;
      const pause = everyNth(3);
      while (!run.done) {
        const r = run.advance(pause);
        if (r) reports.push(r);
        else {
          pauses++;
          expect(run.epochRows?.done).toBeGreaterThan(0);
        }
      }
      expect(pauses).toBeGreaterThan(4);
      expect(reports).toEqual(straightReports);
      expect(parameterBits(run.model().layers)).toBe(parameterBits(straight.layers));
    });

    it('a checkpoint taken between two batches (version 2) resumes bit for bit, from that batch', () => {
      const straightReports: EpochReport[] = [];
      const straight = trainModel(inputFor('multiclass', trainer), { onEpoch: (r) => straightReports.push(r) });
      const first = ModelTraining.start(inputFor('multiclass', trainer));
      first.runEpoch();
      expect(first.advance(everyNth(5))).toBeUndefined(); // five batches into epoch 2
      const rowsDone = first.epochRows?.done ?? 0;
      expect(rowsDone).toBe(5 * 16);
      const bytes = first.checkpoint();
      expect(first.checkpoint()).toEqual(bytes);
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)).toBe(MID_EPOCH_CHECKPOINT_FORMAT_VERSION);

      const resumed = ModelTraining.resume(inputFor('multiclass', trainer), Uint8Array.from(bytes));
      expect(resumed.epoch).toBe(1);
      expect(resumed.epochRows?.done).toBe(rowsDone);
      const reports: EpochReport[] = [];
      while (!resumed.done) reports.push(resumed.runEpoch());
      expect(reports).toEqual(straightReports.slice(1));
      expect(Buffer.from(exportModelToOnnx(resumed.model())).equals(Buffer.from(exportModelToOnnx(straight)))).toBe(true);
    });

    it('a checkpoint between epochs is still version 1, with the same keys as before', () => {
      const run = ModelTraining.start(inputFor('multiclass', trainer));
      run.advance(everyNth(2));
      while (run.advance(everyNth(2)) === undefined);
      const bytes = run.checkpoint();
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)).toBe(CHECKPOINT_FORMAT_VERSION);
      expect(decodeCheckpoint(bytes).state.ints.map(([k]) => k)).not.toContain('batchStart');
    });

    it('refuses a mid-epoch checkpoint whose epoch shuffle does not lead to its PRNG state', () => {
      const first = ModelTraining.start(inputFor('multiclass', trainer));
      first.advance(everyNth(2));
      const contents = decodeCheckpoint(first.checkpoint());
      const ints = contents.state.ints.map(([k, v]): [string, number] => [k, k === 'epochRng0' ? (v + 1) >>> 0 : v]);
      const tampered = encodeCheckpoint({ ...contents, state: { ...contents.state, ints } });
      expect(() => ModelTraining.resume(inputFor('multiclass', trainer), tampered)).toThrow(CheckpointError);
    });
  });
});
