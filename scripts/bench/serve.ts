/**
 * Scoring service benchmark (`npm run bench -- serve [--scale 0.1]`): the service (workers/serve.ts)
 * in this process on a scratch database of the local stack, serving a logistic regression on 30
 * numeric features (trained on make_classification rows, as in the ml suite), and a load generator
 * in a worker thread (prepared requests on raw keep-alive connections, as autocannon does; one loop
 * per connection, each sending its next request when the last one is answered):
 *  - serve_rps, serve_p50_ms, serve_p99_ms: 1 row per request (JSON) under 100 connections (three
 *    rounds, alternating with the calibration server below, pooled).
 *  - serve_rows_per_s: 1,000 rows per request (JSON) under 4 connections; serve_rows_per_s_arrow
 *    the same rows as an Arrow IPC stream, answered as one (Accept: application/vnd.apache.arrow.stream),
 *    as a columnar client asks.
 *  - direct_rows_per_s: what a user would otherwise do in-process: onnxruntime-node (the same
 *    session options) on 1,000-row batches, the float32 tensor built from the same row objects
 *    each time. The bulk runs and the direct one alternate in three rounds (JSON, Arrow, direct);
 *    serve_vs_direct is the median of the rounds' serve ÷ direct rows/s.
 *  - shadow_overhead: p50 latency at 1 row per request under 10 connections with a shadow session
 *    open (a second logistic regression scores every request after the answer) ÷ without; the two
 *    runs alternate (off, on, off, on) and each side takes the median of its runs.
 *  - prediction_log_lag_ms: p99 over every event of the serve_rps run of the time from its answer
 *    to the commit of the batch that wrote it to the log.
 *  - calibration: a node:http server in this process that only reads the body and sends a fixed
 *    answer of the service's size, under the same loads (noop_server_p99_ms at 1 row and 100
 *    connections, noop_server_rows_per_s at 1,000 rows): what any HTTP service could reach with
 *    this load generator on this machine, so a goal below it is out of reach here. At 1 row the
 *    service and the no-op server take turns (three rounds of 5 s and 3.3 s), and each figure pools
 *    its rounds' answers: this machine's speed drifts by a factor of two over minutes.
 * Notes: session.run calls per request at 1 row (micro-batching), the events each run left for the
 * log to write after it ended (and how long that took), and JSON.parse of the 1,000-row body alone.
 * The service, the load generator and PostgreSQL share this machine's cores.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Float32, Table, tableToIPC, vectorFromArray } from 'apache-arrow';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { LocalArtifactStore } from '../../activities/artifacts';
import { exportModelToOnnx, NUMERIC_INPUT, rowSchema, readModelSignature } from '../../activities/onnx';
import { insertModelVersion, moveModelAlias } from '../../activities/registry/queries';
import { notifyEndpointChanged } from '../../activities/serve';
import { makeClassification, trainModel, type DatasetSpec, type TabularData } from '../../activities/train';
import { percentile } from '../../activities/evaluate/metrics';
import { createScratchDatabase } from '../../db/scratch';
import { startScoringService } from '../../workers/serve';
import type { BenchContext, BenchSuite } from './harness';

const FEATURES = 30;
const ENDPOINT = 'bench';
const TOKEN = 'bench-token';
const DATASET = '0'.repeat(64);

interface LoadResult {
  requests: number;
  seconds: number;
  failed: number;
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  /** Every answered request's latency (ms), ascending. */
  latencies?: Float64Array;
}

/**
 * The load generator, run in a worker thread (plain JS: the worker has no TypeScript loader). Like
 * autocannon it writes a request prepared once on each keep-alive connection and reads only the
 * status line, the Content-Length and the body's length of the answer: node:http's client costs
 * about as much CPU per request as the service itself, on the same two cores. One loop per
 * connection, each sending its next request when the last one is answered; a connection the
 * service closes is opened again.
 */
