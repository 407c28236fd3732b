/**
 * Pipeline benchmarks (`npm run bench -- pipeline [--scale 0.05]`), issue #12, in a scratch
 * database of their own, on the local stack:
 *  - step_overhead_ms: the p50 over every step of several runs of the real `pipeline` workflow
 *    code (and its real child workflows validate, snapshot, train) on a worker whose activities
 *    do nothing (each returns a canned result at once, wrapped in the run-event recording every
 *    sluice worker does), of the step's duration as the pipeline itself records it (its status:
 *    from the workflow task that starts the step to the one that sees it end), minus the same
 *    no-op functions called directly in-process. That is the orchestration a step costs: the
 *    activities (ingest: catchUpIngest; transform: catchUpTransform) and
 *    child workflows (input check + the work + linkArtifacts; train: train, evaluate, register)
 *    with the pipeline's own options. Deploy is not in the spec (it waits on an endpoint's lock
 *    and policy, not on orchestration).
 *  - pipeline_vs_sum: the wall time of the real pipeline (spec: page_views → transform → validate
 *    (the page_views suite on the log range) → snapshot → train (logistic regression, CPU queue,
 *    evaluation and registration inside the train workflow); no deploy) on 1,000,000 generated
 *    page views × scale, from start to result, ÷ the sum of the same steps run stand-alone one
 *    after the other on the same log in the same database, each as a user would start it by hand:
 *    the catch-up's read of the log range, the registration plus the `transform` workflow until
 *    its watermark reaches the end of the log, and the validate, snapshot and train workflows on
 *    the same inputs the pipeline builds (each round with a transform of its own, so its own
 *    table). One round before the pipeline and one after, the sum being their mean: the machine's
 *    load and PostgreSQL's cache drift during a run.
 *  - event_to_table_p99_ms: from the HTTP ingest endpoint's answer (POST /v1/sources/page_views/events)
 *    to the event's row in the derived table of a transform fed by what sluice provides for
 *    continuous transform (the ingest workflow's `dataLanded` signal waking the long-lived
 *    `transform` workflow), under 1,000 events/s sent open-loop (a batch every
 *    {@link LIVE_INTERVAL_MS} ms whatever the answers do); p50, p99 and the achieved rate.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { recordRunEvents } from '../../activities/runEvents';
import { registerTransformVersion } from '../../activities/transform/registry';
import { derivedTable } from '../../activities/transform/sqlText';
import { percentile } from '../../activities/evaluate/metrics';
import {
  dataLandedSignal,
  ingestWorkflowId,
  transformWorkflowId,
  type PipelineResult,
  type PipelineSpec,
  type PipelineStepName,
  type SnapshotResult,
  type TrainInput,
  type TrainResult,
  type ValidateInput,
  type ValidateResult,
} from '../../api';
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { httpSpoolDir, type SluiceConfig } from '../../config';
import { ContractRegistry } from '../../contracts/registry';
import { createScratchDatabase, type ScratchDatabase } from '../../db/scratch';
import { createWorkerSet, type WorkerSet } from '../../workers/bootstrap';
import { startIngestHttpServer, type IngestHttpServer } from '../../workers/httpIngest';
import { timed, type BenchContext, type BenchResult, type BenchSuite } from './harness';
import { openLoopBatches, weightedPercentile } from './openLoop';

const SOURCE = 'page_views';
const TOKEN = 'bench-pipeline-token';
const LOAD_BATCH = 250_000;
/** Offered rate and batching of the event_to_table run. */
const LIVE_RATE = 1_000;
const LIVE_INTERVAL_MS = 1_000;
/** How often the derived table is read for the newest row during the event_to_table run. */
const LIVE_POLL_MS = 10;

const TRANSFORM_SQL = `SELECT seq, payload->>'page' AS page, payload->>'country' AS country, payload->>'device' AS device,
  (payload->>'duration_ms')::bigint AS duration_ms
  FROM sluice.raw_events WHERE source = '${SOURCE}' AND seq BETWEEN $1 AND $2`;

const DATASET_SPEC = {
  features: [
    { name: 'page', kind: 'categorical' as const },
    { name: 'country', kind: 'categorical' as const },
    { name: 'duration_ms', kind: 'numeric' as const },
  ],
  label: 'device',
  task: 'multiclass' as const,
};
const TRAINER = { trainer: 'logistic_regression' as const };
const SEED = 7;

/** The bench's pipeline: every step but deploy, training on the CPU queue (this process's worker). */
function benchSpec(name: string, transform: string, model: string): PipelineSpec {
  return {
    name,
    description: 'bench: page views typed, validated, snapshotted, a model of the device',
    sources: [{ source: SOURCE }],
    transforms: [{ name: transform, version: 1, sql: TRANSFORM_SQL }],
    validation: { suite: SOURCE, on: { log: SOURCE } },
    dataset: { transform, spec: DATASET_SPEC },
    train: { model, trainer: TRAINER, seed: SEED, device: 'cpu' },
  };
}

