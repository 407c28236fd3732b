/**
 * The Temporal runtime's logger for worker processes: the SDK's own lines and those of activities
 * and workflows (`log` from @temporalio/activity and @temporalio/workflow) in sluice's log format
 * (activities/log.ts). In JSON, a line written for an activity or a workflow carries its
 * workflowId, runId and step (the activity type; for a workflow, its type).
 */
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import { createLogLine, type LogFormat } from '../activities';

/** The runtime's meta (activityLogAttributes, workflowLogAttributes) in sluice's field names. */
export function runtimeLogLine(format: LogFormat, entry: LogEntry): string {
  const {
    workflowId,
    workflowRunId,
    runId,
    activityType,
    workflowType,
    attempt,
    taskToken: _taskToken, // an opaque credential for completing the task: not for logs
    ...rest
  } = (entry.meta ?? {}) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const context = {
    workflowId: str(workflowId),
    runId: str(workflowRunId) ?? str(runId),
    step: str(activityType) ?? str(workflowType),
    attempt: typeof attempt === 'number' ? attempt : undefined,
  };
  const defined = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined));
  const time = new Date(Number(entry.timestampNanos / 1_000_000n));
  return createLogLine(format, entry.level, entry.message, Object.keys(rest).length > 0 ? rest : undefined, defined, time);
}

/** A logger for Runtime.install: `level` and above, one line each (on stderr unless `write` is given). */
export function createRuntimeLogger(
  format: LogFormat,
  level: LogLevel = 'INFO',
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): DefaultLogger {
  return new DefaultLogger(level, (entry) => write(runtimeLogLine(format, entry)));
}
