// The dataLanded trigger of a pipeline: batches landing on a subscribed source start runs of the
// pipeline's latest spec, debounced by rows, one run per landed log offset, never two for the same.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import { recordHistoryIfAsked } from '../helpers/histories';
import { workflows, type PipelineSpec } from '../../api';
import { pipelineTriggerQuery } from '../../api/messages';
import { ingestWorkflowId } from '../../api/ids';
import { pipelineTriggerWorkflowId } from '../../api/workflows/pipelineTrigger';
import { intervalSeconds, triggerInputOf } from '../../activities/pipeline/triggers';
import { runCli } from '../../client/cli';
import { pollUntil } from '../../client/poll';
import { SluiceClient } from '../../client/sluiceClient';
import { stackEnv, startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

const event = (i: number) => ({
  id: `t-${i}`,
  ts: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
  user_id: i,
  user_email: `u${i}@example.com`,
  page: '/home',
  duration_ms: 1000 + i,
  country: 'DE',
  device: 'mobile',
  converted: false,
  revenue: 0,
});

describe('pipeline triggers: dataLanded', () => {
  let stack: TestStack;
  let client: SluiceClient;
  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: { ...stack.config, databaseUrl: stack.db.url }, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await client?.close();
    await stack?.close();
  });

  it('reads the debounce of a spec', () => {
    expect(intervalSeconds('90s')).toBe(90);
    expect(intervalSeconds('2h')).toBe(7200);
    expect(() => intervalSeconds('2w')).toThrow(/not an interval/);
    const spec: PipelineSpec = { name: 'p', sources: [{ source: 'page_views' }], triggers: { dataLanded: { minRows: 5, maxWait: '10m' } } };
    expect(triggerInputOf(spec)).toEqual({ pipeline: 'p', minRows: 5, maxWaitSeconds: 600 });
    expect(triggerInputOf({ name: 'p', sources: [{ source: 'page_views' }] })).toBeUndefined();
  });

  it('starts one run once minRows rows have landed, keyed by the last log offset; a re-sent batch starts nothing', async () => {
    await client.applyPipeline({ name: 'on_landing', sources: [{ source: 'page_views' }], triggers: { dataLanded: { minRows: 5 } } });
    // a pipeline that does not subscribe is not started
    await client.applyPipeline({ name: 'not_subscribed', sources: [{ source: 'page_views' }] });
    const trigger = stack.client.workflow.getHandle(pipelineTriggerWorkflowId('on_landing'));

    const first = await client.ingest('page_views', [event(1), event(2), event(3)], { batchId: 'b1' });
    expect(first.accepted).toBe(3);
    const afterFirst = await pollUntil('the trigger to count the first batch', async () => {
      const s = await trigger.query(pipelineTriggerQuery).catch(() => undefined);
      return s && s.pendingRows === 3 ? s : undefined;
    });
    expect(afterFirst.started).toEqual([]);

    const second = await client.ingest('page_views', [event(4), event(5), event(6)], { batchId: 'b2' });
    const runId = `pipeline-on_landing-landed-${second.toSeq}`;
    const state = await pollUntil('the trigger to start a run', async () => {
      const s = await trigger.query(pipelineTriggerQuery);
      return s.started.length > 0 ? s : undefined;
    });
    expect(state).toMatchObject({ pendingRows: 0, lastToSeq: second.toSeq, started: [runId] });
    const result = await client.handle(workflows.pipeline, runId).result();
    await recordHistoryIfAsked(stack.client, pipelineTriggerWorkflowId('on_landing'), 'pipelineTrigger');
    // the source's ingest workflow so far: two batches answered before their dataLanded went out
    await recordHistoryIfAsked(stack.client, ingestWorkflowId('page_views'), 'ingest.answerFirst');
    expect(result).toBeDefined();
    const desc = await stack.client.workflow.getHandle(runId).describe();
    expect(desc.memo).toBeDefined();

    // the same events again: duplicates land nothing, so nothing is signalled and nothing starts
    const again = await client.ingest('page_views', [event(4), event(5), event(6)], { batchId: 'b3' });
    expect(again.duplicates).toBe(3);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await trigger.query(pipelineTriggerQuery)).started).toEqual([runId]);
    const list = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowType = 'pipeline'` })) list.push(w.workflowId);
    expect(list).toEqual([runId]);
  });

  it("a spec's schedules become Temporal Schedules of the applied version: applying the same spec again changes nothing", async () => {
    const spec: PipelineSpec = {
      name: 'scheduled',
      sources: [{ source: 'page_views' }],
      schedules: [
        { name: 'nightly', cron: '15 2 * * *', reason: 'nightly retrain' },
        { name: 'hourly', every: '1h' },
      ],
    };
    const first = await client.applyPipeline(spec);
    expect(first.schedules).toEqual({
      created: ['pipeline-scheduled-nightly', 'pipeline-scheduled-hourly'],
      updated: [],
      unchanged: [],
      deleted: [],
    });
    const again = await client.applyPipeline(spec);
    expect(again.version).toBe(first.version);
    expect(again.schedules).toEqual({
      created: [],
      updated: [],
      unchanged: ['pipeline-scheduled-nightly', 'pipeline-scheduled-hourly'],
      deleted: [],
    });
    const d = await stack.client.schedule.getHandle('pipeline-scheduled-nightly').describe();
    expect(d.action).toMatchObject({ workflowType: 'pipeline', workflowId: 'pipeline-scheduled-schedule-nightly' });
    expect((d.action as { args?: unknown[] }).args?.[0]).toEqual({
      pipeline: 'scheduled',
      specVersion: first.version,
      triggerKey: 'schedule-nightly',
      reason: 'nightly retrain',
    });
    // a new version moves the schedules to it
    const v2 = await client.applyPipeline({ ...spec, description: 'v2' });
    expect(v2.version).toBe(first.version + 1);
    expect(v2.schedules.updated.sort()).toEqual(['pipeline-scheduled-hourly', 'pipeline-scheduled-nightly']);

    // a version without `hourly`: its schedule is deleted, `nightly` moves to the new version
    const v3spec: PipelineSpec = { ...spec, description: 'v3', schedules: [spec.schedules![0]!] };
    const v3 = await client.applyPipeline(v3spec);
    expect(v3.schedules).toEqual({
      created: [],
      updated: ['pipeline-scheduled-nightly'],
      unchanged: [],
      deleted: ['pipeline-scheduled-hourly'],
    });
    await expect(stack.client.schedule.getHandle('pipeline-scheduled-hourly').describe()).rejects.toThrow(ScheduleNotFoundError);
    const nightly = await stack.client.schedule.getHandle('pipeline-scheduled-nightly').describe();
    expect((nightly.action as { args?: { specVersion: number }[] }).args?.[0]?.specVersion).toBe(v3.version);
    // the same spec again (here from the command line): nothing created, updated or deleted
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-spec-'));
    fs.writeFileSync(path.join(dir, 'p.yaml'), JSON.stringify(v3spec));
    let out = '';
    const env = stackEnv(stack);
    expect(await runCli(['pipelines', 'apply', path.join(dir, 'p.yaml')], { out: (t) => (out += t), err: () => undefined, env })).toBe(0);
    expect(out).toBe(
      `unchanged: scheduled v${v3.version} is this spec (sha256 ${v3.sha256.slice(0, 12)})\nschedules: 0 created, 0 updated, 1 unchanged, 0 deleted\n`,
    );
    expect((await stack.client.schedule.getHandle('pipeline-scheduled-nightly').describe()).info.lastUpdatedAt).toEqual(
      nightly.info.lastUpdatedAt,
    );
    // a version with no schedules at all: the command line still deletes the last one, and says so
    fs.writeFileSync(path.join(dir, 'p.yaml'), JSON.stringify({ ...spec, description: 'v4', schedules: [] }));
    out = '';
    expect(await runCli(['pipelines', 'apply', path.join(dir, 'p.yaml')], { out: (t) => (out += t), err: () => undefined, env })).toBe(0);
    expect(out).toMatch(
      /schedules: 0 created, 0 updated, 0 unchanged, 1 deleted\n {2}deleted pipeline-scheduled-nightly \(no longer in the spec\)\n$/,
    );
    await expect(stack.client.schedule.getHandle('pipeline-scheduled-nightly').describe()).rejects.toThrow(ScheduleNotFoundError);
  });
});
