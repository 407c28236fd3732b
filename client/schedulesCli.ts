/**
 * `sluice schedules list|pause|resume|backfill`: Temporal Schedules from the command line
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TLS / API key from the environment). Exit codes: 0
 * done, 1 the schedule does not exist, 2 usage or setup error.
 */
import { Client, ScheduleNotFoundError, type ScheduleOverlapPolicy } from '@temporalio/client';
import { ConfigError, loadConfig, type SluiceConfig } from '../config';
import { connectTemporal } from './connection';
import type { CliIo } from './contracts';
import { backfillSchedule, listSchedules, pauseSchedule, resumeSchedule } from './schedules';
import { flag } from './cliArgs';

export const SCHEDULES_USAGE = `  schedules list [--json]                         Temporal Schedules: paused or not, next ticks
  schedules pause|resume <id> [--note TEXT]       stop or restart a schedule's ticks
  schedules backfill <id> --from ISO --to ISO [--overlap P]   take the ticks between two times now (default BUFFER_ALL)
`;

export class SchedulesUsageError extends Error {}

const OVERLAPS = ['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL'] as const;

function date(args: string[], name: string): Date {
  const v = flag(args, name);
  const d = v === undefined ? undefined : new Date(v);
  if (!d || Number.isNaN(d.getTime())) throw new SchedulesUsageError(`${name} needs a time (ISO 8601, e.g. 2026-01-01T00:00:00Z)`);
  return d;
}

export async function schedulesCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, id] = args;
  if (!sub || !['list', 'pause', 'resume', 'backfill'].includes(sub) || (sub !== 'list' && !id))
    throw new SchedulesUsageError(`usage:\n${SCHEDULES_USAGE}`);
  let config: SluiceConfig;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new SchedulesUsageError(err.message);
    throw err;
  }
  const connection = await connectTemporal(config.temporal, config.temporal.address ?? 'localhost:7233', { timeoutMs: 10_000 });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  try {
    if (sub === 'list') {
      const list = await listSchedules(client);
      if (args.includes('--json')) io.out(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) io.out('no schedules\n');
      else
        for (const s of list)
          io.out(
            `${s.id}  ${s.workflowType ?? '-'}  ${s.paused ? `paused${s.note ? ` (${s.note})` : ''}` : 'running'}  next ${s.nextActionTimes[0]?.toISOString() ?? '-'}\n`,
          );
      return 0;
    }
    const scheduleId = id as string;
    const note = flag(args, '--note');
    if (sub === 'pause') await pauseSchedule(client, scheduleId, note);
    else if (sub === 'resume') await resumeSchedule(client, scheduleId, note);
    else {
      const overlap = flag(args, '--overlap');
      if (overlap !== undefined && !(OVERLAPS as readonly string[]).includes(overlap))
        throw new SchedulesUsageError(`--overlap must be one of ${OVERLAPS.join(', ')}`);
      await backfillSchedule(client, scheduleId, {
        start: date(args, '--from'),
        end: date(args, '--to'),
        ...(overlap ? { overlap: overlap as ScheduleOverlapPolicy } : {}),
      });
    }
    io.out(`${sub === 'backfill' ? 'backfilled' : `${sub}d`} ${scheduleId}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    io.err(`sluice: there is no schedule ${id ?? ''} in namespace ${config.temporal.namespace}\n`);
    return 1;
  } finally {
    await connection.close();
  }
}
