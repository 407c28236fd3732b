/**
 * `train`: a model from a dataset snapshot, on the GPU queue (or the CPU queue where no GPU worker
 * runs): train (checkpointed, resumable) → evaluate → register, each a separate activity.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Sha256 } from '../names';

/** A column of a dataset snapshot. */
export const ColumnName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' });
/** A model name: `<name>@<version>` names one registered model. */
export const ModelName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' });

export const DatasetSpecSchema = Type.Object(
  {
    features: Type.Array(
      Type.Object(
        { name: ColumnName, kind: Type.Union([Type.Literal('numeric'), Type.Literal('categorical')]) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    label: ColumnName,
    task: Type.Union([Type.Literal('binary'), Type.Literal('multiclass'), Type.Literal('regression')]),
  },
  { additionalProperties: false },
);
export type DatasetSpecInput = Static<typeof DatasetSpecSchema>;

const Fraction = Type.Number({ minimum: 0, exclusiveMaximum: 1 });
const Positive = Type.Number({ exclusiveMinimum: 0 });
const Epochs = Type.Integer({ minimum: 1, maximum: 100000 });

/** The built-in trainers and their parameters (activities/train/README.md for their meaning and defaults). */
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
]);
export type TrainerParamsInput = Static<typeof TrainerParamsSchema>;

export { Sha256 as DatasetId };
