/** Every workflow sluice registers; the names are the public API (shared/DESIGN.md, "Workflows"). */
export { healthCheck, type HealthCheckInput, type HealthCheckResult } from './healthCheck';
export { transform, statusQuery as transformStatusQuery, type TransformInput, type TransformStatus } from './transform';
export { backfill, backfillRange, progressQuery as backfillProgressQuery, type BackfillInput, type BackfillResult, type BackfillProgress, type BackfillRangeInput } from './backfill';
export { registerTransform, type RegisterTransformInput, type RegisterTransformResult } from './transformRegistration';
export { ingest } from './ingest';
export { ingestBatchUpdate, ingestBatchSignal, ingestStatusQuery, type IngestStatus, type IngestBatchRequest, type IngestBatchResult, type IngestInput } from './ingestTypes';
export { validate, type ValidateInput, type ValidateResult } from './validate';
