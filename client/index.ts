/**
 * The typed sluice client for other services: start pipelines, send data, read results.
 * Every call goes through Temporal; nothing writes around it.
 */
export {
  SluiceClient,
  InvalidWorkflowInputError,
  InvalidPipelineSpecError,
  type StartPipelineOptions,
  type StartedPipeline,
  workflowUiUrl,
  type SluiceClientOptions,
  type SluiceWorkflowHandle,
  type StartOptions,
} from './sluiceClient';
export { IngestBatchTooLargeError, type IngestOptions, type IngestFileOptions } from './ingest';
export { connectTemporal } from './connection';
export { DeployRefusedError, type DeployHandle, type DeploymentStatus } from './deploy';
export { checkPipelineSpec, formatSpecIssues, loadPipelineSpecFile, type SpecIssue, type SpecResult } from '../contracts/pipelineSpec';
export type { AppliedPipelineSpec } from '../activities/pipeline';
export { loadConfig, parseConfig, ConfigError, type SluiceConfig, type ConfigIssue } from '../config';
export * from '../api';
export {
  applySchedules,
  pauseSchedule,
  resumeSchedule,
  backfillSchedule,
  listSchedules,
  InvalidScheduleError,
  type ScheduleDeclaration,
  type ApplySchedulesResult,
  type ApplySchedulesOptions,
  type ScheduleListEntry,
} from './schedules';