/** Page views that pass the page_views suite (revenue only on conversions), appended with INSERT … SELECT generate_series. */
async function loadPageViews(db: ScratchDatabase, total: number, log: (m: string) => void): Promise<void> {
  const pool = db.pool;
  for (let from = 1; from <= total; from += LOAD_BATCH) {
    const to = Math.min(total, from + LOAD_BATCH - 1);
    await pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
       SELECT $3, 'pv-' || g, t, 'page_views', '1.0.0',
         jsonb_build_object(
           'id', 'pv-' || g, 'ts', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'user_id', g % 10007,
           'user_email', 'u' || (g % 10007) || '@example.com', 'page', (ARRAY['/', '/search', '/cart', '/help'])[1 + g % 4],
           'referrer', CASE WHEN g % 3 = 0 THEN NULL ELSE 'https://example.com/' || (g % 100) END,
           'duration_ms', 1000 + (g * 37) % 5000, 'country', (ARRAY['DE', 'FR', 'US', 'JP'])[1 + (g * 7) % 4],
           'device', (ARRAY['desktop', 'mobile', 'tablet'])[1 + (g + CASE WHEN g % 5 = 0 THEN 1 ELSE 0 END) % 3],
           'converted', g % 4 = 0, 'revenue', CASE WHEN g % 4 = 0 THEN 12.5 ELSE 0 END),
         'bench-load'
       FROM (SELECT g, timestamptz '2026-01-01' + g * interval '1 second' AS t FROM generate_series($1::bigint, $2::bigint) g) s`,
      [from, to, SOURCE],
    );
    log(`log: ${to.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} page views`);
  }
  // as the log's owner: the worker may not vacuum it (a VACUUM it asks for is skipped with a warning,
  // leaving the planner without statistics for the freshly loaded log)
  await db.ownerPool().query('VACUUM (ANALYZE) sluice.raw_events');
}

async function watermarkOf(pool: Pool, name: string): Promise<string> {
  return (
    (
      await pool.query<{ s: string | null }>('SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = $1 AND version = 1', [
        name,
      ])
    ).rows[0]?.s ?? '0'
  );
}

const median = (xs: number[]): number => percentile(xs, 0.5);

interface Harness {
  db: ScratchDatabase;
  workers: WorkerSet;
  running: Promise<void>;
  client: SluiceClient;
  queues: { cpu: string; gpu: string };
  config: SluiceConfig;
  artifactsDir: string;
  tag: string;
  close(): Promise<void>;
}

async function startHarness(ctx: BenchContext, bundlePath: string): Promise<Harness> {
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_pipeline',
    applicationName: 'sluice-bench-pipeline',
  });
  const tag = randomBytes(4).toString('hex');
  const queues = { cpu: `bench-pipeline-${tag}`, gpu: `bench-pipeline-${tag}-gpu` };
  const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-pipeline-'));
  const config: SluiceConfig = {
    ...ctx.config,
    taskQueues: queues,
    artifactsDir,
    databaseUrl: db.url,
    ingestRoots: [httpSpoolDir(artifactsDir)],
    httpIngest: { ...ctx.config.httpIngest, token: TOKEN },
  };
  const cleanup: (() => Promise<void>)[] = [
    async () => {
      await db.drop();
      fs.rmSync(artifactsDir, { recursive: true, force: true });
    },
  ];
  const undo = async (): Promise<void> => {
    for (const c of cleanup.reverse()) await c().catch((err: Error) => ctx.log(`cleanup: ${err.message}`));
  };
  try {
    const workers = await createWorkerSet({
      config,
      address: ctx.stack.temporal.address,
      databaseUrl: db.url,
      queues: ['cpu'],
      migrate: false,
      workflowBundlePath: bundlePath,
      log: () => undefined,
    });
    const running = workers.run();
    cleanup.push(async () => {
      workers.shutdown();
      await running;
    });
    const client = await SluiceClient.connect({ config, address: ctx.stack.temporal.address, namespace: ctx.stack.temporal.namespace });
    cleanup.push(() => client.close());
    return { db, workers, running, client, queues, config, artifactsDir, tag, close: undo };
  } catch (err) {
    await undo();
    throw err;
  }
}

/**
 * The ingest workflow of a source has one id per Temporal namespace (`ingest-page_views`), not per
 * database, and the dev server keeps its workflows between runs: one left running by an aborted
 * bench run (on a task queue nobody polls any more) would make the pipeline's catch-up wait on it.
 * It is terminated; one on any other task queue is someone else's, and the bench stops instead.
 */
async function clearStaleIngestWorkflow(client: SluiceClient, log: (m: string) => void): Promise<void> {
  const handle = client.temporal.workflow.getHandle(ingestWorkflowId(SOURCE));
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return;
    throw err;
  }
  if (description.status.name !== 'RUNNING') return;
  if (!description.taskQueue.startsWith('bench-pipeline-'))
    throw new Error(
      `the Temporal server runs ${ingestWorkflowId(SOURCE)} on task queue ${description.taskQueue}: the pipeline bench ingests ${SOURCE} itself; run it against a server without that workflow`,
    );
  log(`terminating ${ingestWorkflowId(SOURCE)} left by an earlier bench run (task queue ${description.taskQueue})`);
  await handle.terminate('left by an earlier bench run');
}

// ---------------------------------------------------------------------------------------------
// step_overhead_ms

const HEX = (c: string): string => c.repeat(64);

/** Activities that do nothing: canned results shaped as the workflows read them; `specs` by pipeline name. */
function noOpActivities(specs: Record<string, PipelineSpec>) {
  const link = 'http://127.0.0.1/v1/artifacts/x';
  const acts = {
    async checkWorkflowInput(): Promise<void> {},
    async loadPipelineSpec(input: { pipeline: string }) {
      return { spec: specs[input.pipeline]!, sha256: HEX('0') };
    },
    async catchUpIngest(input: { source: string }) {
      return { source: input.source, fromSeq: '1', toSeq: '1000', runEventDetails: {} };
    },
    async catchUpTransform(input: { transform: string; version: number }) {
      return { name: input.transform, version: input.version, watermark: '1000', rowsBehind: 0, registered: false };
    },
    async linkArtifacts(input: Record<string, string>) {
      return Object.fromEntries(Object.keys(input).map((k) => [k, link]));
    },
    async runExpectationSuite(): Promise<ValidateResult & { runEventDetails: Record<string, unknown> }> {
      return {
        contract: SOURCE,
        contractVersion: '1.0.0',
        passed: true,
        rowCount: 1000,
        expectations: 9,
        errors: 0,
        warnings: 0,
        failedErrors: [],
        failedWarnings: [],
        reportSha256: HEX('1'),
        reportUri: `sha256:${HEX('1')}`,
        htmlSha256: HEX('2'),
        htmlUri: `sha256:${HEX('2')}`,
        runEventDetails: {},
      };
    },
    async snapshotDataset() {
      return {
        datasetId: HEX('3'),
        transform: 'noop',
        version: 1,
        rowCount: 1000,
        uri: `sha256:${HEX('3')}`,
        size: 1,
        splitCounts: { train: 800, validation: 100, test: 100 },
        npy: {},
        coveredFromSeq: '1',
        coveredToSeq: '1000',
        created: true,
        runEventDetails: {},
      };
    },
    async trainModel() {
      return {
        onnxSha256: HEX('4'),
        onnxUri: `sha256:${HEX('4')}`,
        epochs: 1,
        resumedFromEpoch: 0,
        finalLoss: 0,
        validationMetric: 1,
        validationMetricName: 'accuracy',
        device: 'cpu',
        classes: ['desktop', 'mobile', 'tablet'],
      };
    },
    async evaluateModel() {
      return { metrics: { accuracy: 1 }, cardUri: `sha256:${HEX('5')}`, cardSha256: HEX('5'), runEventDetails: {} };
    },
    async registerModel() {
      return { version: 1 };
    },
  };
  // `execution: inline`: the same no-ops, answering their links as activities/pipeline/inlineSteps.ts does
  return {
    ...acts,
    async pipelineValidate() {
      return { ...(await acts.runExpectationSuite()), links: { dataDocs: link, report: link } };
    },
    async pipelineSnapshot() {
      return { ...(await acts.snapshotDataset()), links: { dataset: link } };
    },
    async pipelineRegisterModel() {
      return { ...(await acts.registerModel()), links: { modelCard: link, onnx: link } };
    },
  };
}

/**
 * The no-op functions each step calls, called directly in order (the "same functions without the
 * pipeline"), in ms per step; `inline`: the activities of `execution: inline` (no input-check or
 * link activities: the input is checked in the workflow, links come with the results).
 */
async function directNoOpMs(
  acts: ReturnType<typeof noOpActivities>,
  rounds: number,
  inline: boolean,
): Promise<Record<PipelineStepName, number>> {
  const steps: [PipelineStepName, () => Promise<unknown>][] = [
    ['ingest', () => acts.catchUpIngest({ source: SOURCE })],
    ['transform', () => acts.catchUpTransform({ transform: 't', version: 1 })],
    inline
      ? ['validate', () => acts.pipelineValidate()]
      : [
          'validate',
          async () => [await acts.checkWorkflowInput(), await acts.runExpectationSuite(), await acts.linkArtifacts({ dataDocs: 'x' })],
        ],
    inline
      ? ['snapshot', () => acts.pipelineSnapshot()]
      : [
          'snapshot',
          async () => [await acts.checkWorkflowInput(), await acts.snapshotDataset(), await acts.linkArtifacts({ dataset: 'x' })],
        ],
    inline
      ? ['train', async () => [await acts.trainModel(), await acts.evaluateModel(), await acts.pipelineRegisterModel()]]
      : [
          'train',
          async () => [
            await acts.checkWorkflowInput(),
            await acts.trainModel(),
            await acts.evaluateModel(),
            await acts.registerModel(),
            await acts.linkArtifacts({ onnx: 'x' }),
          ],
        ],
  ];
  const out = {} as Record<PipelineStepName, number>;
  for (const [step, fn] of steps) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) await fn();
    out[step] = Number(process.hrtime.bigint() - t0) / 1e6 / rounds;
  }
  return out;
}

/**
 * Where a run's time went, from its history and its children's: each event's time since the
 * event before it in the same history, summed by workflow type and event type (a workflow task's
 * wait for a worker shows as WORKFLOW_TASK_STARTED, the worker's work on it as
 * WORKFLOW_TASK_COMPLETED, an activity as ACTIVITY_TASK_COMPLETED, a child as the child's events).
 */
async function historyBreakdown(client: Client, workflowId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const ids = [workflowId, ...['validate', 'snapshot', 'train'].map((step) => `${workflowId}/${step}/1`)];
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const type = id === workflowId ? 'pipeline' : (id.split('/')[1] as string);
    let prev: number | undefined;
    for (const e of history.events ?? []) {
      const t = Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
      const name = String(temporal.api.enums.v1.EventType[e.eventType ?? 0]).replace(/^EVENT_TYPE_/, '');
      if (prev !== undefined) out[`${type}:${name}`] = Math.round(((out[`${type}:${name}`] ?? 0) + t - prev) * 10) / 10;
      prev = t;
    }
  }
  return out;
}

async function benchStepOverhead(ctx: BenchContext, h: Harness, bundlePath: string): Promise<Omit<BenchResult, 'suite'>> {
  const runs = Math.max(3, Math.round(10 * Math.min(1, ctx.scale * 4)));
  const taskQueue = `bench-pipeline-noop-${h.tag}`;
  // The same spec twice: its steps as child workflows (the default) and `execution: inline`, run in turn.
  const modes = {
    'child-workflows': benchSpec(`bench-noop-${h.tag}`, `bench_noop_${h.tag}`, `bench-noop-${h.tag}`),
    inline: { ...benchSpec(`bench-noop-inline-${h.tag}`, `bench_noop_${h.tag}`, `bench-noop-${h.tag}`), execution: 'inline' as const },
  };
  const acts = noOpActivities(Object.fromEntries(Object.values(modes).map((spec) => [spec.name, spec])));
  const connection = await NativeConnection.connect({ address: ctx.stack.temporal.address });
  const worker = await Worker.create({
    connection,
    namespace: ctx.stack.temporal.namespace,
    taskQueue,
    workflowBundle: { codePath: bundlePath },
    activities: recordRunEvents(h.db.pool, acts),
    maxHeartbeatThrottleInterval: '5 seconds',
  });
  const clientConnection = await Connection.connect({ address: ctx.stack.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: ctx.stack.temporal.namespace });
  try {
    return await worker.runUntil(async () => {
      const perStep = { 'child-workflows': {}, inline: {} } as Record<keyof typeof modes, Record<string, number[]>>;
      const walls = { 'child-workflows': [], inline: [] } as Record<keyof typeof modes, number[]>;
      // Run 0 warms the worker (sandbox, code paths) and is not counted.
      for (let run = 0; run <= runs; run++) {
        for (const [mode, spec] of Object.entries(modes) as [keyof typeof modes, PipelineSpec][]) {
          const [result, seconds] = await timed(
            () =>
              client.workflow.execute('pipeline', {
                taskQueue,
                workflowId: `pipeline-${spec.name}-noop-${run}`,
                args: [{ pipeline: spec.name, specVersion: 1, triggerKey: `noop-${run}`, reason: 'bench: no-op steps' }],
              }) as Promise<PipelineResult>,
          );
          if (run === 0) continue;
          walls[mode].push(seconds * 1000);
          for (const st of result.steps) (perStep[mode][st.step] ??= []).push(st.durationMs ?? Number.NaN);
          ctx.log(
            `no-op pipeline (${mode}) ${run}/${runs}: ${(seconds * 1000).toFixed(0)} ms; steps ${result.steps.map((st) => `${st.step} ${st.durationMs} ms`).join(', ')}`,
          );
        }
      }
      const historyMs = await historyBreakdown(client, `pipeline-${modes['child-workflows'].name}-noop-${runs}`);
      ctx.log(`where the last no-op run's time went (ms, by history event, pipeline and its children): ${JSON.stringify(historyMs)}`);
      const figures = (mode: keyof typeof modes, direct: Record<PipelineStepName, number>) => {
        const overheads = Object.entries(perStep[mode]).flatMap(([step, ms]) => ms.map((m) => m - direct[step as PipelineStepName]));
        return {
          p50: median(overheads),
          p90: percentile(overheads, 0.9),
          wall: median(walls[mode]),
          perStep: Object.fromEntries(Object.entries(perStep[mode]).map(([st, ms]) => [st, median(ms)])),
          steps: Object.keys(perStep[mode]).length,
        };
      };
      const directChildren = await directNoOpMs(acts, 1000, false);
      const directInline = await directNoOpMs(acts, 1000, true);
      const children = figures('child-workflows', directChildren);
      const inline = figures('inline', directInline);
      return {
        metrics: {
          step_overhead_ms: { value: children.p50, unit: 'ms' },
          step_overhead_p90_ms: { value: children.p90, unit: 'ms' },
          step_overhead_inline_ms: { value: inline.p50, unit: 'ms' },
          step_overhead_inline_p90_ms: { value: inline.p90, unit: 'ms' },
          noop_pipeline_wall_ms: { value: children.wall, unit: 'ms' },
          noop_pipeline_wall_per_step_ms: { value: children.wall / children.steps, unit: 'ms' },
          noop_pipeline_inline_wall_ms: { value: inline.wall, unit: 'ms' },
        },
        ratios: { step_overhead_inline_vs_children: inline.p50 / children.p50 },
        notes: {
          runs,
          steps: Object.keys(perStep['child-workflows']),
          stepDurationP50Ms: children.perStep,
          inlineStepDurationP50Ms: inline.perStep,
          directNoOpMsPerStep: directChildren,
          directNoOpMsPerStepInline: directInline,
          lastRunHistoryMs: historyMs,
          what:
            'real pipeline/validate/snapshot/train workflow code, no-op activities (with run-event recording), durations from the pipeline status; ' +
            'the same spec with execution: inline (validate, snapshot, train as activities of the pipeline) in turn with it',
        },
      };
    });
  } finally {
    await clientConnection.close();
    await connection.close();
  }
}

