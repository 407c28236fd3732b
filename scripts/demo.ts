/**
 * `npm start` (= `npm run demo`): the whole of sluice on this machine with embedded defaults.
 * Provisions Temporal and PostgreSQL (or uses TEMPORAL_ADDRESS / DATABASE_URL), migrates, starts
 * in this process the CPU and GPU workers, the HTTP service (it serves the data docs and model
 * card links) and the scoring service, then runs the loop end to end:
 *
 *   healthCheck → apply pipelines/demo.yaml → ingest a file of sample page views (contract check,
 *   quarantine, dedup) → start the pipeline (ingest catch-up → transform → validate → snapshot →
 *   train + evaluate → deploy to the endpoint) → score requests over HTTP → the predictions land in
 *   the log (source predictions_<endpoint>) → a summary with the counts and the links.
 *
 * Interactive runs keep everything up until Ctrl-C so the UI can be browsed and the endpoint
 * called; in CI or with `--exit` it stops after the summary (the history stays in .sluice/);
 * `--no-demo` starts everything and waits for Ctrl-C without running the loop. Ctrl-C (or SIGTERM)
 * stops the parts in order, a line each: workers, scoring service, HTTP service, Temporal,
 * PostgreSQL (scripts/shutdown.ts); a second Ctrl-C forces the exit.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SluiceClient, workflowUiUrl } from '../client';
import { loadConfig, type SluiceConfig } from '../config';
import { deployWorkflowId, workflows, type PipelineStatus, type PipelineStepStatus, type TrainResult } from '../api';
import { LocalArtifactStore } from '../activities/artifacts';
import { predictionSource } from '../activities/serve';
import { loadPipelineSpecFile, formatSpecIssues } from '../contracts/pipelineSpec';
import { ContractRegistry } from '../contracts/registry';
import { pollUntil } from '../client/poll';
import { createWorkerSet } from '../workers/bootstrap';
import { startIngestHttpServer } from '../workers/httpIngest';
import { startScoringService, type ScoringService } from '../workers/serve';
import { writePageViews } from './demo/sampleData';
import { createPool } from '../db/pool';
import { provisionLocalStack, withStackEndpoint, type LocalStack } from './provision';
import { serverStopStep, stopInOrder, watchStopSignals, type StopStep } from './shutdown';

const SAMPLE_EVENTS = Number(process.env.SLUICE_DEMO_EVENTS ?? 20_000);
const SPEC_FILE = path.resolve(__dirname, '../pipelines/demo.yaml');
/** Requests scored against the endpoint once it serves, and rows in each. */
const REQUESTS = 50;
const ROWS_PER_REQUEST = 4;

const out = (m = ''): void => {
  process.stdout.write(`${m}\n`);
};
const seconds = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** What each step says when it completes: its counts in words. */
function stepLine(s: PipelineStepStatus): string {
  const c = s.counts;
  const o = s.output;
  switch (s.step) {
    case 'ingest': {
      const r = o?.logRanges?.page_views;
      return r ? `log page_views seq ${r.fromSeq}…${r.toSeq}` : 'nothing in the log';
    }
    case 'transform':
      return (o?.transforms ?? []).map((t) => `${t.name} v${t.version} caught up to seq ${t.watermark}`).join(', ');
    case 'validate':
      return `${o?.validation?.passed ? 'passed' : 'FAILED'}: ${c.rows ?? 0} rows, ${c.expectations ?? 0} expectations, ${c.errors ?? 0} errors, ${c.warnings ?? 0} warnings`;
    case 'snapshot':
      return `dataset ${o?.datasetId?.slice(0, 16) ?? '-'}…: ${c.rows ?? 0} rows (train ${c.train ?? 0}, validation ${c.validation ?? 0}, test ${c.test ?? 0})`;
    case 'train':
      return `${o?.model?.name ?? '-'}@${o?.model?.version ?? '-'}: ${c.epochs ?? 0} epochs`;
    case 'deploy': {
      const d = o?.deployment;
      return d ? `${d.model}@${d.version} → ${d.endpoint}: ${d.status}, champion ${d.championAfter ?? 'none'}` : '-';
    }
  }
}

