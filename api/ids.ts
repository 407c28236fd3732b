/**
 * Workflow ids from business keys: one long-lived workflow per source and per transform, so a
 * re-sent start or signal-with-start reaches the same run instead of starting a second one.
 */

/** Workflow id of the long-lived ingest workflow of a source. */
export function ingestWorkflowId(source: string): string {
  return `ingest-${source}`;
}

/** Workflow id of the long-lived incremental transform workflow of a transform. */
export function transformWorkflowId(transform: string): string {
  return `transform-${transform}`;
}

/** Workflow id of the registration of one transform version (a failed one may be retried under it). */
export function registerTransformWorkflowId(name: string, version: number): string {
  return `register-transform-${name}-v${version}`;
}

/** Workflow id of a pipeline run: one per pipeline and trigger key (an event, a schedule tick, a request). */
export function pipelineWorkflowId(pipeline: string, triggerKey: string): string {
  return `pipeline-${pipeline}-${triggerKey}`;
}
