// The `pipeline` workflow end to end on the real stack: a spec applied once, run as child
// workflows (and as activities of the pipeline, `execution: inline`); a failure planted in
// `train`, the worker "fixed and restarted", the run rerun from `train` with the Temporal CLI and
// again with the client's update; a blocking validation; one run per trigger key; search
// attributes, memo links a browser opens, the status query.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createHealthActivities } from '../../activities/health';
import { LocalArtifactStore } from '../../activities/artifacts';
import { recordRunEvents } from '../../activities/runEvents';
import { createTrainActivities } from '../../activities/train/activities';
import { workflows, type PipelineSpec, type PipelineStatus } from '../../api';
import { SluiceDataset, SluiceModel, SluicePipeline, SluiceStatus, SluiceStep } from '../../api/searchAttributes';
import { runCli } from '../../client/cli';
import { pollUntil } from '../../client/poll';
import { SluiceClient } from '../../client/sluiceClient';
import { cachedCliPath } from '../../scripts/provision/temporal';
import { ContractRegistry } from '../../contracts/registry';
import { loadConfig } from '../../config';
import { startIngestHttpServer, type IngestHttpServer } from '../../workers/httpIngest';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { recordHistoryIfAsked } from '../helpers/histories';

const TOKEN = 'pipeline-test-token';
const DEVICES = ['desktop', 'mobile', 'tablet'];
const COUNTRIES = ['DE', 'FR', 'US', 'JP'];
const PAGES = ['/', '/search', '/cart', '/help'];

/** Page views that pass the page_views contract's suite; `badRevenue` plants revenue without a conversion (an `error` expectation). */
function pageViews(n: number, first: number, badRevenue = 0): object[] {
  return Array.from({ length: n }, (_, k) => {
    const i = first + k;
    return {
      id: `pv-${i}`,
      ts: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
      user_id: i % 97,
      user_email: `u${i % 97}@example.com`,
      page: PAGES[i % PAGES.length],
      duration_ms: 1000 + ((i * 37) % 5000),
      country: COUNTRIES[(i * 7) % COUNTRIES.length],
      device: DEVICES[(i + (i % 5 === 0 ? 1 : 0)) % DEVICES.length],
      converted: k < badRevenue ? false : i % 4 === 0,
      revenue: k < badRevenue ? 9.99 : i % 4 === 0 ? 12.5 : 0,
    };
  });
}

const TRANSFORM_SQL = `SELECT seq, payload->>'page' AS page, payload->>'country' AS country, payload->>'device' AS device,
  (payload->>'duration_ms')::bigint AS duration_ms
  FROM sluice.raw_events WHERE source = 'page_views' AND seq BETWEEN $1 AND $2`;

function spec(name: string): PipelineSpec {
  return {
    name,
    sources: [{ source: 'page_views' }],
    transforms: [{ name: 'pv_typed', version: 1, sql: TRANSFORM_SQL }],
    validation: { suite: 'page_views', on: { log: 'page_views' } },
    dataset: {
      transform: 'pv_typed',
      spec: {
        features: [
          { name: 'page', kind: 'categorical' },
          { name: 'country', kind: 'categorical' },
          { name: 'duration_ms', kind: 'numeric' },
        ],
        label: 'device',
        task: 'multiclass',
      },
    },
    train: { model: 'pv_device', trainer: { trainer: 'logistic_regression', maxEpochs: 20 }, seed: 7, device: 'gpu' },
  };
}

