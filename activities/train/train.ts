/**
 * The training loop that activities drive: prepare the data (seeded split, preprocessing fitted on
 * the training rows), then run epochs, each of which can be followed by a checkpoint; a run
 * restored from a checkpoint continues exactly as the original would have (same floats, same
 * model bytes), because every source of randomness is the one seeded PRNG and every sum runs in
 * a fixed order.
 */
import { createHash } from 'node:crypto';
import { CHECKPOINT_FORMAT_VERSION, decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { encodeLabels, splitRows, type DatasetSpec, type TabularData } from './data';
import { CheckpointError, TrainingDataError } from './errors';
import type { EncodedSplit, EpochReport, EstimatorRun, Problem } from './estimator';
import { checkLogisticParams, LogisticRegressionRun, type LogisticRegressionParams } from './logistic';
import { checkMlpParams, MlpRun, type MlpParams } from './mlp';
import type { TrainedModel } from './model';
import { applyPreprocessing, fitPreprocessing, type Preprocessing } from './preprocessing';
import { Xoshiro128 } from './random';
import { checkRidgeParams, RidgeRun, type RidgeParams } from './ridge';

export type TrainerParams = LogisticRegressionParams | RidgeParams | MlpParams;

export interface TrainModelInput {
  data: TabularData;
  spec: DatasetSpec;
  trainer: TrainerParams;
  /** Seeds the split, the initial weights and the batch order (an integer; taken modulo 2^32). */
  seed: number;
  /**
   * The dataset's own split, as row indices (a snapshot's split by key hash, stable when rows are
   * added); without it, a seeded shuffle holds out `validationFraction` of the rows.
   */
  split?: { train: Uint32Array; validation: Uint32Array };
}

function checkedSplit(
  split: { train: Uint32Array; validation: Uint32Array },
  rowCount: number,
): { train: Uint32Array; validation: Uint32Array } {
  if (split.train.length === 0) throw new TrainingDataError('EMPTY_SPLIT', 'the training split of the dataset is empty');
  for (const part of [split.train, split.validation]) {
    for (const i of part)
      if (i >= rowCount) throw new TrainingDataError('INVALID_PARAMETER', `split row ${i} is outside the ${rowCount} rows of the data`);
  }
  return split;
}

function checkedParams(p: TrainerParams): Required<TrainerParams> {
  switch (p.trainer) {
    case 'logistic_regression':
      return checkLogisticParams(p);
    case 'ridge':
      return checkRidgeParams(p);
    case 'mlp':
      return checkMlpParams(p);
    default:
      throw new TrainingDataError(
        'INVALID_PARAMETER',
        `unknown trainer "${(p as { trainer: unknown }).trainer}"; known: logistic_regression, ridge, mlp`,
      );
  }
}

function gather(y: Float64Array, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = y[rows[i] as number] as number;
  return out;
}

function bytesOf(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A training run, epoch by epoch. Build it with {@link ModelTraining.start} or {@link ModelTraining.resume}. */
export class ModelTraining {
  private fingerprintHex: string | undefined;

  private constructor(
    private readonly input: TrainModelInput,
    private readonly params: Required<TrainerParams>,
    private readonly problem: Problem,
    private readonly preprocessing: Preprocessing,
    private readonly classes: (string | number)[] | undefined,
    private readonly estimator: EstimatorRun,
  ) {}

  /**
   * sha256 of what determines the run (parameters, seed, spec, encoded rows): a checkpoint only
   * fits the run it came from. Computed on first use, so a run that never checkpoints does not pay
   * for hashing its data.
   */
  get fingerprint(): string {
    if (this.fingerprintHex === undefined) {
      const hash = createHash('sha256');
      hash.update(
        JSON.stringify({ checkpointFormat: CHECKPOINT_FORMAT_VERSION, params: this.params, seed: this.input.seed, spec: this.input.spec }),
      );
      for (const part of [this.problem.train, this.problem.validation]) hash.update(bytesOf(part.x)).update(bytesOf(part.y));
      this.fingerprintHex = hash.digest('hex');
    }
    return this.fingerprintHex;
  }

  /**
   * Prepares a run. Throws {@link TrainingDataError} for data that cannot train a model (missing
   * or non-finite features, a constant column, a single class, too few rows for the split).
   */
  static start(input: TrainModelInput): ModelTraining {
    const params = checkedParams(input.trainer);
    const { data, spec } = input;
    if (data.rowCount === 0) throw new TrainingDataError('EMPTY_SPLIT', 'the dataset has no rows to train on');
    const rng = new Xoshiro128(input.seed);
    const labels = encodeLabels(data, spec);
    const split = input.split ? checkedSplit(input.split, data.rowCount) : splitRows(data.rowCount, params.validationFraction, rng);
    const preprocessing = fitPreprocessing(data, spec, split.train);
    const encode = (rows: Uint32Array): EncodedSplit => ({
      x: applyPreprocessing(preprocessing, data, rows),
      y: gather(labels.values, rows),
      rows: rows.length,
    });
    const problem: Problem = {
      task: spec.task,
      width: preprocessing.width,
      classCount: labels.classes?.length ?? 0,
      train: encode(split.train),
      validation: encode(split.validation),
    };
    if (labels.classes) {
      const first = problem.train.y[0];
      if (problem.train.y.every((v) => v === first)) {
        throw new TrainingDataError(
          'SINGLE_CLASS',
          `the training split holds a single class of "${spec.label}" (${String(labels.classes[first as number])}); add rows of the other classes or hold out fewer`,
          spec.label,
        );
      }
    }
    let estimator: EstimatorRun;
    switch (params.trainer) {
      case 'logistic_regression':
        estimator = new LogisticRegressionRun(problem, params as Required<LogisticRegressionParams>);
        break;
      case 'ridge':
        estimator = new RidgeRun(problem, params as Required<RidgeParams>);
        break;
      case 'mlp':
        estimator = new MlpRun(problem, params as Required<MlpParams>, rng);
        break;
    }
    return new ModelTraining(input, params, problem, preprocessing, labels.classes, estimator);
  }

  /**
   * Prepares the run again from the same input and continues from `checkpoint`. Throws
   * {@link CheckpointError} when the bytes are not a checkpoint or come from another run
   * (other data, parameters or seed).
   */
  static resume(input: TrainModelInput, checkpoint: Uint8Array): ModelTraining {
    const contents = decodeCheckpoint(checkpoint);
    const run = ModelTraining.start(input);
    if (contents.trainer !== input.trainer.trainer || contents.fingerprint !== run.fingerprint) {
      throw new CheckpointError(
        'DIFFERENT_RUN',
        `this checkpoint belongs to another training run (trainer ${contents.trainer}); the data, parameters or seed differ`,
      );
    }
    try {
      run.estimator.restoreState(contents.state);
    } catch (err) {
      throw new CheckpointError('CORRUPT', `checkpoint does not fit the ${contents.trainer} trainer: ${(err as Error).message}`);
    }
    return run;
  }

  /** Epochs done so far, counting those before a resume. */
  get epoch(): number {
    return this.estimator.epoch;
  }
  get done(): boolean {
    return this.estimator.done;
  }
  /** The most epochs the run does (it may stop earlier). */
  get maxEpochs(): number {
    return 'maxEpochs' in this.params ? this.params.maxEpochs : 1;
  }

  runEpoch(): EpochReport {
    return this.estimator.runEpoch();
  }

  /**
   * Runs the current epoch until it ends (returns its report) or, for trainers whose epochs are
   * batches (the MLP), until `pause()` says to stop between batches (returns undefined): a
   * long epoch can then heartbeat and checkpoint on time. Same floats as {@link runEpoch}.
   */
  advance(pause: () => boolean): EpochReport | undefined {
    return this.estimator.advance ? this.estimator.advance(pause) : this.estimator.runEpoch();
  }

  /** Rows of the current epoch done so far (0 between epochs, and always for one-step epochs). */
  get epochRows(): { done: number; total: number } | undefined {
    return this.estimator.epochRows;
  }

  /** The full state as bytes (see checkpoint.ts for the format). */
  checkpoint(): Uint8Array {
    return encodeCheckpoint({ trainer: this.input.trainer.trainer, fingerprint: this.fingerprint, state: this.estimator.saveState() });
  }

  /** The model as it stands (for the MLP: its best epoch so far). */
  model(): TrainedModel {
    const m: TrainedModel = {
      trainer: this.input.trainer.trainer,
      task: this.input.spec.task,
      features: this.input.spec.features.map((f) => ({ name: f.name, kind: f.kind })),
      label: this.input.spec.label,
      preprocessing: this.preprocessing,
      layers: this.estimator.layers(),
    };
    if (this.classes) m.classes = [...this.classes];
    return m;
  }
}

export interface TrainModelOptions {
  /** Called after every epoch, e.g. to heartbeat. */
  onEpoch?: (report: EpochReport) => void;
  /** Continue from these checkpoint bytes instead of starting over. */
  resumeFrom?: Uint8Array;
  /** Stop once this many epochs are done in total (the run may finish earlier); for tests and time-boxed steps. */
  untilEpoch?: number;
}

/** Trains to the end (or to `untilEpoch`) and returns the model. Synchronous: for async heartbeats drive {@link ModelTraining} directly. */
export function trainModel(input: TrainModelInput, options: TrainModelOptions = {}): TrainedModel {
  const run = options.resumeFrom ? ModelTraining.resume(input, options.resumeFrom) : ModelTraining.start(input);
  while (!run.done && (options.untilEpoch === undefined || run.epoch < options.untilEpoch)) {
    const report = run.runEpoch();
    options.onEpoch?.(report);
  }
  return run.model();
}
