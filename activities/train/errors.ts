/**
 * Typed errors of training. They describe the user's data or parameters, so retrying cannot help:
 * the activity layer maps them to a non-retryable failure (SLUICE_INVALID_INPUT for
 * {@link TrainingDataError}, and for {@link CheckpointError} too: a checkpoint that does not fit
 * is a wrong reference, not a transient fault).
 */

export type TrainingDataIssue =
  | 'EMPTY_SPLIT'
  | 'TOO_FEW_ROWS'
  | 'UNKNOWN_COLUMN'
  | 'COLUMN_LENGTH'
  | 'NON_FINITE_FEATURE'
  | 'MISSING_VALUE'
  | 'CONSTANT_FEATURE'
  | 'MISSING_LABEL'
  | 'SINGLE_CLASS'
  | 'TOO_MANY_CLASSES'
  | 'NO_FEATURES'
  | 'COLLINEAR_FEATURES'
  | 'INVALID_PARAMETER'
  | 'SHAPE_MISMATCH';

export class TrainingDataError extends Error {
  constructor(
    readonly issue: TrainingDataIssue,
    message: string,
    /** The feature or label column concerned, where there is one. */
    readonly column?: string,
    /** The 0-based row of the dataset, where one row is at fault. */
    readonly row?: number,
  ) {
    super(message);
    this.name = 'TrainingDataError';
  }
}

export type CheckpointIssue = 'NOT_A_CHECKPOINT' | 'UNSUPPORTED_VERSION' | 'CORRUPT' | 'DIFFERENT_RUN';

export class CheckpointError extends Error {
  constructor(
    readonly issue: CheckpointIssue,
    message: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}