describe('pipeline', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let http: IngestHttpServer;
  let gpu: { worker: Worker; running: Promise<void>; connection: NativeConnection } | undefined;
  const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pipeline-'));
  let plantedFailures = 0;

  /** A GPU worker; `planted` makes trainModel fail (permanently) as a bug would, until the worker is replaced. */
  async function startGpuWorker(planted: boolean): Promise<void> {
    const connection = await NativeConnection.connect({ address: testTemporalAddress() });
    const deps = {
      pool: stack.db.pool,
      artifacts: new LocalArtifactStore(artifactsDir),
      log: () => undefined,
    };
    const train = createTrainActivities(deps);
    const activities = recordRunEvents(stack.db.pool, {
      probeRuntime: createHealthActivities({ ...deps, config: stack.config } as never).probeRuntime,
      ...train,
      trainModel: planted
        ? async () => {
            plantedFailures += 1;
            throw ApplicationFailure.create({ type: 'PLANTED_BUG', nonRetryable: true, message: 'planted bug in trainModel' });
          }
        : train.trainModel,
    });
    const worker = await Worker.create({
      connection,
      namespace: stack.config.temporal.namespace,
      taskQueue: stack.config.taskQueues.gpu,
      activities,
    });
    gpu = { worker, running: worker.run(), connection };
  }

  async function stopGpuWorker(): Promise<void> {
    if (!gpu) return;
    gpu.worker.shutdown();
    await gpu.running;
    await gpu.connection.close();
    gpu = undefined;
  }

  /** SLUICE_RECORD_HISTORIES=1 refreshes test/histories/<name>.json (the replay test's inputs) from these runs. */
  const recordHistory = (workflowId: string, name: string): Promise<void> => recordHistoryIfAsked(client.temporal, workflowId, name);

  const runEventCount = async (where: string, params: unknown[] = []): Promise<number> =>
    (await stack.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sluice.run_events WHERE ${where}`, params)).rows[0]!.n;

  const statusOf = (workflowId: string): Promise<PipelineStatus> => client.pipelineStatus(workflowId);
  const waitState = (workflowId: string, pred: (s: PipelineStatus) => boolean, what: string): Promise<PipelineStatus> => {
    let last: PipelineStatus | undefined;
    return pollUntil(
      what,
      async () => {
        last = await statusOf(workflowId);
        return pred(last) ? last : undefined;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 300,
        lastSeen: () => JSON.stringify(last?.steps.map((s) => [s.step, s.state, s.attempt, s.error?.message])),
      },
    );
  };

  beforeAll(async () => {
    http = await startIngestHttpServer({
      config: { artifactsDir, httpIngest: { token: TOKEN } },
      client: { ingestFile: () => Promise.reject(new Error('not in this test')) },
      contracts: ContractRegistry.fromDirectory(),
      port: 0,
      host: '127.0.0.1',
      log: () => undefined,
    });
    const base = loadConfig();
    stack = await startTestStack({
      queues: ['cpu'],
      config: { artifactsDir, httpIngest: { ...base.httpIngest, token: TOKEN, publicUrl: `http://127.0.0.1:${http.port}` } },
    });
    client = await SluiceClient.connect({ config: { ...stack.config, databaseUrl: stack.db.url } });
    await startGpuWorker(true);
  });

  afterAll(async () => {
    await stopGpuWorker();
    await client?.close();
    await stack?.close();
    await http?.close();
  });

  it('applies a spec once: the same spec again is the same version; a bad one names file, line and field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-spec-'));
    fs.writeFileSync(path.join(dir, 't.sql'), TRANSFORM_SQL);
    const { transforms: _t, ...rest } = spec('applied');
    const yaml = `${JSON.stringify({ ...rest, transforms: [{ name: 'pv_typed', version: 1, sqlFile: 't.sql' }] }, null, 2)}\n`;
    fs.writeFileSync(path.join(dir, 'p.yaml'), yaml);
    const io = { out: jest.fn(), err: jest.fn(), env: { ...process.env, DATABASE_URL: stack.db.url } };
    const text = (f: jest.Mock) => f.mock.calls.map((c) => String(c[0])).join('');
    expect(await runCli(['pipelines', 'apply', path.join(dir, 'p.yaml'), '--json'], io)).toBe(0);
    const first = JSON.parse(text(io.out)) as { version: number; created: boolean; sha256: string };
    expect(first).toMatchObject({ version: 1, created: true });
    io.out.mockClear();
    expect(await runCli(['pipelines', 'apply', path.join(dir, 'p.yaml'), '--json'], io)).toBe(0);
    expect(JSON.parse(text(io.out))).toMatchObject({ version: 1, created: false, sha256: first.sha256 });
    // the SQL file is part of the spec: changing it is a new version, and the diff shows where
    fs.writeFileSync(path.join(dir, 't.sql'), `${TRANSFORM_SQL}\n`);
    io.out.mockClear();
    expect(await runCli(['pipelines', 'apply', path.join(dir, 'p.yaml'), '--json'], io)).toBe(0);
    expect(JSON.parse(text(io.out))).toMatchObject({ version: 2, created: true });
    io.out.mockClear();
    expect(await runCli(['pipelines', 'show', 'applied', '--diff', '1', '2', '--json'], io)).toBe(0);
    expect((JSON.parse(text(io.out)) as { path: string }[]).map((c) => c.path).sort()).toEqual([
      '/transforms/0/sql',
      '/transforms/0/sqlSha256',
    ]);
    // a bad spec: nothing stored, and the error says where
    fs.writeFileSync(path.join(dir, 'bad.yaml'), yaml.replace('"seed": 7', '"seed": -1'));
    expect(await runCli(['pipelines', 'apply', path.join(dir, 'bad.yaml')], io)).toBe(1);
    const seedLine = yaml.split('\n').findIndex((l) => l.includes('"seed": 7')) + 1;
    expect(text(io.err)).toMatch(new RegExp(`bad\\.yaml:${seedLine}:\\d+: /train/seed: `));
    io.out.mockClear();
    expect(await runCli(['pipelines', 'list', '--json'], io)).toBe(0);
    expect(JSON.parse(text(io.out))).toEqual([expect.objectContaining({ name: 'applied', version: 2 })]);
    // the table is append-only
    await expect(stack.db.pool.query("UPDATE sluice.pipeline_specs SET applied_by = 'x'")).rejects.toThrow();
  });

  it('runs the steps as child workflows; a planted train failure is rerun from train (CLI signal, then client update) without running ingest, transform or validate again', async () => {
    const landed = await client.ingest('page_views', pageViews(400, 1), { batchId: 'pv-1' });
    expect(landed.accepted).toBe(400);
    const applied = await client.applyPipeline(spec('demo'));
    const run = await client.startPipeline('demo', {
      triggerKey: 'manual-1',
      reason: 'first run',
      version: applied.version,
      rerunWindowAfterFailureSeconds: 600,
      rerunWindowAfterSuccessSeconds: 60,
    });
    expect(run).toMatchObject({ workflowId: 'pipeline-demo-manual-1', started: true });
    const wf = run.workflowId;

    // the planted bug fails train; the run waits for a rerun, and says failed meanwhile
    const failed = await waitState(wf, (s) => s.state === 'failed', 'train to fail');
    expect(failed.steps.map((s) => [s.step, s.state])).toEqual([
      ['ingest', 'completed'],
      ['transform', 'completed'],
      ['validate', 'completed'],
      ['snapshot', 'completed'],
      ['train', 'failed'],
    ]);
    expect(failed.steps[4]!.error?.message).toContain('planted bug in trainModel');
    expect(failed.steps[0]!.output?.logRanges?.page_views).toEqual({ fromSeq: landed.fromSeq, toSeq: landed.toSeq });
    expect(failed.steps[1]!.output?.transforms).toEqual([{ name: 'pv_typed', version: 1, watermark: expect.any(String) }]);
    const datasetId = failed.steps[3]!.output?.datasetId;
    expect(datasetId).toMatch(/^[0-9a-f]{64}$/);
    expect(failed.steps[3]!.counts.rows).toBe(400);
    for (const s of failed.steps) expect(s.durationMs).toEqual(expect.any(Number));
    const described = await client.temporal.workflow.getHandle(wf).describe();
    expect(described.typedSearchAttributes.get(SluiceStatus)).toBe('failed');
    expect(described.typedSearchAttributes.get(SluiceStep)).toBe('train');
    expect(described.typedSearchAttributes.get(SluicePipeline)).toBe('demo');
    expect(described.typedSearchAttributes.get(SluiceDataset)).toBe(datasetId!.slice(0, 12));
    // children carry the pipeline's name; the failed train child says failed
    const validateChild = await client.temporal.workflow.getHandle(`${wf}/validate/1`).describe();
    expect(validateChild.typedSearchAttributes.get(SluicePipeline)).toBe('demo');
    expect(validateChild.typedSearchAttributes.get(SluiceStatus)).toBe('completed');
    const trainChild = await client.temporal.workflow.getHandle(`${wf}/train/1`).describe();
    expect([trainChild.status.name, trainChild.typedSearchAttributes.get(SluiceStatus)]).toEqual(['FAILED', 'failed']);
    expect(plantedFailures).toBe(1);

    // the data docs link opens in a browser (signed link, right content type); without it: 401
    const dataDocs = failed.steps[2]!.links.dataDocs!;
    expect(dataDocs).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${http.port}/v1/artifacts/[0-9a-f]{64}\\?sig=[0-9a-f]{32}$`));
    const page = await fetch(dataDocs);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(await page.text()).toContain('<html');
    expect((await fetch(dataDocs.replace(/\?.*$/, ''))).status).toBe(401);
    const forged = dataDocs.slice(0, -1) + (dataDocs.endsWith('0') ? '1' : '0');
    expect((await fetch(forged)).status).toBe(401);
    expect(
      (await fetch(`http://127.0.0.1:${http.port}/v1/artifacts/${'0'.repeat(64)}`, { headers: { authorization: `Bearer ${TOKEN}` } }))
        .status,
    ).toBe(404);
    expect(((await described.memo) as { links?: Record<string, string> }).links?.dataDocs).toBe(dataDocs);

    // refused: a step that is not in the spec
    expect(await client.rerun(wf, { fromStep: 'deploy', reason: 'no such step' })).toEqual({
      accepted: false,
      reason: expect.stringContaining('unknown step deploy'),
    });

    // "fix the code and restart the worker"
    const before = {
      validate: await runEventCount("workflow_type = 'validate'"),
      snapshot: await runEventCount("workflow_type = 'snapshot'"),
      ingest: await runEventCount("step = 'catchUpIngest'"),
      transform: await runEventCount("step IN ('prepareTransform', 'awaitTransformCatchUp', 'catchUpTransform')"),
    };
    await stopGpuWorker();
    await startGpuWorker(false);

    // rerun from train with the Temporal CLI, as the README shows
    const cli = spawnSync(
      cachedCliPath(stack.config.cacheDir),
      [
        'workflow',
        'signal',
        '--workflow-id',
        wf,
        '--name',
        'rerun',
        '--input',
        JSON.stringify({ fromStep: 'train', reason: 'fixed the trainer, worker restarted' }),
        '--address',
        testTemporalAddress(),
        '--namespace',
        stack.config.temporal.namespace,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect({ status: cli.status, stderr: cli.stderr }).toEqual({ status: 0, stderr: '' });
    const fixed = await waitState(wf, (s) => s.state === 'waiting', 'the rerun to finish');
    expect(fixed.steps.map((s) => [s.step, s.state, s.attempt])).toEqual([
      ['ingest', 'completed', 1],
      ['transform', 'completed', 1],
      ['validate', 'completed', 1],
      ['snapshot', 'completed', 1],
      ['train', 'completed', 2],
    ]);
    expect(fixed.reruns).toEqual([
      { fromStep: 'train', reason: 'fixed the trainer, worker restarted', via: 'signal', at: expect.any(String) },
    ]);
    expect(fixed.steps[4]!.output?.model).toMatchObject({ name: 'pv_device', version: 1 });
    // run events prove it: ingest, transform, validate and snapshot did not run again; train did, and succeeded
    expect({
      validate: await runEventCount("workflow_type = 'validate'"),
      snapshot: await runEventCount("workflow_type = 'snapshot'"),
      ingest: await runEventCount("step = 'catchUpIngest'"),
      transform: await runEventCount("step IN ('prepareTransform', 'awaitTransformCatchUp', 'catchUpTransform')"),
    }).toEqual(before);
    expect(await runEventCount("workflow_id = $1 AND step = 'trainModel' AND status = 'failed'", [`${wf}/train/1`])).toBe(1);
    expect(await runEventCount("workflow_id = $1 AND step = 'trainModel' AND status = 'completed'", [`${wf}/train/2`])).toBe(1);
    expect(await runEventCount("workflow_id = $1 AND step = 'registerModel' AND status = 'completed'", [`${wf}/train/2`])).toBe(1);
    expect(
      await runEventCount("workflow_id = $1 AND step = 'recordPipelineRerun' AND status = 'completed' AND details->>'reason' = $2", [
        wf,
        'fixed the trainer, worker restarted',
      ]),
    ).toBe(1);
    const done = await client.temporal.workflow.getHandle(wf).describe();
    expect(done.typedSearchAttributes.get(SluiceStatus)).toBe('completed');
    expect(done.typedSearchAttributes.get(SluiceModel)).toBe('pv_device@1');
    const card = (done.memo as { links: Record<string, string> }).links.modelCard!;
    const cardPage = await fetch(card);
    expect([cardPage.status, cardPage.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    const onnx = await fetch((done.memo as { links: Record<string, string> }).links.onnx!);
    expect([onnx.status, onnx.headers.get('content-type')]).toEqual([200, 'application/octet-stream']);
    expect(Buffer.from(await onnx.arrayBuffer()).length).toBeGreaterThan(0);

    // a finished run takes a rerun too: by update, with an answer; a second one while it runs is refused
    expect(await client.rerun(wf, { fromStep: 'train', reason: 'retrain on the same snapshot' })).toEqual({ accepted: true, rerun: 2 });
    expect(await client.rerun(wf, { fromStep: 'snapshot', reason: 'too soon' })).toEqual({
      accepted: false,
      reason: expect.stringContaining('a run is in progress'),
    });
    const again = await waitState(wf, (s) => s.state === 'waiting' && s.reruns.length === 2, 'the second rerun to finish');
    expect(again.steps.map((s) => s.attempt)).toEqual([1, 1, 1, 1, 3]);
    expect(again.reruns[1]).toMatchObject({ fromStep: 'train', via: 'update', reason: 'retrain on the same snapshot' });
    expect(again.steps[4]!.output?.model?.version).toBe(2);

    // the same trigger key never starts a second run
    expect(await client.startPipeline('demo', { triggerKey: 'manual-1', reason: 'again' })).toMatchObject({
      started: false,
      runId: run.runId,
    });
    // after its window the run completes with every step's references
    const result = await client.handle(workflows.pipeline, wf).result();
    expect(result.steps.map((s) => s.state)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
    await recordHistory(wf, 'pipeline.rerun');
    expect(await client.startPipeline('demo', { triggerKey: 'manual-1', reason: 'after it closed' })).toMatchObject({
      started: false,
      runId: run.runId,
    });
  });

  it('a spec with a deploy step trains, then deploys the model to its endpoint through the deploy workflow (deploy-<endpoint>)', async () => {
    await stopGpuWorker();
    await startGpuWorker(false);
    if ((await stack.db.pool.query("SELECT 1 FROM sluice.raw_events WHERE source = 'page_views'")).rowCount === 0)
      await client.ingest('page_views', pageViews(400, 1), { batchId: 'pv-1' });
    const applied = await client.applyPipeline({
      ...spec('with_deploy'),
      deploy: { endpoint: 'pv', policy: { gate: { metric: 'accuracy', margin: 0 }, onConflict: 'refuse' } },
    });
    const run = await client.startPipeline('with_deploy', {
      triggerKey: 'k',
      reason: 'deploy',
      version: applied.version,
      rerunWindowAfterSuccessSeconds: 0,
      rerunWindowAfterFailureSeconds: 0,
    });
    await client.handle(workflows.pipeline, run.workflowId).result();
    const s = await client.pipelineStatus(run.workflowId);
    expect(s.steps.map((x) => x.state)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed', 'completed']);
    const trained = s.steps.find((x) => x.step === 'train')?.output?.model;
    const deployStep = s.steps.find((x) => x.step === 'deploy');
    expect(deployStep?.workflowId).toBe('deploy-pv');
    // no champion before: the gate passes, says so, and the trained version is promoted
    expect(deployStep?.output?.deployment).toEqual({
      endpoint: 'pv',
      model: 'pv_device',
      version: trained?.version,
      status: 'promoted',
      championAfter: trained?.version,
    });
    const { rows } = await stack.db.pool.query<{ version: number }>(
      "SELECT version FROM sluice.model_aliases WHERE name = 'pv_device' AND alias = 'champion'",
    );
    expect(rows).toEqual([{ version: trained?.version }]);
  });

  it('execution: inline runs validate, snapshot and train as activities of the pipeline (no child workflows): the same dataset as the child-workflow run; a planted train failure is rerun from train', async () => {
    await stopGpuWorker();
    await startGpuWorker(true);
    const planted = plantedFailures;
    const childRun = await statusOf('pipeline-demo-manual-1');
    const applied = await client.applyPipeline({ ...spec('inline_demo'), execution: 'inline' });
    const run = await client.startPipeline('inline_demo', {
      triggerKey: 'k1',
      reason: 'inline',
      version: applied.version,
      rerunWindowAfterFailureSeconds: 600,
      rerunWindowAfterSuccessSeconds: 0,
    });
    const wf = run.workflowId;
    const failed = await waitState(wf, (s) => s.state === 'failed', 'train to fail');
    expect(failed.steps.map((s) => [s.step, s.state, s.workflowId])).toEqual([
      ['ingest', 'completed', null],
      ['transform', 'completed', null],
      ['validate', 'completed', null],
      ['snapshot', 'completed', null],
      ['train', 'failed', null],
    ]);
    expect(failed.steps[4]!.error?.message).toContain('planted bug in trainModel');
    expect(plantedFailures).toBe(planted + 1);
    // the same spec over the same rows gives the same dataset as the child workflows did
    expect(failed.steps[3]!.output?.datasetId).toBe(childRun.steps[3]!.output?.datasetId);
    expect(failed.steps[2]!.counts).toEqual(childRun.steps[2]!.counts);
    // no child workflow ran: the steps' activities are in the pipeline's own history, by step and execution
    await expect(client.temporal.workflow.getHandle(`${wf}/validate/1`).describe()).rejects.toThrow(/not found/i);
    const scheduled = async (): Promise<string[]> =>
      ((await client.temporal.workflow.getHandle(wf).fetchHistory()).events ?? []).flatMap((e) =>
        e.activityTaskScheduledEventAttributes?.activityId ? [e.activityTaskScheduledEventAttributes.activityId] : [],
      );
    expect(await scheduled()).toEqual(
      expect.arrayContaining(['validate/1/pipelineValidate', 'snapshot/1/pipelineSnapshot', 'train/1/trainModel']),
    );
    // links come with the steps' results: the data docs open in a browser
    const dataDocs = await fetch(failed.steps[2]!.links.dataDocs!);
    expect([dataDocs.status, dataDocs.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(failed.steps[3]!.links.dataset).toMatch(/\/v1\/artifacts\/[0-9a-f]{64}\?sig=/);
    expect(await runEventCount("workflow_id = $1 AND step = 'pipelineValidate' AND status = 'completed'", [wf])).toBe(1);
    expect(await runEventCount("workflow_id = $1 AND step = 'trainModel' AND status = 'failed'", [wf])).toBe(1);

    // fixed and restarted; rerun from train by update: validate and snapshot do not run again
    await stopGpuWorker();
    await startGpuWorker(false);
    expect(await client.rerun(wf, { fromStep: 'train', reason: 'fixed the trainer' })).toEqual({ accepted: true, rerun: 1 });
    const result = await client.handle(workflows.pipeline, wf).result();
    expect(result.steps.map((s) => [s.step, s.state, s.attempt])).toEqual([
      ['ingest', 'completed', 1],
      ['transform', 'completed', 1],
      ['validate', 'completed', 1],
      ['snapshot', 'completed', 1],
      ['train', 'completed', 2],
    ]);
    expect(await runEventCount("workflow_id = $1 AND step IN ('pipelineValidate', 'pipelineSnapshot')", [wf])).toBe(4);
    expect(await runEventCount("workflow_id = $1 AND step = 'trainModel' AND status = 'completed'", [wf])).toBe(1);
    expect(await runEventCount("workflow_id = $1 AND step = 'pipelineRegisterModel' AND status = 'completed'", [wf])).toBe(1);
    expect(await scheduled()).toEqual(expect.arrayContaining(['train/2/trainModel', 'train/2/evaluateModel', 'train/2/registerModel']));
    const model = result.steps[4]!.output?.model;
    const done = await client.temporal.workflow.getHandle(wf).describe();
    expect([done.typedSearchAttributes.get(SluiceStatus), done.typedSearchAttributes.get(SluiceModel)]).toEqual([
      'completed',
      `pv_device@${model?.version}`,
    ]);
    const card = await fetch((done.memo as { links: Record<string, string> }).links.modelCard!);
    expect([card.status, card.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    await recordHistory(wf, 'pipeline.inline');
  });

  it('a validation with failed error expectations stops the run before snapshot, naming them in the failure and the memo', async () => {
    await client.ingest('page_views', pageViews(50, 10_000, 5), { batchId: 'pv-bad' });
    const applied = await client.applyPipeline(spec('blocked'));
    const run = await client.startPipeline('blocked', {
      triggerKey: 'tick-1',
      reason: 'bad data',
      version: applied.version,
      rerunWindowAfterFailureSeconds: 20,
    });
    const s = await waitState(run.workflowId, (x) => x.state === 'failed', 'validation to block');
    expect(s.steps.map((x) => [x.step, x.state])).toEqual([
      ['ingest', 'completed'],
      ['transform', 'completed'],
      ['validate', 'failed'],
      ['snapshot', 'pending'],
      ['train', 'pending'],
    ]);
    expect(s.steps[2]!.output?.validation?.failedErrors).toContain('revenue_needs_conversion');
    expect(s.steps[2]!.links.dataDocs).toMatch(/^http:\/\//);
    // a step after the one that failed was not reached
    expect(await client.rerun(run.workflowId, { fromStep: 'train', reason: 'skip validation' })).toEqual({
      accepted: false,
      reason: expect.stringContaining('step train was not reached: step validate is failed'),
    });
    // the CLI: the status as text, and the refused rerun's exit code
    const io = {
      out: jest.fn(),
      err: jest.fn(),
      env: { ...process.env, TEMPORAL_ADDRESS: testTemporalAddress(), TEMPORAL_NAMESPACE: stack.config.temporal.namespace },
    };
    expect(await runCli(['pipelines', 'status', 'blocked', '--key', 'tick-1'], io)).toBe(0);
    expect(io.out.mock.calls.join('')).toMatch(/validate\s+failed\s+attempt 1/);
    expect(await runCli(['pipelines', 'rerun', run.workflowId, '--from', 'snapshot', '--reason', 'x'], io)).toBe(1);
    // the same trigger key from the CLI: the existing run, not a second one
    io.out.mockClear();
    expect(
      await runCli(['pipelines', 'start', 'blocked', '--key', 'tick-1', '--json'], {
        ...io,
        env: { ...io.env, DATABASE_URL: stack.db.url },
      }),
    ).toBe(0);
    expect(JSON.parse(io.out.mock.calls.join(''))).toMatchObject({ workflowId: run.workflowId, runId: run.runId, started: false });
    const memo = (await client.temporal.workflow.getHandle(run.workflowId).describe()).memo as Record<string, unknown>;
    expect(memo.failedExpectations).toContain('revenue_needs_conversion');
    const err = await client.temporal.workflow
      .getHandle(run.workflowId)
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('SLUICE_PIPELINE_STEP_FAILED');
    expect(cause.message).toContain('revenue_needs_conversion');
    expect(await runEventCount("workflow_type = 'snapshot' AND workflow_id LIKE $1", [`${run.workflowId}%`])).toBe(0);
    await recordHistory(run.workflowId, 'pipeline.blocked');
  });
  it('every workflow says failed in SluiceStatus before it fails: a transform whose SQL fails on the data (its status query too), a backfill, a registration, an ingest of an unknown source', async () => {
    const sa = (workflowId: string) => client.temporal.workflow.getHandle(workflowId).describe();
    await stack.db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
       SELECT 'sa_src', 'e' || g, now(), 'sa_src', '1.0.0', jsonb_build_object('k', CASE WHEN g = 3 THEN 'x' ELSE g::text END), 'b'
         FROM generate_series(1, 5) g`,
    );
    await client.registerTransform({
      name: 'bad_cast',
      version: 1,
      sources: ['sa_src'],
      sql: "SELECT seq, (payload->>'k')::int AS k FROM sluice.raw_events WHERE source = 'sa_src' AND seq BETWEEN $1 AND $2",
    });
    const transform = await pollUntil(
      'the transform to fail',
      async () => {
        const d = await sa('transform-bad_cast');
        return d.status.name === 'FAILED' ? d : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    expect(transform.typedSearchAttributes.get(SluiceStatus)).toBe('failed');
    expect((await client.transformStatus('bad_cast')).state).toBe('failed');
    await recordHistory('transform-bad_cast', 'transform.failed');

    // a backfill: its progress query answers at once, and its failure is said
    const backfill = await client.backfill({ transform: 'no_such_transform', version: 1 }, 'backfill-nope');
    expect((await client.backfillProgress('backfill-nope')).phase).toMatch(/preparing|failed/);
    await expect(backfill.result()).rejects.toThrow();
    const b = await sa('backfill-nope');
    expect([b.typedSearchAttributes.get(SluiceStatus), (await client.backfillProgress('backfill-nope')).phase]).toEqual([
      'failed',
      'failed',
    ]);
    await recordHistory('backfill-nope', 'backfill.failed');

    await expect(
      client.registerTransform({
        name: 'bad_sql',
        version: 1,
        sources: ['sa_src'],
        sql: 'SELECT seq, nope FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2',
      }),
    ).rejects.toThrow();
    expect((await sa('register-transform-bad_sql-v1')).typedSearchAttributes.get(SluiceStatus)).toBe('failed');

    await expect(client.ingest('no_contract_here', [{ a: 1 }], { batchId: 'b1' })).rejects.toThrow();
    const ingest = await pollUntil('the ingest workflow to fail', async () => {
      const d = await sa('ingest-no_contract_here');
      return d.status.name === 'FAILED' ? d : undefined;
    });
    expect(ingest.typedSearchAttributes.get(SluiceStatus)).toBe('failed');
  });
});
