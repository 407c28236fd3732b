/** Worker log lines in JSON: every line an object, activity lines with their workflow, run and step. */
import { log as activityLog } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLogLine } from '../../activities/log';
import { createRuntimeLogger } from '../../workers/logging';

const info = {
  attempt: 2,
  activityType: 'ingestEvents',
  activityId: '7',
  workflowType: 'ingest',
  workflowExecution: { workflowId: 'ingest-page_views', runId: 'run-42' },
};

describe('worker logs in JSON', () => {
  it("a log of an activity (the SDK's `log`) carries workflowId, runId and step, and no task token", async () => {
    const lines: string[] = [];
    const env = new MockActivityEnvironment(info, { logger: createRuntimeLogger('json', 'INFO', (l) => lines.push(l)) });
    await env.run(async () => activityLog.info('batch appended', { rows: 3 }));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'INFO',
      message: 'batch appended',
      workflowId: 'ingest-page_views',
      runId: 'run-42',
      step: 'ingestEvents',
      attempt: 2,
      rows: 3,
    });
    expect(new Date(line.time as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(line).not.toHaveProperty('taskToken');
    expect(Object.keys(line).slice(0, 3)).toEqual(['time', 'level', 'message']);
  });

  it("sluice's own log lines (deps.log) written inside an activity carry the same context", async () => {
    const env = new MockActivityEnvironment(info);
    const text = await env.run(async () => createLogLine('json', 'WARN', 'slow chunk', { message: 'not the message', ms: 900 }));
    expect(JSON.parse(text as string)).toEqual({
      time: expect.any(String),
      level: 'WARN',
      message: 'slow chunk', // a field cannot replace the line's message
      workflowId: 'ingest-page_views',
      runId: 'run-42',
      step: 'ingestEvents',
      attempt: 2,
      ms: 900,
    });
  });

  it("a failed activity's line keeps its error's type and message", async () => {
    const lines: string[] = [];
    const env = new MockActivityEnvironment(info, { logger: createRuntimeLogger('json', 'INFO', (l) => lines.push(l)) });
    const failure = Object.assign(new Error('row 7 is broken'), { type: 'SLUICE_TEST' });
    await expect(
      env.run(async () => {
        throw failure;
      }),
    ).rejects.toThrow('row 7 is broken');
    const failed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'WARN');
    expect(failed).toMatchObject({
      message: 'Activity failed',
      step: 'ingestEvents',
      error: { type: 'SLUICE_TEST', message: 'row 7 is broken' },
    });
  });

  it('outside an activity a JSON line has no activity context; the text format stays one readable line', () => {
    expect(JSON.parse(createLogLine('json', 'INFO', 'cpu worker ready'))).toEqual({
      time: expect.any(String),
      level: 'INFO',
      message: 'cpu worker ready',
    });
    expect(createLogLine('text', 'INFO', 'cpu worker ready', { queue: 'sluice-cpu' })).toBe(
      '[sluice worker] cpu worker ready {"queue":"sluice-cpu"}',
    );
  });
});
