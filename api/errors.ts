/**
 * Failure types of sluice. Permanent failures are thrown as
 * `ApplicationFailure.create({ type: ErrorCodes.X, nonRetryable: true })`; everything else retries.
 */
export const ErrorCodes = {
  InvalidInput: 'SLUICE_INVALID_INPUT',
  UnknownSource: 'SLUICE_UNKNOWN_SOURCE',
  ContractInvalid: 'SLUICE_CONTRACT_INVALID',
  ExpectationFailed: 'SLUICE_EXPECTATION_FAILED',
  NotDeterministic: 'SLUICE_NOT_DETERMINISTIC',
  DatabaseSchema: 'SLUICE_DATABASE_SCHEMA',
  IngestFailed: 'SLUICE_INGEST_FAILED',
  IngestBatchTooLarge: 'SLUICE_INGEST_BATCH_TOO_LARGE',
  IngestFileUnreadable: 'SLUICE_INGEST_FILE_UNREADABLE',
  IngestDataRejected: 'SLUICE_INGEST_DATA_REJECTED',
  UnknownTransform: 'SLUICE_UNKNOWN_TRANSFORM',
  InvalidTransform: 'SLUICE_INVALID_TRANSFORM',
  TransformVersionConflict: 'SLUICE_TRANSFORM_VERSION_CONFLICT',
  InvalidRange: 'SLUICE_INVALID_RANGE',
  UnknownContract: 'SLUICE_UNKNOWN_CONTRACT',
  DatasetNotFound: 'SLUICE_DATASET_NOT_FOUND',
  /** A model name/version (or alias) that is not registered. */
  UnknownModel: 'SLUICE_UNKNOWN_MODEL',
  /** A file a step needs (an ONNX model, a model card) is not in the artifact store. */
  ArtifactNotFound: 'SLUICE_ARTIFACT_NOT_FOUND',
  /** An artifact's bytes do not hash to the sha256 it was asked for. */
  ArtifactCorrupt: 'SLUICE_ARTIFACT_CORRUPT',
  /** A dataset spec that does not fit the data (missing or constant column, one class, empty split, NaN…). */
  DatasetInvalid: 'SLUICE_DATASET_INVALID',
  /** A `command` trainer exited non-zero, timed out, or wrote no model file. */
  TrainerFailed: 'SLUICE_TRAINER_FAILED',
  /** A `command` trainer's model is not an ONNX model with the inputs and outputs the dataset spec expects. */
  TrainerOutputInvalid: 'SLUICE_TRAINER_OUTPUT_INVALID',
  /** A candidate whose inputs (features, task, classes) differ from what the endpoint serves. */
  SignatureMismatch: 'SLUICE_SIGNATURE_MISMATCH',
  /** Another deploy or rollback of the endpoint is running (onConflict 'refuse'). */
  DeployConflict: 'SLUICE_DEPLOY_CONFLICT',
  /** The endpoint's champion moved under a deployment (another promotion or a rollback): nothing was promoted. */
  ChampionMoved: 'SLUICE_CHAMPION_MOVED',
  /** A rollback with no earlier champion to restore. */
  NoPreviousChampion: 'SLUICE_NO_PREVIOUS_CHAMPION',
  /** An approval, rejection or rollback sent when the deployment is not waiting for it (not pending, expired, not promoted). */
  DeployNotPending: 'SLUICE_DEPLOY_NOT_PENDING',
  /** A pipeline spec that breaks its schema or its own references (file, line and field named). */
  PipelineSpecInvalid: 'SLUICE_PIPELINE_SPEC_INVALID',
  /** A pipeline name/version that was never applied. */
  UnknownPipeline: 'SLUICE_UNKNOWN_PIPELINE',
  /** A step of a pipeline run failed; details name the step and its cause. */
  PipelineStepFailed: 'SLUICE_PIPELINE_STEP_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Error codes of the HTTP services' answers (`{ error: { code, message } }`: ingest, scoring), beside the workflows' own. */
export const HttpErrorCodes = {
  NotFound: 'SLUICE_NOT_FOUND',
  MethodNotAllowed: 'SLUICE_METHOD_NOT_ALLOWED',
  Unauthorized: 'SLUICE_UNAUTHORIZED',
  BadRequest: 'SLUICE_BAD_REQUEST',
  BodyTooLarge: 'SLUICE_BODY_TOO_LARGE',
  UrlTooLong: 'SLUICE_URL_TOO_LONG',
  HeadersTooLarge: 'SLUICE_HEADERS_TOO_LARGE',
  RequestTimeout: 'SLUICE_REQUEST_TIMEOUT',
  UnsupportedMediaType: 'SLUICE_UNSUPPORTED_MEDIA_TYPE',
  BadContentEncoding: 'SLUICE_BAD_CONTENT_ENCODING',
  IdempotencyKeyReused: 'SLUICE_IDEMPOTENCY_KEY_REUSED',
  Busy: 'SLUICE_BUSY',
  Internal: 'SLUICE_INTERNAL',
  /** Scoring: no endpoint of that name. */
  UnknownEndpoint: 'SLUICE_UNKNOWN_ENDPOINT',
  /** Scoring: the endpoint has no model it can serve (none promoted, or its file was refused). */
  ModelUnavailable: 'SLUICE_MODEL_UNAVAILABLE',
  /** Scoring: more rows in one request than SLUICE_SERVE_MAX_ROWS. */
  TooManyRows: 'SLUICE_TOO_MANY_ROWS',
  /** Scoring: rows that do not fit the model's inputs (each issue names the row and field). */
  InvalidRows: 'SLUICE_INVALID_ROWS',
} as const;
