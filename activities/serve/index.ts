/** The scoring service's logic: loading champions, checking rows, scoring, the prediction log, metrics. */
export { EndpointTable, type EndpointState, type EndpointTableOptions, type ShadowState } from './endpoints';
export { Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, renderMetrics } from '../prometheus';
export { LoadedModel, loadModel, modelKey, type ModelRef, type RowOutputs } from './model';
export { ARROW_STREAM, arrowAnswer, wantsArrow } from './arrowAnswer';
export { DigestWorker, OFF_THREAD_MIN_ROWS } from './digests';
export { ENDPOINTS_CHANNEL, notifyEndpointChanged } from './notify';
export { PREDICTIONS_CONTRACT, PredictionLog, predictionSource, type PredictionEvent, type PredictionLogOptions } from './predictionLog';
export {
  arrowColumns,
  jsonRows,
  MAX_ROW_ISSUES,
  objectRows,
  RowChecker,
  type ArrowColumns,
  type RequestRows,
  type RowIssue,
  type RowsResult,
} from './rows';
