import { ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import type { MonitorInput } from '../../api';
import { runCli } from '../../client/cli';
import { pollUntil } from '../../client/poll';
import {
  applySchedules,
  backfillSchedule,
  InvalidScheduleError,
  pauseSchedule,
  resumeSchedule,
  type ScheduleDeclaration,
} from '../../client/schedules';
import { InvalidWorkflowInputError } from '../../client/sluiceClient';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

/** Schedules applied from a declarative list against the real dev server. */
describe('schedules', () => {
  let stack: TestStack;
  let list: ScheduleDeclaration[];
  const monitorInput: MonitorInput = { monitorId: 'churn-hourly', model: { name: 'churn' }, recent: { transform: 'orders_typed' } };

  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    list = [
      { id: 'monitor-churn', interval: '1 hour', workflowType: 'monitor', args: [monitorInput], taskQueue: stack.config.taskQueues.cpu },
      {
        id: 'retrain-churn-nightly',
        cron: '0 3 * * *',
        workflowType: 'healthCheck',
        args: [{}],
        taskQueue: stack.config.taskQueues.cpu,
        paused: true,
      },
    ];
  });
  afterAll(async () => {
    for (const id of ['monitor-churn', 'retrain-churn-nightly'])
      await stack?.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await stack?.close();
  });

  it('applying the same list twice changes nothing; a changed cron or argument is an update', async () => {
    expect(await applySchedules(stack.client, list)).toEqual({
      created: ['monitor-churn', 'retrain-churn-nightly'],
      updated: [],
      unchanged: [],
      deleted: [],
    });
    expect(await applySchedules(stack.client, list)).toEqual({
      created: [],
      updated: [],
      unchanged: ['monitor-churn', 'retrain-churn-nightly'],
      deleted: [],
    });
    const nightly = await stack.client.schedule.getHandle('retrain-churn-nightly').describe();
    expect(nightly.state.paused).toBe(true);
    expect(nightly.spec.calendars?.length).toBeGreaterThan(0);

    const changed = [list[0] as ScheduleDeclaration, { ...(list[1] as ScheduleDeclaration), cron: '0 4 * * *' }];
    expect(await applySchedules(stack.client, changed)).toEqual({
      created: [],
      updated: ['retrain-churn-nightly'],
      unchanged: ['monitor-churn'],
      deleted: [],
    });
    expect(await applySchedules(stack.client, changed)).toEqual({
      created: [],
      updated: [],
      unchanged: ['monitor-churn', 'retrain-churn-nightly'],
      deleted: [],
    });
    const hours = (await stack.client.schedule.getHandle('retrain-churn-nightly').describe()).spec.calendars?.[0]?.hour;
    expect(hours).toEqual([{ start: 4, end: 4, step: 1 }]);

    const moreRows = [
      { ...(list[0] as ScheduleDeclaration), args: [{ ...monitorInput, recent: { ...monitorInput.recent, lastRows: 500 } }] },
    ];
    expect(await applySchedules(stack.client, moreRows)).toEqual({ created: [], updated: ['monitor-churn'], unchanged: [], deleted: [] });
    const described = await stack.client.schedule.getHandle('monitor-churn').describe();
    expect(described.action.args).toEqual(moreRows[0]?.args);
    expect(described.spec.intervals).toEqual([{ every: 3_600_000 }]);
    await applySchedules(stack.client, [list[0] as ScheduleDeclaration]);
  });

  it('deletes a schedule the list declared before and no longer does, only when it is the list’s', async () => {
    const queue = stack.config.taskQueues.cpu;
    const two: ScheduleDeclaration[] = [
      { id: 'prune-a', interval: '1 hour', workflowType: 'healthCheck', args: [{}], taskQueue: queue },
      { id: 'prune-b', cron: '0 5 * * *', workflowType: 'healthCheck', args: [{}], taskQueue: queue },
    ];
    // owned: healthCheck schedules on this test's queue; prune-other is not the list's, whatever previousIds says
    const owns = (d: ScheduleDescription): boolean => d.action.workflowType === 'healthCheck' && d.action.taskQueue === queue;
    await stack.client.schedule.create({
      scheduleId: 'prune-other',
      spec: { intervals: [{ every: '1 hour' }] },
      action: { type: 'startWorkflow', workflowType: 'monitor', args: [monitorInput], taskQueue: queue },
    });
    try {
      const previousIds = ['prune-a', 'prune-b', 'prune-other', 'prune-never-created'];
      expect(await applySchedules(stack.client, two, { previousIds, owns })).toEqual({
        created: ['prune-a', 'prune-b'],
        updated: [],
        unchanged: [],
        deleted: [],
      });
      const a = await stack.client.schedule.getHandle('prune-a').describe();
      expect(await applySchedules(stack.client, [two[0] as ScheduleDeclaration], { previousIds, owns })).toEqual({
        created: [],
        updated: [],
        unchanged: ['prune-a'],
        deleted: ['prune-b'],
      });
      await expect(stack.client.schedule.getHandle('prune-b').describe()).rejects.toThrow(ScheduleNotFoundError);
      expect((await stack.client.schedule.getHandle('prune-other').describe()).action.workflowType).toBe('monitor');
      // the one that stays is the same schedule, untouched: same action, same spec, no update recorded
      const after = await stack.client.schedule.getHandle('prune-a').describe();
      expect(after.info.lastUpdatedAt).toEqual(a.info.lastUpdatedAt);
      expect([after.action, after.spec]).toEqual([a.action, a.spec]);
      // again: nothing left to do
      expect(await applySchedules(stack.client, [two[0] as ScheduleDeclaration], { previousIds, owns })).toEqual({
        created: [],
        updated: [],
        unchanged: ['prune-a'],
        deleted: [],
      });
      // without options nothing is deleted (the list alone does not say what else is its own)
      expect((await applySchedules(stack.client, [])).deleted).toEqual([]);
      await stack.client.schedule.getHandle('prune-a').describe();
    } finally {
      for (const id of ['prune-a', 'prune-b', 'prune-other'])
        await stack.client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
    }
  });

  it('checks the list before touching anything', async () => {
    await expect(applySchedules(stack.client, [{ ...(list[0] as ScheduleDeclaration), cron: '* * * * *' }])).rejects.toThrow(
      InvalidScheduleError,
    );
    await expect(applySchedules(stack.client, [list[0] as ScheduleDeclaration, list[0] as ScheduleDeclaration])).rejects.toThrow(
      /declared twice/,
    );
    await expect(
      applySchedules(stack.client, [{ ...(list[0] as ScheduleDeclaration), id: 'monitor-bad', args: [{ monitorId: 'x' }] }]),
    ).rejects.toThrow(InvalidWorkflowInputError);
    await expect(stack.client.schedule.getHandle('monitor-bad').describe()).rejects.toThrow(/not found/i);
  });

  it('pause and resume show in describe(); an operator’s pause survives an apply that does not name one', async () => {
    const handle = stack.client.schedule.getHandle('monitor-churn');
    await pauseSchedule(stack.client, 'monitor-churn', 'labels are late');
    expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'labels are late' });
    expect(await applySchedules(stack.client, [list[0] as ScheduleDeclaration])).toEqual({
      created: [],
      updated: [],
      unchanged: ['monitor-churn'],
      deleted: [],
    });
    expect((await handle.describe()).state.paused).toBe(true);
    await resumeSchedule(stack.client, 'monitor-churn');
    expect((await handle.describe()).state.paused).toBe(false);
  });

  it('a monitor schedule starts monitor runs: on trigger, and for missed ticks on backfill', async () => {
    const handle = stack.client.schedule.getHandle('monitor-churn');
    await handle.trigger();
    const first = await pollUntil('the schedule took an action', async () => (await handle.describe()).info.recentActions[0]);
    const run = await stack.client.workflow.getHandle(first.action.workflow.workflowId).describe();
    expect(run.type).toBe('monitor');
    expect(run.taskQueue).toBe(stack.config.taskQueues.cpu);
    // It ran the monitor, which found no model in this empty database: the failure is the monitor's own.
    await expect(stack.client.workflow.getHandle(first.action.workflow.workflowId).result()).rejects.toThrow();
    const { rows } = await stack.db.pool.query<{ error: { type: string } }>(
      `SELECT error FROM sluice.run_events WHERE workflow_id = $1 AND step = 'measureModelDrift' AND status = 'failed'`,
      [first.action.workflow.workflowId],
    );
    expect(rows[0]?.error.type).toBe('SLUICE_UNKNOWN_MODEL');

    // Three hours missed: three ticks taken now, one after the other.
    const end = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 1000);
    await backfillSchedule(stack.client, 'monitor-churn', { start: new Date(end.getTime() - 3 * 3_600_000), end });
    const taken = await pollUntil(
      'the backfill took three actions',
      async () => {
        const d = await handle.describe();
        return d.info.numActionsTaken >= 4 ? d.info.recentActions : undefined;
      },
      { timeoutMs: 45_000 },
    );
    const backfilled = taken.filter((a) => a.scheduledAt.getTime() < end.getTime());
    expect(backfilled).toHaveLength(3);
  }, 60_000);

  it('sluice schedules list|pause|resume|backfill: the same from the command line, with exit codes', async () => {
    const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
      let out = '';
      let err = '';
      const env = { TEMPORAL_ADDRESS: testTemporalAddress(), TEMPORAL_NAMESPACE: stack.config.temporal.namespace };
      const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env });
      return { code, out, err };
    };
    expect(await cli('schedules', 'pause', 'monitor-churn', '--note', 'maintenance')).toMatchObject({
      code: 0,
      out: 'paused monitor-churn\n',
    });
    const listed = await cli('schedules', 'list', '--json');
    expect(listed.code).toBe(0);
    const entries = JSON.parse(listed.out) as { id: string; paused: boolean; note: string; workflowType: string }[];
    expect(entries.find((e) => e.id === 'monitor-churn')).toMatchObject({ paused: true, note: 'maintenance', workflowType: 'monitor' });
    expect((await cli('schedules', 'list')).out).toMatch(/^monitor-churn {2}monitor {2}paused \(maintenance\)/m);
    expect(await cli('schedules', 'resume', 'monitor-churn')).toMatchObject({ code: 0 });
    expect((await stack.client.schedule.getHandle('monitor-churn').describe()).state.paused).toBe(false);
    expect(await cli('schedules', 'pause', 'no-such-schedule')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/no schedule no-such-schedule/),
    });
    expect((await cli('schedules', 'backfill', 'monitor-churn', '--from', 'yesterday')).code).toBe(2);
    expect((await cli('schedules')).code).toBe(2);
  });
});