/** Waits for the pipeline run, printing a line per step as it completes; throws when a step fails. */
async function followPipeline(client: SluiceClient, workflowId: string, signal: AbortSignal): Promise<PipelineStatus> {
  const printed = new Set<string>();
  let last: PipelineStatus | undefined;
  const report = (s: PipelineStatus): void => {
    for (const step of s.steps) {
      if (step.state !== 'completed' || printed.has(step.step)) continue;
      printed.add(step.step);
      out(`   ✓ ${step.step.padEnd(9)} ${seconds(step.durationMs).padStart(7)}  ${stepLine(step)}`);
    }
  };
  return pollUntil(
    `pipeline run ${workflowId}`,
    async () => {
      signal.throwIfAborted();
      last = await client.pipelineStatus(workflowId);
      report(last);
      const failed = last.steps.find((s) => s.state === 'failed');
      if (failed) throw new Error(`step ${failed.step} failed: ${failed.error?.message ?? 'no message'}`);
      return last.state === 'completed' ? last : undefined;
    },
    {
      timeoutMs: 20 * 60_000,
      intervalMs: 500,
      lastSeen: () => JSON.stringify(last?.steps.map((s) => [s.step, s.state])),
    },
  );
}

/** Rows to score: the features of valid sample events, as a client would send them. */
function scoringRows(file: string, n: number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (rows.length === n) break;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // the sample's cut lines: the log quarantined them, a client would not send them
    }
    if (typeof e.page === 'string' && typeof e.country === 'string' && e.country !== 'XX' && typeof e.duration_ms === 'number')
      rows.push({ page: e.page, country: e.country, duration_ms: e.duration_ms });
  }
  return rows;
}

interface DemoServices {
  config: SluiceConfig;
  ui: (id: string) => string;
  service: ScoringService;
  serveToken: string;
  /** The token as the summary shows it: a generated one in full, one from the environment by name. */
  serveTokenShown: string;
  /** Services stay up after the summary (interactive): the summary says how to call the endpoint. */
  keepsRunning: boolean;
  countEvents: (source: string) => Promise<number>;
  /** Aborted when the script is stopped while the demo runs: its waits end at their next probe. */
  signal: AbortSignal;
}