const LOAD_GENERATOR = `
const net = require('node:net');
const { parentPort, workerData: w } = require('node:worker_threads');
const body = Buffer.from(w.body);
const request = Buffer.concat([Buffer.from(
  'POST ' + w.path + ' HTTP/1.1\\r\\nHost: 127.0.0.1:' + w.port + '\\r\\nAuthorization: Bearer ' + w.token +
  '\\r\\nContent-Type: ' + w.contentType + (w.accept ? '\\r\\nAccept: ' + w.accept : '') + '\\r\\nContent-Length: ' + body.length + '\\r\\nConnection: keep-alive\\r\\n\\r\\n'), body]);
const HEADER_END = Buffer.from('\\r\\n\\r\\n');
const start = Date.now();
const measureFrom = start + w.warmupMs;
const end = measureFrom + w.durationMs;
const latencies = [];
const statuses = {};
let failed = 0;
let open = 0;
const connection = () => new Promise((resolve) => {
  open++;
  const socket = net.connect(w.port, '127.0.0.1');
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let need = -1; // bytes of the answer (header + body) once its header is read
  let status = 0;
  let sent = 0;
  let sentAt = 0n;
  let closed = false;
  const send = () => {
    if (Date.now() >= end) { socket.end(); return; }
    sent = Date.now();
    sentAt = process.hrtime.bigint();
    socket.write(request);
  };
  socket.on('connect', send);
  socket.on('data', (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (need < 0) {
        const h = buf.indexOf(HEADER_END);
        if (h < 0) return;
        const head = buf.toString('latin1', 0, h);
        status = Number(head.slice(9, 12));
        const m = /\\r\\ncontent-length: *(\\d+)/i.exec(head);
        if (!m) { socket.destroy(new Error('an answer without Content-Length')); return; }
        need = h + 4 + Number(m[1]);
      }
      if (buf.length < need) return;
      const ms = Number(process.hrtime.bigint() - sentAt) / 1e6;
      buf = buf.subarray(need);
      need = -1;
      if (sent >= measureFrom) {
        statuses[status] = (statuses[status] || 0) + 1;
        if (status !== 200) failed++;
        else latencies.push(ms);
      }
      send();
    }
  });
  const done = (err) => {
    if (closed) return;
    closed = true;
    open--;
    if (err && sent >= measureFrom) { statuses['error:' + (err.code || err.message)] = (statuses['error:' + (err.code || err.message)] || 0) + 1; failed++; }
    resolve(Date.now() < end ? connection() : undefined);
  };
  socket.on('error', done);
  socket.on('close', () => done());
});
Promise.all(Array.from({ length: w.connections }, connection)).then(() => {
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN;
  parentPort.postMessage({ requests: latencies.length + failed, seconds: w.durationMs / 1000, failed, statuses, p50: pick(0.5), p99: pick(0.99), latencies: Float64Array.from(latencies) });
});
`;

function runLoad(o: {
  port: number;
  body: Uint8Array | string;
  contentType: string;
  /** The Accept header (none: a JSON answer). */
  accept?: string;
  connections: number;
  durationMs: number;
  warmupMs: number;
}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_GENERATOR, {
      eval: true,
      workerData: {
        ...o,
        body: typeof o.body === 'string' ? Buffer.from(o.body) : o.body,
        path: `/v1/endpoints/${ENDPOINT}/predict`,
        token: TOKEN,
      },
    });
    worker.once('message', (m: LoadResult) => resolve(m));
    worker.once('error', reject);
  });
}

const median = (xs: number[]): number => percentile(xs, 0.5);