// ---------------------------------------------------------------------------------------------
// pipeline_vs_sum

/**
 * The pipeline's steps started one by one on the whole log, as a user would by hand (see the
 * module comment); seconds per step, under names of their own (`round`).
 */
async function stepsAlone(
  ctx: BenchContext,
  h: Harness,
  round: string,
): Promise<{ seconds: Record<string, number>; rows: number; transform: string }> {
  const { client, db, queues } = h;
  const transform = `bench_pv_alone${round}_${h.tag}`;
  const seconds: Record<string, number> = {};
  // ingest: what the catch-up reads when no batch is queued (no ingest workflow runs: the log was loaded before)
  const [logRange, ingestS] = await timed(() =>
    db.pool.query<{ from_seq: string; to_seq: string }>(
      'SELECT min(seq)::text AS from_seq, max(seq)::text AS to_seq FROM sluice.raw_events WHERE source = $1',
      [SOURCE],
    ),
  );
  seconds.ingest = ingestS;
  const fromSeq = logRange.rows[0]?.from_seq as string;
  const toSeq = logRange.rows[0]?.to_seq as string;
  // transform: registration, then the incremental workflow until its watermark reaches the end of the log
  const [, transformS] = await timed(async () => {
    await registerTransformVersion(db.pool, { name: transform, version: 1, sources: [SOURCE], sql: TRANSFORM_SQL });
    await client.temporal.workflow.signalWithStart('transform', {
      taskQueue: queues.cpu,
      workflowId: transformWorkflowId(transform),
      args: [{ transform }],
      signal: dataLandedSignal,
      signalArgs: [{ source: SOURCE, fromSeq: '1', toSeq, batchId: 'bench-load' }],
    });
    await pollUntil(
      `the watermark of ${transform} to reach ${toSeq}`,
      async () => ((await watermarkOf(db.pool, transform)) === toSeq ? true : undefined),
      { timeoutMs: 30 * 60_000, intervalMs: 20 },
    );
  });
  seconds.transform = transformS;
  const execute = <R>(type: string, input: unknown): Promise<R> =>
    client.temporal.workflow.execute(type, {
      taskQueue: queues.cpu,
      workflowId: `bench-alone${round}-${h.tag}-${type}`,
      args: [input],
    }) as Promise<R>;
  const validateInput: ValidateInput = { contract: SOURCE, dataset: { kind: 'log', source: SOURCE, fromSeq, toSeq } };
  const [validated, validateS] = await timed(() => execute<ValidateResult>('validate', validateInput));
  if (!validated.passed) throw new Error(`the generated page views failed the suite: ${validated.failedErrors.join(', ')}`);
  seconds.validate = validateS;
  const watermark = await watermarkOf(db.pool, transform);
  const [snap, snapshotS] = await timed(() =>
    execute<SnapshotResult>('snapshot', { transform, version: 1, spec: DATASET_SPEC, toSeq: watermark }),
  );
  seconds.snapshot = snapshotS;
  const trainInput: TrainInput = {
    model: `bench-alone${round}-${h.tag}`,
    datasetId: snap.datasetId,
    spec: DATASET_SPEC,
    trainer: TRAINER,
    seed: SEED,
    queues,
    device: 'cpu',
  };
  const [, trainS] = await timed(() => execute<TrainResult>('train', trainInput));
  seconds.train = trainS;
  // An idle transform workflow would wake on the live part's batches too.
  await client.temporal.workflow.getHandle(transformWorkflowId(transform)).terminate('benchmark part done');
  const total = Object.values(seconds).reduce((a, b) => a + b, 0);
  ctx.log(
    `steps stand-alone (${round}): ${total.toFixed(2)} s; ${Object.entries(seconds)
      .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
      .join(', ')}`,
  );
  return { seconds, rows: snap.rowCount, transform };
}

