/**
 * `npm run demo`: the whole of sluice on this machine with embedded defaults. Provisions Temporal
 * and PostgreSQL (or uses TEMPORAL_ADDRESS / DATABASE_URL), migrates, starts the CPU and GPU
 * workers in this process, and runs a real pipeline on sample data:
 *
 *   healthCheck → register transform page_views_typed v1 → ingest a file of page views (contract
 *   check, quarantine, dedup) → dataLanded wakes the incremental transform → validate the log
 *   (expectation suite, data docs) → backfill the transform again and compare its sha256.
 *
 * Interactive runs keep the server and workers up until Ctrl-C so the UI can be browsed; in CI or
 * with `--exit` it stops once the pipeline is done (the history stays in .sluice/temporal).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SluiceClient, workflowUiUrl } from '../client';
import { loadConfig } from '../config';
import { ingestWorkflowId, transformWorkflowId, workflows, type ValidateResult } from '../api';
import { pollUntil } from '../client/poll';
import { createWorkerSet } from '../workers/bootstrap';
import { writePageViews } from './demo/sampleData';
import { provisionLocalStack, withStackEndpoint } from './provision';

const SAMPLE_EVENTS = Number(process.env.SLUICE_DEMO_EVENTS ?? 20_000);
const TRANSFORM = 'page_views_typed';
const TRANSFORM_SQL = `
  SELECT seq,
         payload->>'id'                      AS view_id,
         event_time,
         (payload->>'user_id')::bigint       AS user_id,
         payload->>'page'                    AS page,
         payload->>'country'                 AS country,
         payload->>'device'                  AS device,
         (payload->>'duration_ms')::bigint   AS duration_ms,
         (payload->>'converted')::boolean    AS converted,
         (payload->>'revenue')::numeric(12,2) AS revenue
  FROM sluice.raw_events
  WHERE source = 'page_views' AND seq BETWEEN $1 AND $2`;

const out = (m = ''): void => {
  process.stdout.write(`${m}\n`);
};

async function runPipeline(client: SluiceClient, dataDir: string, ui: (id: string) => string): Promise<boolean> {
  const started = Date.now();
  out('1. healthCheck: database and ONNX Runtime on sluice-cpu and sluice-gpu');
  const health = await client.healthCheck();
  out(
    `   PostgreSQL ${health.result.database.serverVersion}, ${health.result.database.migrations} migrations; onnxruntime ${health.result.cpu.onnxruntime} [${health.result.gpu.backends.join(', ')}]`,
  );
  out(`   ${ui(health.workflowId)}`);

  out(`2. registerTransform ${TRANSFORM} v1 (versioned SQL over a log range)`);
  const reg = await client.registerTransform({
    name: TRANSFORM,
    version: 1,
    sources: ['page_views'],
    sql: TRANSFORM_SQL,
    description: 'page views, typed columns',
  });
  out(
    `   ${reg.created ? 'registered' : 'already registered'}: sluice_derived.${TRANSFORM}__v${reg.version}, sql sha256 ${reg.sqlSha256.slice(0, 12)}…, live v${reg.liveVersion}`,
  );

  // Under <SLUICE_DATA_DIR>/data, one of the default ingest roots (workers read files only under their roots).
  const file = path.join(dataDir, 'data', 'demo', 'page_views.ndjson');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const planted = writePageViews(file, SAMPLE_EVENTS);
  const fileSha = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  out(`3. ingestFile page_views ← ${file}`);
  out(`   ${planted.lines} lines: ${planted.invalid} damaged, ${planted.resent} re-sent (sha256 ${fileSha.slice(0, 12)}…)`);
  // The batch id is the file's hash: running the demo again re-sends the same batch, which is a no-op.
  const batch = await client.ingestFile(
    'page_views',
    { kind: 'file', path: file },
    { format: 'ndjson', batchId: `demo-${fileSha.slice(0, 16)}` },
  );
  const balanced = batch.received === batch.accepted + batch.quarantined + batch.duplicates;
  out(
    `   received ${batch.received} = accepted ${batch.accepted} + quarantined ${batch.quarantined} + duplicates ${batch.duplicates} ${balanced ? '✓' : '✗ MISMATCH'}`,
  );
  out(`   log range ${batch.fromSeq ?? '-'}…${batch.toSeq ?? '-'}; ${ui(ingestWorkflowId('page_views'))}`);

  out(`4. transform ${TRANSFORM} (woken by dataLanded): catching up`);
  const logEnd = batch.toSeq;
  const status = await pollUntil(
    'the transform to catch up',
    async () => {
      const s = await client.transformStatus(TRANSFORM);
      return s.state === 'idle' && (logEnd === null || BigInt(s.watermark ?? '0') >= BigInt(logEnd)) ? s : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  out(`   watermark ${status.watermark}, live ${status.version}; ${ui(transformWorkflowId(TRANSFORM))}`);

  out('5. validate page_views (contract expectation suite, pushed down to PostgreSQL)');
  const validateId = `validate-page_views-${Date.now().toString(36)}`;
  let validation: ValidateResult | undefined;
  let blocked = false;
  try {
    validation = await client.execute(
      workflows.validate,
      { contract: 'page_views', dataset: { kind: 'log', source: 'page_views' } },
      { workflowId: validateId },
    );
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    blocked = true;
    out(`   blocked: ${err.cause?.message ?? err.message}`);
  }
  if (validation) {
    out(`   passed${validation.failedWarnings.length ? ` with warnings: ${validation.failedWarnings.join(', ')}` : ''}`);
    out(`   data docs: ${validation.htmlUri}`);
  }
  out(`   ${ui(validateId)}`);

  out(`6. backfill ${TRANSFORM} v1 from the whole log (child workflows), compare sha256`);
  const backfillId = `backfill-${TRANSFORM}-${Date.now().toString(36)}`;
  const rebuilt = await (await client.backfill({ transform: TRANSFORM, version: 1 }, backfillId)).result();
  out(
    `   ${rebuilt.rows} rows, sha256 ${rebuilt.sha256.slice(0, 16)}…, ${rebuilt.ranges} range(s), view ${rebuilt.switched ? 'switched' : 'unchanged'}`,
  );
  out(`   ${ui(backfillId)}`);

  out(`7. snapshot ${TRANSFORM} v1 as a dataset (Arrow IPC, split by a hash of seq, column statistics)`);
  const spec = {
    features: [
      { name: 'page', kind: 'categorical' as const },
      { name: 'country', kind: 'categorical' as const },
      { name: 'duration_ms', kind: 'numeric' as const },
    ],
    label: 'device',
    task: 'multiclass' as const,
  };
  const snapshotId = `snapshot-${TRANSFORM}-${Date.now().toString(36)}`;
  const dataset = await client.execute(workflows.snapshot, { transform: TRANSFORM, version: 1, spec }, { workflowId: snapshotId });
  out(
    `   dataset ${dataset.datasetId.slice(0, 16)}…: ${dataset.rowCount} rows (train ${dataset.splitCounts.train}, validation ${dataset.splitCounts.validation}, test ${dataset.splitCounts.test})`,
  );
  out(`   ${ui(snapshotId)}`);

  out('8. train a model on the GPU queue (device from page, country, duration), evaluate it on the test split, register it');
  const trainId = `train-page_views_device-${Date.now().toString(36)}`;
  const model = await client.execute(
    workflows.train,
    {
      model: 'page_views_device',
      datasetId: dataset.datasetId,
      spec,
      trainer: { trainer: 'logistic_regression' },
      seed: 7,
      queues: { cpu: client.taskQueue, gpu: client.config.taskQueues.gpu },
    },
    { workflowId: trainId },
  );
  const accuracy = 'accuracy' in model.metrics ? model.metrics.accuracy : undefined;
  out(
    `   page_views_device@${model.version}: ${model.epochs} epochs, test accuracy ${accuracy?.toFixed(3) ?? '-'} (the sample's device is random: about 1/3 is what there is to learn)`,
  );
  out(`   model card: ${model.cardUri}`);
  out(`   ${ui(trainId)}`);
  out(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return balanced && !blocked && health.result.cpu.inferenceOk && health.result.gpu.inferenceOk;
}

async function main(): Promise<void> {
  const config = loadConfig();
  // Worker internals (bundling, state changes) only at SLUICE_LOG_LEVEL=INFO or DEBUG.
  Runtime.install({ logger: new DefaultLogger(config.logLevel ?? 'WARN') });
  const stayUp = process.stdout.isTTY && !process.env.CI && !process.argv.includes('--exit');
  out('sluice demo: provisioning Temporal and PostgreSQL…');
  const stack = await provisionLocalStack(config, { log: (m) => out(`  ${m}`) });
  // The demo's output is read by a person: activity log lines in text unless SLUICE_LOG_FORMAT says otherwise.
  const workerConfig = { ...withStackEndpoint(config, stack), logFormat: config.logFormat ?? 'text' };
  const workers = await createWorkerSet({
    config: workerConfig,
    databaseUrl: stack.postgres.url,
    queues: ['cpu', 'gpu'],
    log: (m) => out(`  ${m}`),
    migrate: false,
  });
  const running = workers.run();
  const ns = stack.temporal.namespace;
  const uiBase = stack.temporal.uiUrl;
  const ui = (id: string): string => (uiBase ? workflowUiUrl(uiBase, ns, id) : `workflow ${id}`);
  let ok = false;
  try {
    const client = await SluiceClient.connect({ config: workerConfig });
    try {
      out('');
      ok = await runPipeline(client, config.dataDir, ui);
    } finally {
      await client.close();
    }
    out('');
    if (uiBase) {
      out(`Temporal UI: ${uiBase}/namespaces/${ns}/workflows`);
      out(`  search: SluicePipeline="${TRANSFORM}"  ·  SluiceStep="validate"  ·  SluiceStatus="failed"`);
    }
    out(
      `Run events: psql "${stack.postgres.url}" -c "SELECT workflow_id, step, status, counts FROM sluice.run_events ORDER BY id DESC LIMIT 20"`,
    );
    if (stayUp) {
      out('\nServer and workers keep running so you can browse the UI. Ctrl-C to stop.');
      await running;
    }
  } catch (err) {
    ok = false;
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  } finally {
    workers.shutdown();
    await running;
    await stack.stop();
  }
  if (!stayUp) out('\nStopped. The history is kept in .sluice/; `npm run dev` starts the server, the UI and the workers again.');
  process.exit(ok ? 0 : 1);
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exit(1);
});