async function runDemo(client: SluiceClient, s: DemoServices): Promise<boolean> {
  const started = Date.now();
  const { ui } = s;
  out('1. healthCheck: database and ONNX Runtime on the CPU and GPU queues');
  const health = await client.healthCheck();
  out(
    `   PostgreSQL ${health.result.database.serverVersion}, ${health.result.database.migrations} migrations; onnxruntime ${health.result.cpu.onnxruntime} [${health.result.gpu.backends.join(', ')}]`,
  );

  const loaded = loadPipelineSpecFile(SPEC_FILE);
  if (!loaded.ok)
    throw new Error(`${path.relative(process.cwd(), SPEC_FILE)} is not a valid pipeline spec:\n${formatSpecIssues(loaded.issues)}`);
  const spec = loaded.spec;
  const endpoint = spec.deploy?.endpoint;
  if (!endpoint)
    throw new Error(`${path.relative(process.cwd(), SPEC_FILE)} has no deploy section: the demo scores requests on its endpoint`);
  const applied = await client.applyPipeline(spec, { appliedBy: 'npm start' });
  out(
    `2. apply ${path.relative(process.cwd(), SPEC_FILE)}: pipeline ${applied.name} v${applied.version} (${applied.created ? 'new' : 'unchanged'})`,
  );

  // Under <SLUICE_DATA_DIR>/data, one of the default ingest roots (workers read files only under their roots).
  const file = path.join(s.config.dataDir, 'data', 'demo', 'page_views.ndjson');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const planted = writePageViews(file, SAMPLE_EVENTS);
  const fileSha = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  out(`3. ingestFile page_views ← ${file}`);
  out(`   ${planted.lines} lines: ${planted.invalid} damaged, ${planted.resent} re-sent`);
  // The batch id is the file's hash: running the demo again re-sends the same batch, which is a no-op.
  const batch = await client.ingestFile(
    'page_views',
    { kind: 'file', path: file },
    { format: 'ndjson', batchId: `demo-${fileSha.slice(0, 16)}` },
  );
  const balanced = batch.received === batch.accepted + batch.quarantined + batch.duplicates;

  const triggerKey = `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const run = await client.startPipeline(spec.name, {
    triggerKey,
    reason: 'npm start',
    version: applied.version,
    // a failed run fails at once here; `sluice pipelines rerun` is for runs started with a window
    rerunWindowAfterFailureSeconds: 0,
  });
  out(`4. pipeline ${spec.name} v${applied.version}, trigger key ${triggerKey}`);
  const status = await followPipeline(client, run.workflowId, s.signal);
  const stepOf = (name: PipelineStepStatus['step']): PipelineStepStatus | undefined => status.steps.find((x) => x.step === name);
  const trainStep = stepOf('train');
  const trained: TrainResult | undefined = trainStep?.workflowId
    ? await client.handle(workflows.train, trainStep.workflowId).result()
    : undefined;
  const deployment = stepOf('deploy')?.output?.deployment;

  out(`5. score ${REQUESTS} requests of ${ROWS_PER_REQUEST} rows on POST /v1/endpoints/${endpoint}/predict`);
  const source = predictionSource(endpoint);
  const before = await s.countEvents(source);
  // The service hears of the new champion by NOTIFY (and polls as a fallback): wait until it serves it.
  await pollUntil(
    `the scoring service to serve ${endpoint}@${deployment?.championAfter ?? '?'}`,
    async () => {
      s.signal.throwIfAborted();
      return s.service.endpoints.get(endpoint)?.champion?.ref.version === deployment?.championAfter || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  const rows = scoringRows(file, REQUESTS * ROWS_PER_REQUEST);
  const base = `http://${s.service.host}:${s.service.port}`;
  const labels = new Map<string, number>();
  let scored = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const res = await fetch(`${base}/v1/endpoints/${endpoint}/predict`, {
      signal: s.signal,
      method: 'POST',
      headers: { authorization: `Bearer ${s.serveToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rows: rows.slice(i * ROWS_PER_REQUEST, (i + 1) * ROWS_PER_REQUEST) }),
    });
    const body = (await res.json()) as { predictions?: { label?: string }[]; error?: { code: string; message: string } };
    if (!res.ok || !body.predictions)
      throw new Error(`predict answered ${res.status}: ${body.error?.code ?? ''} ${body.error?.message ?? ''}`);
    for (const p of body.predictions) labels.set(String(p.label), (labels.get(String(p.label)) ?? 0) + 1);
    scored += body.predictions.length;
  }
  const logged = await pollUntil(
    `${scored} prediction events in the log (source ${source})`,
    async () => {
      s.signal.throwIfAborted();
      const n = (await s.countEvents(source)) - before;
      return n >= scored ? n : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );

  const validation = stepOf('validate');
  const snapshot = stepOf('snapshot');
  const m = trained?.metrics;
  const promoted = deployment?.status === 'promoted' || (deployment?.status === 'rejected' && deployment.championAfter !== null);
  out('\nSummary');
  out(
    `  events      received ${batch.received} = accepted ${batch.accepted} + quarantined ${batch.quarantined} + duplicates ${batch.duplicates} ${balanced ? '✓' : '✗ MISMATCH'}`,
  );
  out(`  transform   ${stepLine(stepOf('transform') as PipelineStepStatus)}; ${snapshot?.counts.rows ?? 0} rows snapshotted`);
  out(`  validation  ${validation ? stepLine(validation) : '-'}`);
  out(`              data docs: ${validation?.links.dataDocs ?? '-'}`);
  out(`  dataset     ${snapshot?.output?.datasetId ?? '-'}`);
  if (trained && m)
    out(
      `  model       ${trained.model}@${trained.version}: ${trained.epochs} epochs on ${trained.device}, test ${m.task === 'regression' ? `rmse ${m.rmse.toFixed(3)}` : `accuracy ${m.accuracy.toFixed(3)}, macro F1 ${m.macroF1.toFixed(3)}, log loss ${m.logLoss.toFixed(3)}`} (${m.rows} rows; the sample's device is random: about 1/3 is what there is to learn)`,
    );
  out(`              model card: ${trainStep?.links.modelCard ?? '-'}`);
  out(`  deployment  ${stepLine(stepOf('deploy') as PipelineStepStatus)}`);
  out(
    `  predictions ${scored} rows scored in ${REQUESTS} requests (${[...labels].map(([l, n]) => `${l} ${n}`).join(', ')}), ${logged} logged to ${source}`,
  );
  out(`  Temporal UI pipeline run: ${ui(run.workflowId)}`);
  out(`              deploy:       ${ui(deployWorkflowId(endpoint))}`);
  out(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (s.keepsRunning) {
    out(`\nScore more: curl -H "Authorization: Bearer ${s.serveTokenShown}" -H 'Content-Type: application/json' \\`);
    out(`  -d '{"rows":[{"page":"/cart","country":"DE","duration_ms":5000}]}' ${base}/v1/endpoints/${endpoint}/predict`);
  }
  const problems = [
    ...(balanced ? [] : ['the ingest counts do not balance']),
    ...(status.state === 'completed' ? [] : [`the pipeline run is ${status.state}`]),
    ...(promoted ? [] : [`the deployment ended ${deployment?.status ?? 'without a result'} and the endpoint has no champion`]),
    ...(logged === scored ? [] : [`${logged} prediction events logged for ${scored} rows scored`]),
    ...(health.result.cpu.inferenceOk && health.result.gpu.inferenceOk ? [] : ['ONNX inference failed on a worker (healthCheck)']),
  ];
  for (const p of problems) process.stderr.write(`demo: ${p}\n`);
  return problems.length === 0;
}

async function main(): Promise<void> {
  const base = loadConfig();
  // Worker internals (bundling, state changes) only at SLUICE_LOG_LEVEL=INFO or DEBUG. No shutdown
  // signals for the SDK's runtime: this script stops the parts in order (stopInOrder below).
  Runtime.install({ logger: new DefaultLogger(base.logLevel ?? 'WARN'), shutdownSignals: [] });
  const withoutDemo = process.argv.includes('--no-demo');
  const stayUp = withoutDemo || (process.stdout.isTTY && !process.env.CI && !process.argv.includes('--exit'));
  let stack: LocalStack | undefined;
  const signals = watchStopSignals({ log: out, force: () => stack?.kill() });
  // In stop order: workers (they drain), the scoring service (it flushes its prediction log), the
  // HTTP service, the client, then Temporal and PostgreSQL, which the others need until they stop.
  const services: StopStep[] = [];
  const servers: StopStep[] = [];
  let ok = false;
  let interrupted = false;
  try {
    out('sluice demo: provisioning Temporal and PostgreSQL…');
    stack = await provisionLocalStack(base, { log: (m) => out(`  ${m}`), ownProcessGroups: true });
    const { temporal, postgres } = stack;
    servers.push(serverStopStep('Temporal dev server', temporal, 15_000), serverStopStep('PostgreSQL', postgres, 25_000));
    if (signals.received()) throw new Stopped();
    // Tokens of this run (unless set): the services refuse to start without one.
    const httpToken = base.httpIngest.token ?? randomBytes(18).toString('base64url');
    const serveToken = base.serve.token ?? randomBytes(18).toString('base64url');
    const stackConfig = { ...withStackEndpoint(base, stack), databaseUrl: postgres.url };
    const client = await SluiceClient.connect({ config: stackConfig });
    services.unshift({ name: 'client', timeoutMs: 5_000, stop: () => client.close() });
    // The HTTP service first, on a free port: the workers sign the data docs and model card links for it.
    const http = await startIngestHttpServer({
      config: { artifactsDir: base.artifactsDir, httpIngest: { ...base.httpIngest, token: httpToken } },
      client,
      contracts: ContractRegistry.fromDirectory(),
      port: 0,
      host: '127.0.0.1',
      log: (m) => out(`  [http] ${m}`),
    });
    services.unshift({ name: 'HTTP service', timeoutMs: 10_000, stop: () => http.close() });
    const config: SluiceConfig = {
      ...stackConfig,
      // The demo's output is read by a person: activity log lines in text unless SLUICE_LOG_FORMAT says otherwise.
      logFormat: base.logFormat ?? 'text',
      httpIngest: { ...base.httpIngest, token: httpToken, host: http.host, port: http.port, publicUrl: `http://127.0.0.1:${http.port}` },
    };
    // The scoring service's own pool: it writes its prediction log after the workers (and their pool) stopped.
    const servePool = createPool(postgres.url, { max: 4, applicationName: 'sluice-serve' });
    const service = await startScoringService({
      config: { serve: { ...base.serve, token: serveToken } },
      pool: servePool,
      artifacts: new LocalArtifactStore(base.artifactsDir),
      port: 0,
      host: '127.0.0.1',
      log: (m) => out(`  [serve] ${m}`),
    });
    services.unshift({
      name: 'scoring service',
      timeoutMs: 15_000,
      stop: async () => {
        const buffered = service.predictions.buffered;
        await service.close();
        const left = service.predictions.buffered;
        await servePool.end();
        if (left > 0) throw new Error(`${left} prediction events could not be written to the log`);
        return `prediction log flushed, ${buffered} buffered events written`;
      },
    });
    const workers = await createWorkerSet({
      config,
      databaseUrl: postgres.url,
      queues: ['cpu', 'gpu'],
      log: (m) => out(`  ${m}`),
      migrate: false,
      stopOnSignals: false,
    });
    const running = workers.run();
    running.catch(() => undefined); // observed below and by the stop step
    services.unshift({
      name: 'workers',
      // the SDK cancels running activities after the grace time; then they report and stop
      timeoutMs: (config.shutdownGraceSeconds + 15) * 1000,
      stop: async () => {
        out(`  → workers: finishing running activities (up to ${config.shutdownGraceSeconds} s)`);
        workers.shutdown();
        await running;
      },
    });
    const serveTokenShown = base.serve.token ? '$SLUICE_SERVE_TOKEN' : serveToken;
    out(`  HTTP service http://127.0.0.1:${http.port}; scoring service http://${service.host}:${service.port}`);
    const ns = temporal.namespace;
    const uiBase = temporal.uiUrl;
    const ui = (id: string): string => (uiBase ? workflowUiUrl(uiBase, ns, id) : `workflow ${id}`);
    const countEvents = async (source: string): Promise<number> =>
      (await servePool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = $1', [source])).rows[0]?.n ??
      0;
    if (signals.received()) throw new Stopped();
    if (withoutDemo) {
      ok = true;
    } else {
      out('');
      const abort = new AbortController();
      const demo = runDemo(client, {
        config,
        ui,
        service,
        serveToken,
        serveTokenShown,
        keepsRunning: stayUp,
        countEvents,
        signal: abort.signal,
      });
      let settled = false;
      demo.then(
        () => (settled = true),
        () => (settled = true), // a stop while it runs makes it fail: that is the stop's, not the demo's
      );
      const clientStep = services.find((x) => x.name === 'client');
      if (clientStep) {
        const close = clientStep.stop;
        clientStep.stop = async () => (settled ? close() : 'left to the exit: the interrupted demo run still waits on it');
      }
      const finished = await Promise.race([demo, signals.requested.then(() => undefined)]);
      if (finished === undefined) {
        // First of all: the demo's own waits end, so that nothing calls the services and the client
        // while they close (a Temporal client call retried after its connection closed throws from a
        // timer). The client is left to the exit when the demo still holds it.
        services.unshift({
          name: 'demo run',
          timeoutMs: 15_000,
          stop: async () => {
            abort.abort();
            await demo.catch(() => undefined);
            return 'interrupted';
          },
        });
        throw new Stopped();
      }
      ok = finished;
      out('');
    }
    if (uiBase) {
      out(`Temporal UI: ${uiBase}/namespaces/${ns}/workflows`);
      out('  search: SluicePipeline="demo"  ·  SluiceStep="validate"  ·  SluiceStatus="failed"');
    }
    out(
      `Run events: psql "${postgres.url}" -c "SELECT workflow_id, step, status, counts FROM sluice.run_events ORDER BY id DESC LIMIT 20"`,
    );
    if (stayUp) {
      out(
        withoutDemo
          ? `\nsluice is up (no demo run): Temporal ${temporal.address}, workers on ${config.taskQueues.cpu} and ${config.taskQueues.gpu}. Ctrl-C to stop.`
          : '\nServer, workers and services keep running so you can browse the UI. Ctrl-C to stop.',
      );
      // until a signal, or until the workers stop by themselves (a fatal worker error)
      await Promise.race([signals.requested, running]);
    }
  } catch (err) {
    if (err instanceof Stopped) interrupted = true;
    else {
      ok = false;
      process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    }
  }
  if (!signals.received()) out('\nStopping:');
  const stopped = await stopInOrder([...services, ...servers], out);
  signals.dispose();
  if (interrupted) out('The demo run was interrupted by the stop.');
  out(`\nStopped. The history is kept in ${base.dataDir}; \`npm run dev\` starts the server, the UI and the workers again.`);
  // An orderly stop on request is a success; otherwise the demo's own result counts too.
  process.exit(stopped && (ok || interrupted || signals.received() !== undefined) ? 0 : 1);
}

/** The user stopped the script before the demo finished. */
class Stopped extends Error {}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exit(1);
});