/**
 * pipeline_vs_sum: the steps stand-alone, the pipeline, the steps stand-alone again (the machine's
 * load and PostgreSQL's cache drift during a run: the sum is the mean of the two rounds around the
 * pipeline).
 */
async function benchPipelineVsSum(ctx: BenchContext, h: Harness, events: number): Promise<Omit<BenchResult, 'suite'>> {
  const { client, db } = h;
  const pipelineName = `bench-pipe-${h.tag}`;
  const pTransform = `bench_pv_pipe_${h.tag}`;
  const spec = benchSpec(pipelineName, pTransform, `bench-pipe-${h.tag}`);
  const applied = await client.applyPipeline(spec, { appliedBy: 'bench' });
  await db.pool.query('SELECT count(*) FROM sluice.raw_events WHERE payload IS NOT NULL'); // every page of the log read once

  ctx.log('the steps stand-alone, one after the other (before the pipeline)');
  const before = await stepsAlone(ctx, h, 'a');
  ctx.log(`pipeline on ${events.toLocaleString('en-US')} page views (ingest catch-up → transform → validate → snapshot → train)`);
  const [result, pipelineSeconds] = await timed(async () => {
    const run = await client.startPipeline(pipelineName, { triggerKey: 'bench-1', reason: 'bench', version: applied.version });
    return (await client.temporal.workflow.getHandle(run.workflowId).result()) as PipelineResult;
  });
  const pipelineSteps = Object.fromEntries(result.steps.map((s) => [s.step, (s.durationMs ?? Number.NaN) / 1000]));
  ctx.log(
    `pipeline: ${pipelineSeconds.toFixed(2)} s; steps ${result.steps.map((s) => `${s.step} ${((s.durationMs ?? 0) / 1000).toFixed(2)} s`).join(', ')}`,
  );
  const rows = (await db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${derivedTable(pTransform, 1)}`)).rows[0]?.n;
  if (Number(rows) !== events) throw new Error(`the pipeline's transform holds ${rows} rows, the log ${events}`);
  await client.temporal.workflow.getHandle(transformWorkflowId(pTransform)).terminate('benchmark part done');
  ctx.log('the steps stand-alone again (after the pipeline)');
  const after = await stepsAlone(ctx, h, 'b');
  const snapshotRows = result.steps.find((s) => s.step === 'snapshot')?.counts.rows;
  if (before.rows !== snapshotRows || after.rows !== snapshotRows)
    throw new Error(`the snapshots differ: pipeline ${snapshotRows} rows, stand-alone ${before.rows} and ${after.rows}`);
  const sumOf = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  const sum = (sumOf(before.seconds) + sumOf(after.seconds)) / 2;
  ctx.log(`pipeline ${pipelineSeconds.toFixed(2)} s vs the sum of the steps stand-alone ${sum.toFixed(2)} s (mean of two rounds)`);
  return {
    metrics: {
      pipeline_s: { value: pipelineSeconds, unit: 's' },
      pipeline_steps_alone_sum_s: { value: sum, unit: 's' },
    },
    ratios: { pipeline_vs_sum: pipelineSeconds / sum },
    notes: {
      events,
      steps: result.steps.map((s) => s.step),
      pipelineStepSeconds: pipelineSteps,
      aloneStepSecondsBefore: before.seconds,
      aloneStepSecondsAfter: after.seconds,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// event_to_table_p99_ms

interface SentBatch {
  events: number;
  sentAt: number;
  answeredAt?: number;
  toSeq?: bigint;
  inTableAt?: number;
  status?: number;
}

async function benchEventToTable(ctx: BenchContext, h: Harness): Promise<Omit<BenchResult, 'suite'>> {
  const { client, db, queues } = h;
  const name = `bench_pv_live_${h.tag}`;
  await registerTransformVersion(db.pool, { name, version: 1, sources: [SOURCE], sql: TRANSFORM_SQL });
  const end = (await db.pool.query<{ s: string }>('SELECT coalesce(max(seq), 0)::text AS s FROM sluice.raw_events')).rows[0]?.s ?? '0';
  ctx.log(`live transform ${name}: catching up on the log (${end} events) before the load starts`);
  await client.temporal.workflow.signalWithStart('transform', {
    taskQueue: queues.cpu,
    workflowId: transformWorkflowId(name),
    args: [{ transform: name }],
    signal: dataLandedSignal,
    signalArgs: [{ source: SOURCE, fromSeq: '1', toSeq: end, batchId: 'bench-load' }],
  });
  await pollUntil(`the watermark of ${name} to reach ${end}`, async () => ((await watermarkOf(db.pool, name)) === end ? true : undefined), {
    timeoutMs: 30 * 60_000,
    intervalMs: 50,
  });

  const http: IngestHttpServer = await startIngestHttpServer({
    config: { artifactsDir: h.artifactsDir, httpIngest: { ...h.config.httpIngest, token: TOKEN } },
    client,
    contracts: ContractRegistry.fromDirectory(),
    port: 0,
    host: '127.0.0.1',
    log: (m) => ctx.log(`[http] ${m}`),
  });
  const seconds = Math.max(10, Math.round(30 * ctx.scale));
  const schedule = openLoopBatches(LIVE_RATE, seconds, LIVE_INTERVAL_MS);
  const table = derivedTable(name, 1);
  const sent: SentBatch[] = [];
  let done = false;
  let newest = 0n;
  // The newest row of the derived table, read every LIVE_POLL_MS: a batch is in the table once its last seq is.
  const poller = (async () => {
    while (!done) {
      const r = await db.pool.query<{ s: string | null }>(`SELECT max(seq)::text AS s FROM ${table}`);
      const now = performance.now();
      newest = BigInt(r.rows[0]?.s ?? '0');
      for (const b of sent) if (b.inTableAt === undefined && b.toSeq !== undefined && b.toSeq <= newest) b.inTableAt = now;
      await new Promise((resolve) => setTimeout(resolve, LIVE_POLL_MS));
    }
  })();
  const post = async (batch: SentBatch, first: number): Promise<void> => {
    const body = Array.from({ length: batch.events }, (_, k) => {
      const i = 10_000_000 + first + k;
      return JSON.stringify({
        id: `live-${h.tag}-${i}`,
        ts: new Date(Date.UTC(2026, 11, 1) + i).toISOString(),
        user_id: i % 10007,
        user_email: `u${i % 10007}@example.com`,
        page: ['/', '/search', '/cart', '/help'][i % 4],
        duration_ms: 1000 + ((i * 37) % 5000),
        country: ['DE', 'FR', 'US', 'JP'][i % 4],
        device: ['desktop', 'mobile', 'tablet'][i % 3],
        converted: false,
        revenue: 0,
      });
    }).join('\n');
    const res = await fetch(`http://127.0.0.1:${http.port}/v1/sources/${SOURCE}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      body,
    });
    const answer = (await res.json()) as { toSeq?: string | null; accepted?: number };
    batch.answeredAt = performance.now();
    batch.status = res.status;
    if (res.ok && answer.toSeq) {
      batch.toSeq = BigInt(answer.toSeq);
      if (batch.toSeq <= newest) batch.inTableAt = batch.answeredAt; // already there when the answer came
    }
  };
  ctx.log(`${LIVE_RATE} events/s for ${seconds} s, a batch every ${LIVE_INTERVAL_MS} ms (open loop), over HTTP`);
  const t0 = performance.now();
  const inFlight: Promise<void>[] = [];
  try {
    for (const b of schedule) {
      const wait = t0 + b.atMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const batch: SentBatch = { events: b.events, sentAt: performance.now() };
      sent.push(batch);
      inFlight.push(post(batch, b.firstEvent));
      if (sent.length % Math.max(1, Math.round(5000 / LIVE_INTERVAL_MS)) === 0) {
        const answered = sent.filter((x) => x.answeredAt !== undefined).length;
        ctx.log(
          `sent ${sent.length}/${schedule.length} batches, ${answered} answered, ${sent.filter((x) => x.inTableAt).length} in the table`,
        );
      }
    }
    await Promise.all(inFlight);
    const lastAnswer = Math.max(...sent.map((b) => b.answeredAt ?? 0));
    await pollUntil(
      'every answered batch in the derived table',
      async () => (sent.every((b) => b.toSeq === undefined || b.inTableAt) ? true : undefined),
      {
        timeoutMs: 120_000,
        intervalMs: 50,
      },
    );
    const failed = sent.filter((b) => b.status !== 200).length;
    if (failed) throw new Error(`${failed} of ${sent.length} batches were not accepted by the HTTP endpoint`);
    const latencies = sent.map((b) => ({ value: Math.max(0, (b.inTableAt as number) - (b.answeredAt as number)), weight: b.events }));
    const sendToTable = sent.map((b) => ({ value: (b.inTableAt as number) - b.sentAt, weight: b.events }));
    const answerMs = sent.map((b) => ({ value: (b.answeredAt as number) - b.sentAt, weight: b.events }));
    const total = sent.reduce((s, b) => s + b.events, 0);
    const achieved = total / ((lastAnswer - t0) / 1000);
    const p50 = weightedPercentile(latencies, 50);
    const p99 = weightedPercentile(latencies, 99);
    ctx.log(`event → table: p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; achieved ${achieved.toFixed(0)} events/s`);
    const chunkRuns = (
      await db.pool.query<{ n: string; ms: string | null }>(
        "SELECT count(*)::text AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::text AS ms FROM sluice.run_events WHERE step = 'runTransformChunks' AND status = 'completed' AND workflow_id = $1",
        [transformWorkflowId(name)],
      )
    ).rows[0];
    return {
      metrics: {
        event_to_table_p50_ms: { value: p50, unit: 'ms' },
        event_to_table_p99_ms: { value: p99, unit: 'ms' },
        live_achieved_events_per_s: { value: achieved, unit: 'events/s' },
        send_to_table_p50_ms: { value: weightedPercentile(sendToTable, 50), unit: 'ms' },
        send_to_table_p99_ms: { value: weightedPercentile(sendToTable, 99), unit: 'ms' },
        live_http_answer_p50_ms: { value: weightedPercentile(answerMs, 50), unit: 'ms' },
        live_http_answer_p99_ms: { value: weightedPercentile(answerMs, 99), unit: 'ms' },
      },
      ratios: {},
      notes: {
        offeredEventsPerS: LIVE_RATE,
        seconds,
        batchEveryMs: LIVE_INTERVAL_MS,
        batches: sent.length,
        events: total,
        pollMs: LIVE_POLL_MS,
        transformChunkRuns: Number(chunkRuns?.n ?? 0),
        transformChunkRunP50Ms: Number(chunkRuns?.ms ?? Number.NaN),
      },
    };
  } finally {
    done = true;
    await Promise.allSettled(inFlight);
    await poller;
    await http.close();
    await client.temporal.workflow
      .getHandle(ingestWorkflowId(SOURCE))
      .terminate('benchmark done')
      .catch(() => undefined);
    await client.temporal.workflow
      .getHandle(transformWorkflowId(name))
      .terminate('benchmark done')
      .catch(() => undefined);
  }
}

export const pipelineSuite: BenchSuite = {
  name: 'pipeline',
  description:
    'step_overhead_ms (no-op steps through the real pipeline workflow), pipeline_vs_sum (1M events × scale) and event_to_table_p99_ms (1,000 events/s over HTTP)',
  async run(ctx) {
    const events = Math.max(10_000, Math.round(1_000_000 * ctx.scale));
    ctx.log('bundling the workflows once for both workers');
    const bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-bundle-'));
    const bundlePath = path.join(bundleDir, 'workflow-bundle.js');
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      logger: { trace() {}, debug() {}, info() {}, log() {}, warn: (m: string) => ctx.log(m), error: (m: string) => ctx.log(m) },
    });
    fs.writeFileSync(bundlePath, code);
    const h = await startHarness(ctx, bundlePath);
    try {
      await clearStaleIngestWorkflow(h.client, ctx.log);
      const overhead = await benchStepOverhead(ctx, h, bundlePath);
      await loadPageViews(h.db, events, ctx.log);
      const vsSum = await benchPipelineVsSum(ctx, h, events);
      const live = await benchEventToTable(ctx, h);
      const parts = [overhead, vsSum, live];
      return {
        metrics: Object.assign({}, ...parts.map((p) => p.metrics)),
        ratios: Object.assign({}, ...parts.map((p) => p.ratios)),
        notes: { stepOverhead: overhead.notes, pipelineVsSum: vsSum.notes, eventToTable: live.notes, loadAverage: os.loadavg() },
      };
    } finally {
      await h.close();
      fs.rmSync(bundleDir, { recursive: true, force: true });
    }
  },
};
