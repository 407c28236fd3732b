/**
 * The shared vocabulary of sluice (ground floor: imports nothing of sluice's own from above):
 * error codes, workflow ids, signal/query/update definitions, queue and search-attribute names,
 * and the public input and result types of every workflow, each declared once.
 */
export { ErrorCodes, HttpErrorCodes, type ErrorCode } from './errors';
export { DEFAULT_TASK_QUEUES, type QueueKind, type TaskQueues } from './queues';
export {
  SluiceDataset,
  SluiceModel,
  SluicePipeline,
  SluiceStatus,
  SluiceStep,
  SEARCH_ATTRIBUTE_KEYS,
  SEARCH_ATTRIBUTE_NAMES,
  SLUICE_STATUS,
  type SluiceStatusValue,
} from './searchAttributes';
export { ingestWorkflowId, pipelineWorkflowId, registerTransformWorkflowId, transformWorkflowId } from './ids';
export {
  backfillProgressQuery,
  dataLandedSignal,
  ingestBatchSignal,
  ingestBatchUpdate,
  ingestStatusQuery,
  pipelineStatusQuery,
  rerunSignal,
  rerunUpdate,
  transformStatusQuery,
  approveUpdate,
  rejectUpdate,
  rollbackUpdate,
  rollbackSignal,
  deploymentStatusQuery,
} from './messages';
export { checkValue, checkWorkflowInput, describeIssues, type CheckResult, type InputIssue } from './check';
export { SOURCE_NAME_PATTERN, TRANSFORM_NAME_PATTERN } from './names';
export { workflows, type AnyWorkflowDef, type WorkflowName } from './workflows';
export type { InputOf, ResultOf, WorkflowDef, WorkflowFn } from './workflows/define';
export type {
  DataLanded,
  IngestBatchRequest,
  IngestBatchResult,
  IngestFormat,
  IngestInput,
  IngestLocation,
  IngestStatus,
} from './workflows/ingest';
export { INGEST_FORMATS, INGEST_HISTORY_LIMIT, INLINE_BATCH_MAX_BYTES, INLINE_BATCH_MAX_EVENTS } from './workflows/ingest';
export type { TransformInput, TransformStatus, TransformTotals } from './workflows/transform';
export type { RegisterTransformInput, RegisterTransformResult, TransformColumn } from './workflows/registerTransform';
export type {
  BackfillInput,
  BackfillProgress,
  BackfillRangeInput,
  BackfillRangeResult,
  BackfillResult,
  BackfillResume,
  FinishBackfillResult,
} from './workflows/backfill';
export type { DatasetRef, ValidateInput, ValidateResult } from './workflows/validate';
export type { DatasetFile, DatasetNpyFiles, DatasetSpecInput, SnapshotInput, SnapshotResult, SplitName } from './workflows/snapshot';
export type { DatabaseHealth, HealthCheckInput, HealthCheckResult, RuntimeHealth } from './workflows/healthCheck';
export type { TrainerParamsInput, TrainInput, TrainResult, TrainSpecInput } from './workflows/train';
export type {
  CalibrationBin,
  ClassificationMetrics,
  ClassMetrics,
  EvaluateModelResult,
  ExecutionProviderName,
  InferenceCost,
  LatencyStats,
  ModelAliasEvent,
  ModelClassLabel,
  ModelLineage,
  ModelMetrics,
  ModelsUsingQuery,
  ModelTask,
  ModelVersionRef,
  RegisterModelInput,
  RegisterModelResult,
  RegressionMetrics,
  SetModelAliasInput,
  SetModelAliasResult,
} from './models';
export { deployWorkflowId, GATE_METRICS, LOWER_IS_BETTER } from './workflows/deploy';
export type {
  ApprovalDecision,
  ApprovalRequest,
  DeployInput,
  DeploymentState,
  DeployPolicy,
  DeployResult,
  DeployStatus,
  DeployStep,
  GateComparison,
  GateMetric,
  GateResult,
  RollbackInput,
  RollbackRequest,
  RollbackResult,
  ShadowComparison,
} from './workflows/deploy';
export type { EvaluateModelInput, ModelCardLineage, TestSplitRef } from './workflows/evaluate';
export type {
  PipelineInput,
  PipelineResult,
  PipelineRerunRecord,
  PipelineSpec,
  PipelineStatus,
  PipelineStepName,
  PipelineStepOutput,
  PipelineStepStatus,
  RerunAnswer,
  RerunRequest,
} from './workflows/pipeline';
export { PIPELINE_STEPS, PipelineSpecSchema } from './workflows/pipeline';
export type {
  FeatureDrift,
  MonitorInput,
  MonitorMeasurement,
  MonitorPerformance,
  MonitorResult,
  MonitorTrigger,
} from './workflows/monitor';
