/**
 * Temporal Schedules from a declarative list: cadence retraining and the `monitor` run on a clock.
 * Applying the same list twice changes nothing: each wanted schedule is compared with the one the
 * server describes (its action: workflow type, workflow id, task queue, arguments; its intervals;
 * its overlap policy) and with the declaration recorded in the action's memo (a cron string comes
 * back from the server compiled into calendars, so it is compared as declared), and updated only
 * when they differ. A schedule not in the list is deleted only when the caller names it as one the
 * list declared before (`previousIds`, e.g. every schedule id of a pipeline's earlier spec versions)
 * and `owns` recognises the schedule the server describes as the list's; others are left alone.
 */
import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleOverlapPolicy,
  type ScheduleSpec,
} from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import { checkWorkflowInput } from '../api/check';
import { workflows, type WorkflowName } from '../api/workflows';
import { InvalidWorkflowInputError } from './inputErrors';

export interface ScheduleDeclaration {
  /** The schedule id (a business key: `monitor-churn`, `retrain-churn-weekly`). */
  id: string;
  /** A cron expression (`0 3 * * *`, UTC); give this or `interval`. */
  cron?: string;
  /** Every this long (`1 hour`, or milliseconds); give this or `cron`. */
  interval?: string | number;
  workflowType: string;
  /** The workflow's arguments; a sluice workflow's input is checked against its declaration. */
  args: unknown[];
  taskQueue: string;
  /** Id of the started runs, which the server suffixes with the tick's time (default `<id>-workflow`). */
  workflowId?: string;
  /** Paused or running; absent: leave it as it is (an operator may have paused it). */
  paused?: boolean;
  /** What a tick does while the previous run still runs (default SKIP). */
  overlap?: ScheduleOverlapPolicy;
}

export interface ApplySchedulesResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  /** Ids in `previousIds`, no longer in the list, that existed, belonged to the list and were deleted. */
  deleted: string[];
}

export interface ApplySchedulesOptions {
  /**
   * Ids the list declared before (a pipeline's schedules in its earlier spec versions): those not in
   * the list now are deleted when they still exist and `owns` recognises them. Read from the
   * caller's own record, not from the server's schedule list, which lags writes by a second or so.
   */
  previousIds?: string[];
  /** Whether a described schedule is the list's to delete (default: none is). */
  owns?: (described: ScheduleDescription) => boolean;
}

/** A declaration that cannot become a schedule: what is wrong and in which entry. */
export class InvalidScheduleError extends Error {
  constructor(
    readonly scheduleId: string,
    message: string,
  ) {
    super(`schedule ${scheduleId}: ${message}`);
    this.name = 'InvalidScheduleError';
  }
}

/** JSON with sorted keys: the same value always gives the same text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

const MEMO_KEY = 'sluiceSchedule';

interface Normalized {
  decl: ScheduleDeclaration;
  spec: ScheduleSpec;
  intervalMs: number | undefined;
  workflowId: string;
  overlap: ScheduleOverlapPolicy;
  fingerprint: string;
}

function normalize(decl: ScheduleDeclaration): Normalized {
  if ((decl.cron === undefined) === (decl.interval === undefined))
    throw new InvalidScheduleError(decl.id, 'give exactly one of cron and interval');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(decl.id))
    throw new InvalidScheduleError(decl.id, 'the id may hold letters, digits, ".", "_" and "-" (at most 200)');
  if (Object.hasOwn(workflows, decl.workflowType)) {
    const r = checkWorkflowInput(workflows[decl.workflowType as WorkflowName], decl.args[0]);
    if (!r.ok) throw new InvalidWorkflowInputError(decl.workflowType, r.issues);
  }
  let intervalMs: number | undefined;
  if (decl.interval !== undefined) {
    try {
      intervalMs = msToNumber(decl.interval as Parameters<typeof msToNumber>[0]);
    } catch {
      throw new InvalidScheduleError(decl.id, `interval ${JSON.stringify(decl.interval)} is not a duration ("1 hour", or milliseconds)`);
    }
    if (!(intervalMs >= 1000)) throw new InvalidScheduleError(decl.id, 'the interval must be at least one second');
  }
  const spec: ScheduleSpec = decl.cron !== undefined ? { cronExpressions: [decl.cron] } : { intervals: [{ every: intervalMs as number }] };
  const workflowId = decl.workflowId ?? `${decl.id}-workflow`;
  const overlap = decl.overlap ?? 'SKIP';
  const fingerprint = createHash('sha256')
    .update(
      canonical({
        cron: decl.cron ?? null,
        intervalMs: intervalMs ?? null,
        type: decl.workflowType,
        args: decl.args,
        workflowId,
        taskQueue: decl.taskQueue,
        overlap,
      }),
    )
    .digest('hex');
  return { decl, spec, intervalMs, workflowId, overlap, fingerprint };
}

/** Why the described schedule differs from the wanted one (empty: it does not). */
export function scheduleDifferences(wanted: Normalized, described: ScheduleDescription): string[] {
  const diffs: string[] = [];
  const a = described.action;
  if (a.workflowType !== wanted.decl.workflowType) diffs.push('workflow type');
  if (a.workflowId !== wanted.workflowId) diffs.push('workflow id');
  if (a.taskQueue !== wanted.decl.taskQueue) diffs.push('task queue');
  if (canonical(a.args ?? []) !== canonical(wanted.decl.args)) diffs.push('arguments');
  const recorded = (a.memo?.[MEMO_KEY] as { fingerprint?: string } | undefined)?.fingerprint;
  if (recorded !== wanted.fingerprint) diffs.push('declaration');
  const intervals = (described.spec.intervals ?? []).map((i) => i.every);
  if (wanted.intervalMs !== undefined ? canonical(intervals) !== canonical([wanted.intervalMs]) : intervals.length > 0)
    diffs.push('interval');
  if (wanted.decl.cron !== undefined && (described.spec.calendars ?? []).length === 0) diffs.push('cron');
  if (described.policies.overlap !== wanted.overlap) diffs.push('overlap policy');
  if (wanted.decl.paused !== undefined && described.state.paused !== wanted.decl.paused)
    diffs.push(wanted.decl.paused ? 'paused' : 'running');
  return diffs;
}

