/**
 * Built-in trainers (logistic regression, ridge, a small MLP) on typed arrays, with recorded
 * preprocessing, seeded and bit-reproducible, resumable from checkpoint bytes. Pure: no I/O, no
 * Temporal; the train/evaluate activities build on it and activities/onnx exports its models.
 */
export { ModelTraining, trainModel, type TrainModelInput, type TrainModelOptions, type TrainerParams } from './train';
export { predict, type Prediction, type TrainedModel, type TrainerKind } from './model';
export type { ClassLabel, ColumnValues, DatasetSpec, FeatureKind, FeatureSpec, TabularData, TaskKind } from './data';
export type { EpochReport } from './estimator';
export type { LogisticRegressionParams } from './logistic';
export type { RidgeParams } from './ridge';
export type { MlpParams } from './mlp';
export type { DenseLayer } from './network';
export type { CategoricalEncoding, NumericScaling, Preprocessing } from './preprocessing';
export { fitPreprocessing, applyPreprocessing } from './preprocessing';
export { CHECKPOINT_FORMAT_VERSION, decodeCheckpoint, encodeCheckpoint, MID_EPOCH_CHECKPOINT_FORMAT_VERSION } from './checkpoint';
export { CheckpointError, TrainingDataError, type CheckpointIssue, type TrainingDataIssue } from './errors';
export { Xoshiro128 } from './random';
export { makeClassification, type SyntheticClassification, type SyntheticClassificationOptions } from './synthetic';
