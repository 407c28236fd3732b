/**
 * `train`: a model from a dataset snapshot, on the GPU queue (or the CPU queue where no GPU worker
 * runs): train (checkpointed, resumable) → evaluate → register, each a separate activity.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { ModelMetrics } from '../models';
import { Sha256 } from '../names';
import { defineWorkflow, returns } from './define';
import { DatasetSpecSchema } from './snapshot';

/** A model name: `<name>@<version>` names one registered model. */
export const ModelName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' });

/** What training reads of a snapshot: features, label and task (the split is the snapshot's own). */
export const TrainSpecSchema = Type.Omit(DatasetSpecSchema, ['split'], { additionalProperties: false });
export type TrainSpecInput = Static<typeof TrainSpecSchema>;

const Fraction = Type.Number({ minimum: 0, exclusiveMaximum: 1 });
const Positive = Type.Number({ exclusiveMinimum: 0 });
const Epochs = Type.Integer({ minimum: 1, maximum: 100000 });

/** The built-in trainers and their parameters, and the `command` trainer (activities/train/README.md for their meaning and defaults). */
export const TrainerParamsSchema = Type.Union([
  Type.Object(
    {
      trainer: Type.Literal('logistic_regression'),
      l2: Type.Optional(Type.Number({ minimum: 0 })),
      maxEpochs: Type.Optional(Epochs),
      gradientTolerance: Type.Optional(Positive),
      relativeTolerance: Type.Optional(Positive),
      memory: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      validationFraction: Type.Optional(Fraction),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { trainer: Type.Literal('ridge'), l2: Type.Optional(Type.Number({ minimum: 0 })), validationFraction: Type.Optional(Fraction) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      trainer: Type.Literal('mlp'),
      hiddenLayers: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 4096 }), { minItems: 1, maxItems: 2 })),
      learningRate: Type.Optional(Positive),
      batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000 })),
      maxEpochs: Type.Optional(Epochs),
      patience: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
      minDelta: Type.Optional(Type.Number({ minimum: 0 })),
      l2: Type.Optional(Type.Number({ minimum: 0 })),
      validationFraction: Type.Optional(Fraction),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      trainer: Type.Literal('command'),
      /**
       * Bring your own trainer: an executable and its arguments, run by a worker with
       * SLUICE_COMMAND_TRAINERS=true; a first word `python3`/`python` stands for the worker's
       * interpreter (SLUICE_PYTHON). activities/train/README.md says what it gets and must write.
       */
      command: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 }),
      /** Handed to the executable in its manifest, as given. */
      params: Type.Optional(Type.Record(Type.String({ maxLength: 200 }), Type.Unknown())),
      /** Kill its process group after this many seconds (default 3600). */
      timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
    },
    { additionalProperties: false },
  ),
]);
export type TrainerParamsInput = Static<typeof TrainerParamsSchema>;

const QueueName = Type.String({ minLength: 1, maxLength: 200 });

export const TrainInputSchema = Type.Object(
  {
    /** The registered model's name; each run registers its next version. */
    model: ModelName,
    /** The snapshot to train on (its id is the sha256 of its Arrow file). */
    datasetId: Sha256,
    spec: TrainSpecSchema,
    trainer: TrainerParamsSchema,
    /** Seeds the initial weights and the batch order: the same seed gives the same model bytes. */
    seed: Type.Integer({ minimum: 0, maximum: 4294967295 }),
    /** Checkpoint every this many epochs (default 5; 0: never). */
    checkpointEveryEpochs: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    /**
     * Also checkpoint once this many seconds have passed since the last checkpoint, inside an epoch
     * too (MLP): a crash then loses at most about this much training (default 0: off).
     */
    checkpointEverySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
    /**
     * Seconds without a heartbeat before the training attempt counts as dead and is retried from
     * its last checkpoint (default 60): how long a crash goes unnoticed. The built-in trainers
     * report at least every second (inside MLP epochs too), so a few seconds suffice; a logistic
     * regression or ridge epoch, and each step of reading the snapshot, is one piece of work that
     * must fit in it.
     */
    heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 2, maximum: 3600 })),
    /** Where training runs: the GPU queue (default), or the CPU queue where no GPU worker runs. */
    device: Type.Optional(Type.Union([Type.Literal('gpu'), Type.Literal('cpu')])),
    /** Task queues, when the workers use other names than sluice-cpu / sluice-gpu. */
    queues: Type.Optional(Type.Object({ cpu: Type.Optional(QueueName), gpu: Type.Optional(QueueName) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type TrainInput = Static<typeof TrainInputSchema>;

export interface TrainResult {
  model: string;
  /** The registered version: `<model>@<version>`. */
  version: number;
  /** Test-split metrics of the evaluation (api/models.ts). */
  metrics: ModelMetrics;
  /** The model card (HTML) in the artifact store. */
  cardUri: string;
  cardSha256: string;
  datasetId: string;
  onnxSha256: string;
  onnxUri: string;
  epochs: number;
  /** Epoch of the checkpoint the last attempt resumed from (0: it ran from the start). */
  resumedFromEpoch: number;
  finalLoss: number;
  validationMetric: number | null;
  validationMetricName: string | null;
  device: string;
}

export const train = defineWorkflow({
  name: 'train',
  description:
    'Trains a model (built-in, or a command trainer of your own) on a dataset snapshot on the GPU queue (or the CPU queue), evaluates it on the test split and registers it: training heartbeats every epoch, checkpoints to the artifact store and resumes from the last checkpoint after a crash.',
  input: TrainInputSchema,
  result: returns<TrainResult>(),
});
