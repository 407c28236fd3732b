/**
 * A dataset spec that does not fit the data. It describes the user's table or spec, so retrying
 * cannot help: activities/failures.ts maps it to a non-retryable SLUICE_DATASET_INVALID, with
 * `issue` and `column` as the failure's details.
 */
export type DatasetIssue =
  | 'UNKNOWN_COLUMN'
  | 'UNSUPPORTED_TYPE'
  | 'WRONG_KIND'
  | 'DUPLICATE_COLUMN'
  | 'INVALID_SPLIT'
  | 'EMPTY_DATASET'
  | 'EMPTY_SPLIT'
  | 'ALL_NULL'
  | 'CONSTANT_FEATURE'
  | 'NON_FINITE_FEATURE'
  | 'MISSING_LABEL'
  | 'SINGLE_CLASS'
  | 'TOO_MANY_CLASSES'
  | 'MISSING_KEY'
  | 'UNREPRESENTABLE_VALUE';

export class DatasetInvalidError extends Error {
  constructor(
    readonly issue: DatasetIssue,
    message: string,
    /** The column at fault, where there is one. */
    readonly column?: string,
  ) {
    super(message);
    this.name = 'DatasetInvalidError';
  }
}