async function benchServe(ctx: BenchContext) {
  const { log, scale } = ctx;
  const seconds = (s: number): number => Math.max(1_000, Math.round(s * 1000 * scale));
  const rows = 20_000;
  const generated = makeClassification({ rows, features: FEATURES, informative: 15, redundant: 2, seed: 0 });
  const names = Array.from({ length: FEATURES }, (_, j) => `f${j}`);
  const spec: DatasetSpec = { features: names.map((name) => ({ name, kind: 'numeric' as const })), label: 'label', task: 'binary' };
  const table = (from: number, to: number): TabularData => {
    const columns: Record<string, Float64Array | Int32Array> = { label: generated.y.slice(from, to) };
    names.forEach((name, j) => {
      const c = new Float64Array(to - from);
      for (let i = from; i < to; i++) c[i - from] = generated.x[i * FEATURES + j] as number;
      columns[name] = c;
    });
    return { rowCount: to - from, columns };
  };
  // float32 values, as a client would send what the model takes
  const rowOf = (i: number): Record<string, number> =>
    Object.fromEntries(names.map((n, j) => [n, Math.fround(generated.x[(i % rows) * FEATURES + j] as number)]));
  const champion = exportModelToOnnx(trainModel({ data: table(0, 10_000), spec, trainer: { trainer: 'logistic_regression' }, seed: 1 }));
  const candidate = exportModelToOnnx(
    trainModel({ data: table(10_000, 20_000), spec, trainer: { trainer: 'logistic_regression' }, seed: 2 }),
  );

  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_serve',
    applicationName: 'sluice-bench',
    poolMax: 8,
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-serve-'));
  const store = new LocalArtifactStore(dir);
  try {
    await db.pool.query(
      `INSERT INTO sluice.datasets (id, transform, transform_version, log_range, contract_versions, row_count, artifact_uri)
       VALUES ($1, NULL, NULL, '{}', '{}', $2, NULL)`,
      [DATASET, rows],
    );
    for (const [i, bytes] of [champion, candidate].entries()) {
      const onnx = await store.put(bytes, { mediaType: 'application/onnx', extension: '.onnx' });
      await insertModelVersion(db.pool, {
        name: ENDPOINT,
        datasetId: DATASET,
        codeVersion: 'bench',
        codeDirty: null,
        task: 'binary',
        trainer: 'logistic_regression',
        parameters: {},
        seed: i + 1,
        metrics: {},
        onnxUri: onnx.uri,
        onnxSha256: onnx.sha256,
        cardUri: null,
        cardSha256: null,
        workflowId: 'bench-serve',
        runId: `run-${i + 1}`,
      });
    }
    await db.pool.query('INSERT INTO sluice.endpoints (endpoint, model_name, input_schema, created_by) VALUES ($1, $1, $2, $3)', [
      ENDPOINT,
      JSON.stringify(rowSchema(readModelSignature(champion))),
      'bench',
    ]);
    await moveModelAlias(db.pool, { name: ENDPOINT, alias: 'champion', version: 1, actor: 'bench' });

    const lags: number[] = [];
    let collectLags = false;
    const service = await startScoringService({
      config: { serve: { token: TOKEN, maxRows: 10_000, logMaxBufferedEvents: 2_000_000 } },
      pool: db.pool,
      artifacts: store,
      port: 0,
      log,
    });
    const writes: number[] = [];
    service.onLogLag = (l, writeMs) => {
      if (!collectLags) return;
      for (const x of l) lags.push(x);
      writes.push(writeMs);
    };
    try {
      const port = service.port;
      const one = JSON.stringify({ rows: [rowOf(0)] });
      const thousandRows = Array.from({ length: 1000 }, (_, i) => rowOf(i));
      const thousand = JSON.stringify({ rows: thousandRows });
      const arrow = tableToIPC(
        new Table(
          Object.fromEntries(
            names.map((n) => [
              n,
              vectorFromArray(
                thousandRows.map((r) => r[n] as number),
                new Float32(),
              ),
            ]),
          ),
        ),
        'stream',
      );
      const json = 'application/json';

      const runs = () => ({ ...service.endpoints.get(ENDPOINT)?.champion?.runs });
      /** Events the log still held when a run ended, and the time to write them after it (not part of the run's figures). */
      const backlog = async () => {
        const events = service.predictions.buffered;
        const t0 = performance.now();
        await service.predictions.flush();
        return { events, flushMs: Math.round(performance.now() - t0) };
      };

      // Calibration, same load generator and machine: a node:http server that does nothing but read
      // the body and send a fixed answer of the same size as the service's. At 1 row it runs in turn
      // with the service (rounds: service, then no-op); its p99 at 1 row and its rows/s at 1,000
      // rows are what any HTTP service in this process could reach here.
      const answer = async (body: string): Promise<Buffer> => {
        const r = await fetch(`http://127.0.0.1:${port}/v1/endpoints/${ENDPOINT}/predict`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': json },
          body,
        });
        if (r.status !== 200) throw new Error(`calibration: the service answered ${r.status}`);
        return Buffer.from(await r.arrayBuffer());
      };
      const answerOne = await answer(one);
      const answerThousand = await answer(thousand);
      await service.predictions.flush();
      const noop = http.createServer((req, res) => {
        let size = 0;
        req.on('data', (d: Buffer) => (size += d.length));
        req.on('end', () => {
          const body = size > 10_000 ? answerThousand : answerOne;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
          res.end(body);
        });
      });
      await new Promise<void>((resolve) => noop.listen(0, '127.0.0.1', resolve));
      const noopPort = (noop.address() as AddressInfo).port;
      /** The runs of one kind as one: their requests over their seconds, percentiles over all their answers. */
      const pooled = (runs: LoadResult[]): LoadResult => {
        const all = Float64Array.from(runs.flatMap((r) => Array.from(r.latencies ?? []))).sort();
        const pick = (q: number): number => (all.length ? (all[Math.min(all.length - 1, Math.floor(q * all.length))] as number) : NaN);
        return {
          requests: runs.reduce((x, r) => x + r.requests, 0),
          failed: runs.reduce((x, r) => x + r.failed, 0),
          seconds: runs.reduce((x, r) => x + r.seconds, 0),
          statuses: runs.reduce<Record<string, number>>((x, r) => {
            for (const [k, v] of Object.entries(r.statuses)) x[k] = (x[k] ?? 0) + v;
            return x;
          }, {}),
          p50: pick(0.5),
          p99: pick(0.99),
        };
      };
      /** The backlogs of several runs as one: their events and the time to write them. */
      const sumBacklog = (b: { events: number; flushMs: number }[]) => ({
        events: b.reduce((x, y) => x + y.events, 0),
        flushMs: b.reduce((x, y) => x + y.flushMs, 0),
      });
      const RPS_ROUNDS = 3;
      const rpsRuns: LoadResult[] = [];
      const noopRpsRuns: LoadResult[] = [];
      const runsBefore = runs();
      const rpsBacklogs: { events: number; flushMs: number }[] = [];
      for (let round = 0; round < RPS_ROUNDS; round++) {
        log(`serve: round ${round + 1}/${RPS_ROUNDS}: 1 row per request, 100 connections, the service then the no-op server`);
        collectLags = true;
        rpsRuns.push(
          await runLoad({ port, body: one, contentType: json, connections: 100, durationMs: seconds(15 / RPS_ROUNDS), warmupMs: 1_000 }),
        );
        rpsBacklogs.push(await backlog());
        collectLags = false;
        noopRpsRuns.push(
          await runLoad({
            port: noopPort,
            body: one,
            contentType: json,
            connections: 100,
            durationMs: seconds(10 / RPS_ROUNDS),
            warmupMs: 500,
          }),
        );
        log(
          `serve: ${JSON.stringify({ ...rpsRuns[round], latencies: undefined })} no-op ${JSON.stringify({ ...noopRpsRuns[round], latencies: undefined })}`,
        );
      }
      const runsAfter = runs();
      const rps = pooled(rpsRuns);
      const rpsBacklog = sumBacklog(rpsBacklogs);

      // The bulk figures and the direct rate they are divided by, measured side by side: rounds of
      // JSON, Arrow, then onnxruntime-node directly, each run after the log has caught up with the
      // last (this machine's speed drifts by a factor of two over minutes; a ratio of figures taken
      // minutes apart says more about the drift than about the service).
      const session = await InferenceSession.create(champion, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
      const direct = async (ms: number): Promise<LoadResult> => {
        let batches = 0;
        const from = performance.now();
        while (performance.now() - from < ms) {
          const m = new Float32Array(thousandRows.length * FEATURES);
          thousandRows.forEach((r, i) => names.forEach((n, j) => (m[i * FEATURES + j] = r[n] as number)));
          await session.run({ [NUMERIC_INPUT]: new Tensor('float32', m, [thousandRows.length, FEATURES]) });
          batches++;
        }
        return { requests: batches, seconds: (performance.now() - from) / 1000, failed: 0, statuses: {}, p50: NaN, p99: NaN };
      };
      const BULK_ROUNDS = 3;
      const bulkRuns: LoadResult[] = [];
      const bulkArrowRuns: LoadResult[] = [];
      const directRuns: LoadResult[] = [];
      const bulkBacklogs: { events: number; flushMs: number }[] = [];
      const bulkArrowBacklogs: { events: number; flushMs: number }[] = [];
      const roundRatios: { json: number; arrow: number }[] = [];
      const rowsPerSecond = (r: LoadResult): number => ((r.requests - r.failed) * 1000) / r.seconds;
      for (let round = 0; round < BULK_ROUNDS; round++) {
        log(
          `serve: round ${round + 1}/${BULK_ROUNDS}: 1,000 rows per request, 4 connections (JSON, then Arrow), then onnxruntime-node directly`,
        );
        const j = await runLoad({
          port,
          body: thousand,
          contentType: json,
          connections: 4,
          durationMs: seconds(10 / BULK_ROUNDS),
          warmupMs: 500,
        });
        bulkBacklogs.push(await backlog());
        const a = await runLoad({
          port,
          body: arrow,
          contentType: 'application/vnd.apache.arrow.stream',
          accept: 'application/vnd.apache.arrow.stream',
          connections: 4,
          durationMs: seconds(10 / BULK_ROUNDS),
          warmupMs: 500,
        });
        bulkArrowBacklogs.push(await backlog());
        const d = await direct(seconds(5 / BULK_ROUNDS));
        bulkRuns.push(j);
        bulkArrowRuns.push(a);
        directRuns.push(d);
        roundRatios.push({ json: rowsPerSecond(j) / rowsPerSecond(d), arrow: rowsPerSecond(a) / rowsPerSecond(d) });
        log(
          `serve: json ${JSON.stringify({ ...j, latencies: undefined })} arrow ${JSON.stringify({ ...a, latencies: undefined })} direct ${Math.round(rowsPerSecond(d))} rows/s`,
        );
      }
      await session.release();
      const bulk = pooled(bulkRuns);
      const bulkArrow = pooled(bulkArrowRuns);
      const bulkBacklog = sumBacklog(bulkBacklogs);
      const bulkArrowBacklog = sumBacklog(bulkArrowBacklogs);
      const directRowsPerS = rowsPerSecond(pooled(directRuns));

      // What parsing the 1,000-row JSON body alone costs here (no scoring, no log): a ceiling on serve_rows_per_s.
      const parseMs: number[] = [];
      const thousandBytes = Buffer.from(thousand);
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        JSON.parse(thousandBytes.toString('utf8'));
        parseMs.push(performance.now() - t0);
      }

      const noopRps = pooled(noopRpsRuns);
      let noopBulk: LoadResult;
      try {
        noopBulk = await runLoad({
          port: noopPort,
          body: thousand,
          contentType: json,
          connections: 4,
          durationMs: seconds(6),
          warmupMs: 1_000,
        });
      } finally {
        noop.closeAllConnections();
        await new Promise((r) => noop.close(r));
      }
      log(`serve: no-op server bulk ${JSON.stringify({ ...noopBulk, latencies: undefined })}`);

      log('serve: shadow off / on, 1 row per request, 10 connections');
      const off: number[] = [];
      const on: number[] = [];
      const shadowRuns: Record<string, LoadResult[]> = { off: [], on: [] };
      for (let round = 0; round < 2; round++) {
        for (const shadow of [false, true]) {
          if (shadow) {
            await db.pool.query(
              `INSERT INTO sluice.shadow_sessions (endpoint, candidate_version, champion_version, max_requests, ends_at, workflow_id, run_id)
               VALUES ($1, 2, 1, 2000000000, now() + interval '1 hour', 'bench-shadow', $2)`,
              [ENDPOINT, `round-${round}`],
            );
          } else {
            await db.pool.query(
              `INSERT INTO sluice.shadow_session_ends (session_id, outcome)
               SELECT id, 'cancelled' FROM sluice.shadow_sessions s WHERE NOT EXISTS (SELECT 1 FROM sluice.shadow_session_ends e WHERE e.session_id = s.id)`,
            );
          }
          await notifyEndpointChanged(db.pool, ENDPOINT);
          await service.endpoints.refresh();
          if ((service.endpoints.get(ENDPOINT)?.shadow !== undefined) !== shadow)
            throw new Error(`the shadow session is not ${shadow ? 'open' : 'closed'}`);
          const r = await runLoad({ port, body: one, contentType: json, connections: 10, durationMs: seconds(6), warmupMs: 1_000 });
          await service.predictions.flush();
          (shadow ? on : off).push(r.p50);
          shadowRuns[shadow ? 'on' : 'off']?.push({ ...r, latencies: undefined });
        }
      }
      log(`serve: shadow ${JSON.stringify(shadowRuns)}`);
      const shadowed = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'predictions_bench' AND payload ? 'shadow'`,
      );
      const logged = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'predictions_bench'",
      );
      const quarantined = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM sluice.quarantine WHERE source = 'predictions_bench'",
      );

      const rowsPerS = ((bulk.requests - bulk.failed) * 1000) / bulk.seconds;
      const rowsPerSArrow = ((bulkArrow.requests - bulkArrow.failed) * 1000) / bulkArrow.seconds;
      const failed =
        rps.failed + bulk.failed + bulkArrow.failed + [...shadowRuns.off!, ...shadowRuns.on!].reduce((a, r) => a + r.failed, 0);
      return {
        metrics: {
          serve_rps: { value: (rps.requests - rps.failed) / rps.seconds, unit: 'requests/s' },
          serve_p50_ms: { value: rps.p50, unit: 'ms' },
          serve_p99_ms: { value: rps.p99, unit: 'ms' },
          serve_rows_per_s: { value: rowsPerS, unit: 'rows/s' },
          serve_rows_per_s_arrow: { value: rowsPerSArrow, unit: 'rows/s' },
          direct_rows_per_s: { value: directRowsPerS, unit: 'rows/s' },
          shadow_off_p50_ms: { value: median(off), unit: 'ms' },
          shadow_on_p50_ms: { value: median(on), unit: 'ms' },
          prediction_log_lag_ms: { value: percentile(lags, 0.99), unit: 'ms' },
          prediction_log_lag_p50_ms: { value: percentile(lags, 0.5), unit: 'ms' },
          failed_requests: { value: failed, unit: 'requests' },
          noop_server_rps: { value: (noopRps.requests - noopRps.failed) / noopRps.seconds, unit: 'requests/s' },
          noop_server_p99_ms: { value: noopRps.p99, unit: 'ms' },
          noop_server_rows_per_s: { value: ((noopBulk.requests - noopBulk.failed) * 1000) / noopBulk.seconds, unit: 'rows/s' },
        },
        ratios: {
          // the median of the rounds' ratios (each round's figures taken side by side)
          serve_vs_direct: median(roundRatios.map((r) => r.json)),
          serve_vs_direct_arrow: median(roundRatios.map((r) => r.arrow)),
          shadow_overhead: median(on) / median(off),
          // the same figures for a server that does no work: the ceiling this load generator and machine allow
          noop_server_vs_direct: ((noopBulk.requests - noopBulk.failed) * 1000) / noopBulk.seconds / directRowsPerS,
          serve_rps_vs_noop_server: (rps.requests - rps.failed) / rps.seconds / ((noopRps.requests - noopRps.failed) / noopRps.seconds),
        },
        notes: {
          model: `logistic regression, ${FEATURES} numeric features (make_classification, seed 0)`,
          connections: { rps: 100, rows: 4, shadow: 10 },
          // serve ÷ direct rows/s of each bulk round (JSON, Arrow); the ratios above are their medians
          bulkRounds: roundRatios.map((r) => ({ json: Math.round(r.json * 1000) / 1000, arrow: Math.round(r.arrow * 1000) / 1000 })),
          statuses: { rps: rps.statuses, bulk: bulk.statuses, bulkArrow: bulkArrow.statuses },
          lagSamples: lags.length,
          // where the lag goes: time to write one batch (appendBatch) during the serve_rps run
          logWrites: { batches: writes.length, p50Ms: percentile(writes, 0.5), p99Ms: percentile(writes, 0.99) },
          loggedEvents: logged.rows[0]?.n,
          shadowedEvents: shadowed.rows[0]?.n,
          quarantinedEvents: quarantined.rows[0]?.n,
          // micro-batching during the serve_rps run: requests scored by the champion and the session.run calls that scored them
          microBatch: {
            requests: (runsAfter.requests ?? 0) - (runsBefore.requests ?? 0),
            sessionRuns: (runsAfter.calls ?? 0) - (runsBefore.calls ?? 0),
          },
          // prediction events not yet in the log when each run ended, and the time to write them after it
          logBacklog: { rps: rpsBacklog, bulk: bulkBacklog, bulkArrow: bulkArrowBacklog },
          // rows/s at 1,000 rows per request if each run also counted the time the log took to catch up after it:
          // what the service sustains with every prediction logged (the backlog also holds the warm-up's events)
          sustainedWithLog: {
            json: Math.round(((bulk.requests - bulk.failed) * 1000) / (bulk.seconds + bulkBacklog.flushMs / 1000)),
            arrow: Math.round(((bulkArrow.requests - bulkArrow.failed) * 1000) / (bulkArrow.seconds + bulkArrowBacklog.flushMs / 1000)),
          },
          // JSON.parse of the 1,000-row body alone (median ms) and the rows/s it would allow one core if nothing else ran
          jsonParse: {
            bodyBytes: thousandBytes.length,
            medianMs: Math.round(median(parseMs) * 1000) / 1000,
            ceilingRowsPerS: Math.round(1000 / (median(parseMs) / 1000)),
          },
          cpus: os.cpus().length,
          // other work on the machine during the run (1, 5 and 15 minute load averages at its end)
          loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
        },
      };
    } finally {
      await service.close();
    }
  } finally {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const serveSuite: BenchSuite = {
  name: 'serve',
  description:
    'serve_rps, serve_p99_ms (1 row, 100 connections), serve_rows_per_s and serve_vs_direct (1,000 rows), shadow_overhead, prediction_log_lag_ms',
  run: benchServe,
};
