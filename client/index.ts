/**
 * The typed sluice client for other services: start pipelines, send data, read results.
 * Every call goes through Temporal; nothing writes around it.
 */
export { SluiceClient, InvalidWorkflowInputError, type SluiceClientOptions, type StartOptions, workflowUiUrl } from './sluiceClient';
export { loadConfig, parseConfig, ConfigError, type SluiceConfig, type ConfigIssue, DEFAULT_TASK_QUEUES } from './config';
export { connectTemporal, temporalConnectOptions } from './connection';
export { registerTransform, notifyTransform, transformStatus, startBackfill, backfillProgress } from './transform';
export { IngestBatchTooLargeError, INLINE_BATCH_MAX_BYTES, type IngestOptions, type IngestFileOptions, type IngestLocation, type IngestFormat, type IngestBatchResult } from './ingest';