function action(w: Normalized) {
  return {
    type: 'startWorkflow' as const,
    workflowType: w.decl.workflowType,
    workflowId: w.workflowId,
    taskQueue: w.decl.taskQueue,
    args: w.decl.args,
    memo: { [MEMO_KEY]: { id: w.decl.id, fingerprint: w.fingerprint } },
  };
}

/**
 * Creates the schedules that do not exist, updates those that differ from their declaration, then
 * deletes the ones the list no longer declares (see {@link ApplySchedulesOptions}); reports which
 * were created, updated, unchanged and deleted. Deleting a schedule stops its ticks; runs it started
 * go on. Validates the whole list before touching anything. Throws InvalidScheduleError,
 * InvalidWorkflowInputError.
 */
export async function applySchedules(
  client: Client,
  list: ScheduleDeclaration[],
  options: ApplySchedulesOptions = {},
): Promise<ApplySchedulesResult> {
  const seen = new Set<string>();
  for (const d of list) {
    if (seen.has(d.id)) throw new InvalidScheduleError(d.id, 'declared twice');
    seen.add(d.id);
  }
  const wanted = list.map(normalize);
  const result: ApplySchedulesResult = { created: [], updated: [], unchanged: [], deleted: [] };
  for (const w of wanted) {
    const handle = client.schedule.getHandle(w.decl.id);
    let described: ScheduleDescription | undefined;
    try {
      described = await handle.describe();
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    if (!described) {
      await client.schedule.create({
        scheduleId: w.decl.id,
        spec: w.spec,
        action: action(w),
        policies: { overlap: w.overlap },
        state: { paused: w.decl.paused ?? false, note: 'created by sluice applySchedules' },
      });
      result.created.push(w.decl.id);
      continue;
    }
    if (scheduleDifferences(w, described).length === 0) {
      result.unchanged.push(w.decl.id);
      continue;
    }
    await handle.update((prev) => ({
      spec: w.spec,
      action: action(w),
      policies: { ...prev.policies, overlap: w.overlap },
      state: { ...prev.state, paused: w.decl.paused ?? prev.state.paused },
    }));
    result.updated.push(w.decl.id);
  }
  const owns = options.owns;
  if (owns) {
    for (const id of [...new Set(options.previousIds ?? [])].filter((i) => !seen.has(i)).sort()) {
      const handle = client.schedule.getHandle(id);
      try {
        if (!owns(await handle.describe())) continue;
        await handle.delete();
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) continue; // deleted before (by an earlier apply, or by hand)
        throw err;
      }
      result.deleted.push(id);
    }
  }
  return result;
}

/** Pauses a schedule (its ticks are skipped until resumed); the note says why, in describe() and the UI. */
export async function pauseSchedule(client: Client, id: string, note = 'paused by sluice'): Promise<void> {
  await client.schedule.getHandle(id).pause(note);
}

export async function resumeSchedule(client: Client, id: string, note = 'resumed by sluice'): Promise<void> {
  await client.schedule.getHandle(id).unpause(note);
}

/**
 * Takes the ticks a schedule would have taken between `start` and `end` (missed while paused or
 * down), now; each started run's id carries its tick's time. `overlap` defaults to BUFFER_ALL: the
 * missed runs start one after the other, none skipped.
 */
export async function backfillSchedule(
  client: Client,
  id: string,
  range: { start: Date; end: Date; overlap?: ScheduleOverlapPolicy },
): Promise<void> {
  if (!(range.start < range.end)) throw new InvalidScheduleError(id, 'backfill start must be before its end');
  await client.schedule.getHandle(id).backfill({ start: range.start, end: range.end, overlap: range.overlap ?? 'BUFFER_ALL' });
}

export interface ScheduleListEntry {
  id: string;
  workflowType: string | undefined;
  paused: boolean;
  note: string | undefined;
  nextActionTimes: Date[];
}

/**
 * Every schedule of the namespace. The ids come from the server's list, which lags a write by up to
 * a second or so (it is read from visibility); each schedule's state is then described, so paused,
 * note and next ticks are current.
 */
export async function listSchedules(client: Client): Promise<ScheduleListEntry[]> {
  const out: ScheduleListEntry[] = [];
  for await (const s of client.schedule.list()) {
    let d: ScheduleDescription;
    try {
      d = await client.schedule.getHandle(s.scheduleId).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) continue; // deleted since it was listed
      throw err;
    }
    out.push({
      id: d.scheduleId,
      workflowType: d.action.workflowType,
      paused: d.state.paused,
      note: d.state.note,
      nextActionTimes: d.info.nextActionTimes,
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}
