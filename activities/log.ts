/**
 * The worker's log lines. In `json` format (SLUICE_LOG_FORMAT=json, the default of worker
 * processes) each line is one JSON object with `time`, `level` and `message`, and, when written
 * inside an activity, the `workflowId`, `runId`, `step` (the activity type) and `attempt` it
 * belongs to; the caller's fields follow. In `text` format a line reads `[sluice worker] message {fields}`.
 */
import { asyncLocalStorage } from '@temporalio/activity';

export type LogFormat = 'json' | 'text';
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface LogLine {
  time: string;
  level: LogLevel;
  message: string;
  workflowId?: string;
  runId?: string;
  step?: string;
  attempt?: number;
  [field: string]: unknown;
}

/** Where the current activity stands (empty outside an activity). */
function activityFields(): Pick<LogLine, 'workflowId' | 'runId' | 'step' | 'attempt'> {
  const info = asyncLocalStorage.getStore()?.info;
  if (!info) return {};
  return {
    workflowId: info.workflowExecution?.workflowId ?? `activity:${info.activityId}`,
    runId: info.workflowExecution?.runId ?? info.activityRunId,
    step: info.activityType,
    attempt: info.attempt,
  };
}

/** One log line, without its newline. `context` (workflowId, runId, step, …) overrides the current activity's. */
export function createLogLine(
  format: LogFormat,
  level: LogLevel,
  message: string,
  fields?: Record<string, unknown>,
  context?: Partial<Pick<LogLine, 'workflowId' | 'runId' | 'step' | 'attempt'>>,
  time: Date = new Date(),
): string {
  if (format === 'text') {
    const prefix = level === 'INFO' ? '[sluice worker]' : `[sluice worker] ${level}`;
    return `${prefix} ${message}${fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`;
  }
  const core = { time: time.toISOString(), level, message };
  // the core keys come first and cannot be overridden by a field of the same name
  const line: LogLine = { ...core, ...activityFields(), ...context, ...fields, ...core };
  return JSON.stringify(line, jsonValue);
}

/** Errors (the runtime's `Activity failed` carries one) keep their type, message and stack; bigints become strings. */
function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) {
    const type = (v as { type?: unknown }).type;
    return { name: v.name, ...(typeof type === 'string' ? { type } : {}), message: v.message, stack: v.stack };
  }
  return v;
}

/** Writes one line to stderr. */
export function stderrLog(format: LogFormat, level: LogLevel, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${createLogLine(format, level, message, fields)}\n`);
}
