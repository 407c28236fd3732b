/**
 * The scoring service: the champion model of each endpoint answering over HTTP.
 *
 *   POST /v1/endpoints/:endpoint/predict   (`Authorization: Bearer <SLUICE_SERVE_TOKEN>`)
 *     body: {"rows": [{<feature>: <value>, ...}, ...]}  (Content-Type: application/json)
 *           or an Arrow IPC stream, one column per feature (application/vnd.apache.arrow.stream)
 *   -> 200 { requestId, endpoint, model: { name, version, sha256 }, predictions: [...] }
 *      a prediction is { label, probabilities: { <class>: p } } (classification) or { value } (regression);
 *      with `Accept: application/vnd.apache.arrow.stream`, the same as an Arrow stream (activities/serve/arrowAnswer.ts)
 *   GET /healthz   (no token)   GET /metrics   (token; Prometheus text format)
 *
 * - Rows are checked against the champion's signature first (activities/serve/rows.ts): a missing,
 *   extra or mistyped feature, NaN or Infinity is a 400 naming the row and field; no rows is 400;
 *   more than SLUICE_SERVE_MAX_ROWS rows or SLUICE_SERVE_MAX_BODY_BYTES bytes is 413.
 * - An unknown endpoint is 404 (the known ones are not listed); one whose model cannot be served
 *   is 503 with the reason. Wrong or missing token: 401, before anything else is looked at.
 * - An Arrow body is checked and turned into the input tensor column by column (no row objects).
 * - Small requests reaching a model in the same turn of the event loop are scored in one
 *   session.run (micro-batching, activities/serve/model.ts), each answered with its own rows.
 * - Models switch without a restart (activities/serve/endpoints.ts); while a shadow session is
 *   open the candidate scores the same rows after the answer has gone out.
 * - Every prediction goes to the log, off the request path (activities/serve/predictionLog.ts;
 *   the inputs digests of a large request on a worker thread, activities/serve/digests.ts);
 *   when the log falls SLUICE_SERVE_LOG_MAX_BUFFERED events behind, predict answers 503 with
 *   Retry-After rather than answer what it cannot record.
 * - Every answer has an `x-request-id` header; an unexpected 5xx says only that and a generic
 *   message, the details go to the server log under the same id.
 *
 * Listens on SLUICE_SERVE_HOST (default 127.0.0.1: this host only) and SLUICE_SERVE_PORT (8090).
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Pool } from 'pg';
import { ErrorCodes, HttpErrorCodes } from '../api/errors';
import { loadConfig, SERVE_DEFAULTS, type ServeConfig } from '../config';
import { ContractRegistry } from '../contracts/registry';
import { LocalArtifactStore, type ArtifactStore } from '../activities/artifacts';
import {
  arrowAnswer,
  arrowColumns,
  Counter,
  DigestWorker,
  EndpointTable,
  Gauge,
  Histogram,
  jsonRows,
  objectRows,
  OFF_THREAD_MIN_ROWS,
  PredictionLog,
  PROMETHEUS_CONTENT_TYPE,
  renderMetrics,
  type EndpointState,
  type LoadedModel,
  type PredictionEvent,
  type RequestRows,
  type RowIssue,
  type RowOutputs,
  ARROW_STREAM,
  wantsArrow,
} from '../activities/serve';
import type { TestRows } from '../activities/evaluate/testSplit';
import { createPool } from '../db/pool';
import { answerClientError, bearerToken, definedOnly, describeFailure, HttpError, send, tokenMatcher } from './httpCommon';

const ROUTE = /^\/v1\/endpoints\/([^/]+)\/predict\/?$/;
const ENDPOINT_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const USAGE = 'POST /v1/endpoints/:endpoint/predict';
const MAX_URL_BYTES = 4 * 1024;
const MAX_HEADER_BYTES = 16 * 1024;
/** Seconds a client is told to wait when the prediction log is behind. */
export const LOG_BEHIND_RETRY_AFTER_SECONDS = 1;

const MEDIA_TYPES: Readonly<Record<string, 'json' | 'arrow'>> = {
  'application/json': 'json',
  'application/vnd.apache.arrow.stream': 'arrow',
  'application/vnd.apache.arrow.file': 'arrow',
};

export interface ScoringServiceOptions {
  config: { serve: Pick<ServeConfig, 'token'> & Partial<ServeConfig> };
  pool: Pool;
  artifacts: ArtifactStore;
  /** Source contracts (default contracts/sources): the `predictions` contract the log checks events against. */
  contracts?: ContractRegistry;
  log?: (message: string) => void;
  port?: number;
  host?: string;
}

export interface ScoringService {
  server: http.Server;
  port: number;
  host: string;
  endpoints: EndpointTable;
  predictions: PredictionLog;
  /** Per event written to the log: ms from its answer to its commit (the bench reads them; the metric has them too). */
  onLogLag?: (lagsMs: number[], writeMs: number) => void;
  /** Stops listening, finishes the requests and shadow scoring in flight, flushes the prediction log. */
  close(): Promise<void>;
}

function serviceMetrics(endpoints: () => EndpointState[], predictions: () => PredictionLog) {
  const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  const m = {
    requests: new Counter('sluice_serve_requests_total', 'Requests answered, by endpoint ("" when unknown) and HTTP status.'),
    latency: new Histogram('sluice_serve_request_duration_seconds', 'Time from request to answer, by endpoint.', latencyBuckets),
    errors: new Counter('sluice_serve_errors_total', 'Requests refused or failed, by endpoint and sluice error code.'),
    rows: new Counter('sluice_serve_rows_total', 'Rows scored by the champion, by endpoint.'),
    shadowRequests: new Counter('sluice_serve_shadow_requests_total', 'Requests also scored by a shadow candidate, by endpoint.'),
    shadowErrors: new Counter('sluice_serve_shadow_errors_total', 'Requests the shadow candidate failed to score, by endpoint.'),
    loadFailures: new Counter(
      'sluice_serve_model_load_failures_total',
      'Models refused or not loadable (sha256 mismatch, missing file), by endpoint.',
    ),
    version: new Gauge('sluice_serve_model_version', 'Version of the model serving each endpoint, by role (champion, shadow).', (g) => {
      g.clear();
      for (const s of endpoints()) {
        if (s.champion)
          g.set({ endpoint: s.endpoint, model: s.modelName, role: 'champion', sha256: s.champion.ref.sha256 }, s.champion.ref.version);
        if (s.shadow)
          g.set(
            { endpoint: s.endpoint, model: s.modelName, role: 'shadow', sha256: s.shadow.candidate.ref.sha256 },
            s.shadow.candidate.ref.version,
          );
      }
    }),
    available: new Gauge(
      'sluice_serve_endpoint_available',
      'Whether each endpoint has a model to answer with (1) or answers 503 (0).',
      (g) => {
        g.clear();
        for (const s of endpoints()) g.set({ endpoint: s.endpoint }, s.champion ? 1 : 0);
      },
    ),
    buffered: new Gauge('sluice_serve_prediction_log_buffered_events', 'Prediction events not yet in the log.', (g) =>
      g.set({}, predictions().buffered),
    ),
    oldest: new Gauge('sluice_serve_prediction_log_oldest_wait_seconds', 'Age of the oldest prediction event not yet in the log.', (g) =>
      g.set({}, predictions().oldestWaitMs() / 1000),
    ),
    lag: new Histogram(
      'sluice_serve_prediction_log_lag_seconds',
      'Time from an answer to its event committed in the log.',
      [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    ),
    writes: new Histogram(
      'sluice_serve_prediction_log_write_seconds',
      'Time to write one batch of prediction events to the log.',
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    ),
    logged: new Counter(
      'sluice_serve_prediction_log_events_total',
      'Prediction events written, by result (accepted, quarantined, duplicate).',
    ),
    logFailures: new Counter('sluice_serve_prediction_log_write_failures_total', 'Failed writes of the prediction log (each is retried).'),
  };
  return { ...m, render: () => renderMetrics(Object.values(m)) };
}

/** Reads the body into memory, refusing more than `max` bytes (413). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = (): HttpError =>
    new HttpError(413, HttpErrorCodes.BodyTooLarge, `request body is over ${max} bytes; send fewer rows per request`, {
      connection: 'close',
    });
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(tooLarge());
  // Listeners rather than an async iterator: a small body is read without a promise per chunk.
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (err?: Error): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('close', onClose);
      if (err) reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) done(tooLarge());
      else parts.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size));
    };
    const onClose = (): void => done(new Error('the client closed the connection before the body ended'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
    req.on('close', onClose);
  });
}

function formatOf(contentType: string | undefined): 'json' | 'arrow' {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const format = MEDIA_TYPES[type];
  if (!format)
    throw new HttpError(
      415,
      HttpErrorCodes.UnsupportedMediaType,
      `Content-Type ${JSON.stringify(contentType ?? '')} is not accepted; send one of: ${Object.keys(MEDIA_TYPES).join(', ')}`,
    );
  return format;
}

const describeIssue = (i: RowIssue): string =>
  i.row < 0 ? i.message : `row ${i.row}${i.field ? `, field "${i.field}"` : ''}: ${i.message}`;

function invalidRows(issues: RowIssue[]): HttpError & { issues: RowIssue[] } {
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  const err = new HttpError(400, HttpErrorCodes.InvalidRows, `${describeIssue(issues[0] as RowIssue)}${more}`) as HttpError & {
    issues: RowIssue[];
  };
  err.issues = issues;
  return err;
}

/** Starts the service: loads every endpoint's champion, listens for changes, serves. */
export async function startScoringService(opts: ScoringServiceOptions): Promise<ScoringService> {
  const configured = opts.config.serve.token;
  if (!configured) throw new Error('SLUICE_SERVE_TOKEN is not set: the scoring service refuses to start without a bearer token');
  const tokenMatches = tokenMatcher(configured);
  const settings = { ...SERVE_DEFAULTS, ...definedOnly(opts.config.serve) };
  const log = opts.log ?? ((m: string) => process.stderr.write(`[sluice serve] ${m}\n`));
  const contracts = opts.contracts ?? ContractRegistry.fromDirectory();

  // read only when /metrics is rendered, after both exist
  const metrics = serviceMetrics(
    () => table.all(),
    () => predictions,
  );
  const service: Partial<ScoringService> = {};
  const predictions = new PredictionLog({
    pool: opts.pool,
    contracts,
    flushMs: settings.logFlushMs,
    flushEvents: settings.logFlushEvents,
    onWriteFailure: (err, batch) => {
      metrics.logFailures.inc();
      log(`writing ${batch.events} prediction events to ${batch.source} failed (kept, retried at the next flush): ${describeFailure(err)}`);
    },
    onWritten: (lags, result) => {
      for (const l of lags) metrics.lag.observe({}, l / 1000);
      metrics.writes.observe({}, result.writeMs / 1000);
      metrics.logged.inc({ result: 'accepted' }, result.accepted);
      if (result.quarantined > 0) metrics.logged.inc({ result: 'quarantined' }, result.quarantined);
      if (result.duplicates > 0) metrics.logged.inc({ result: 'duplicate' }, result.duplicates);
      service.onLogLag?.(lags, result.writeMs);
    },
  });
  const table = new EndpointTable({
    pool: opts.pool,
    artifacts: opts.artifacts,
    log,
    onLoadFailure: (endpoint) => metrics.loadFailures.inc({ endpoint }),
  });
  await table.start(settings.pollMs);
  predictions.start();

  /** Digests and shadow scoring still running (awaited on close, so that their events reach the log). */
  const recording = new Set<Promise<void>>();
  const digester = new DigestWorker();

  function record(
    state: EndpointState,
    requestId: string,
    champion: LoadedModel,
    rows: RequestRows,
    inputs: TestRows,
    outputs: RowOutputs[],
    latencyMs: number,
    answeredAt: number,
  ): void {
    const at = new Date(answeredAt).toISOString();
    const eventsOf = (digests: (r: number) => string): PredictionEvent[] => {
      const events: PredictionEvent[] = new Array(rows.count);
      for (let i = 0; i < rows.count; i++)
        events[i] = {
          event_id: `${requestId}:${i}`,
          request_id: requestId,
          endpoint: state.endpoint,
          row: i,
          answered_at: at,
          model: champion.ref,
          inputs_digest: digests(i),
          outputs: outputs[i] as RowOutputs,
          latency_ms: latencyMs,
        };
      return events;
    };
    const shadow = state.shadow;
    const shadowed = shadow !== undefined && table.claimShadow(shadow);
    if (!shadowed && rows.count < OFF_THREAD_MIN_ROWS) {
      predictions.append(
        eventsOf((i) => champion.rows.digest(rows, i)),
        answeredAt,
      );
      return;
    }
    const work = (async () => {
      // a large request's digests are computed on the digest worker while the candidate scores
      const digests = digester.digests(champion.rows, rows);
      let shadowOf: ((i: number) => NonNullable<PredictionEvent['shadow']>) | undefined;
      if (shadow && shadowed) {
        metrics.shadowRequests.inc({ endpoint: state.endpoint });
        const candidate = shadow.candidate;
        const base = { session_id: shadow.sessionId, version: candidate.ref.version, sha256: candidate.ref.sha256 };
        const t0 = performance.now();
        try {
          // the same inputs as the champion's: an open session's candidate has the champion's signature (endpoints.ts)
          const theirs = await candidate.scoreInputs(inputs);
          const ms = performance.now() - t0;
          shadowOf = (i) => ({ ...base, outputs: theirs[i] as RowOutputs, latency_ms: ms });
        } catch (err) {
          // The champion's answer stands; the event says the candidate failed, and the metric counts it.
          metrics.shadowErrors.inc({ endpoint: state.endpoint });
          const error = (err as Error).message.slice(0, 500);
          shadowOf = () => ({ ...base, error });
        }
      }
      const d = await digests;
      const events = eventsOf((i) => d[i] as string);
      if (shadowOf) events.forEach((e, i) => (e.shadow = (shadowOf as (i: number) => NonNullable<PredictionEvent['shadow']>)(i)));
      predictions.append(events, answeredAt);
    })();
    recording.add(work);
    void work.finally(() => recording.delete(work));
  }

  async function predict(req: http.IncomingMessage, res: http.ServerResponse, requestId: string, name: string): Promise<string> {
    const state = ENDPOINT_NAME.test(name) ? table.get(name) : undefined;
    // Not the list of endpoints: a caller with the token learns nothing it did not ask about.
    if (!state) throw new HttpError(404, HttpErrorCodes.UnknownEndpoint, `unknown endpoint ${JSON.stringify(name)}`);
    const format = formatOf(req.headers['content-type']);
    const champion = state.champion;
    if (!champion)
      throw new HttpError(
        503,
        HttpErrorCodes.ModelUnavailable,
        `endpoint ${state.endpoint} has no model to answer with: ${state.problem ?? 'not loaded'}`,
        {
          'retry-after': '5',
        },
      );
    if (predictions.buffered >= settings.logMaxBufferedEvents)
      throw new HttpError(
        503,
        HttpErrorCodes.Busy,
        `the prediction log is ${predictions.buffered} events behind; retry in ${LOG_BEHIND_RETRY_AFTER_SECONDS} second(s)`,
        { 'retry-after': String(LOG_BEHIND_RETRY_AFTER_SECONDS) },
      );
    const body = await readBody(req, settings.maxBodyBytes);
    let rows: RequestRows;
    let issues: RowIssue[];
    const counted = (count: number): void => {
      if (count === 0) throw new HttpError(400, HttpErrorCodes.InvalidRows, 'rows is empty: send at least one row to score');
      if (count > settings.maxRows)
        throw new HttpError(
          413,
          HttpErrorCodes.TooManyRows,
          `${count} rows is over the limit of ${settings.maxRows} per request; split them`,
        );
    };
    const decoded = format === 'json' ? champion.rows.fastJson(body, settings.maxRows) : undefined;
    if (decoded) {
      // decoded straight into numbers, every row already checked (activities/serve/fastJson.ts)
      rows = decoded;
      issues = [];
    } else if (format === 'json') {
      const parsed = jsonRows(body);
      if (!parsed.ok) throw invalidRows(parsed.issues);
      counted(parsed.rows.length);
      issues = champion.rows.check(parsed.rows);
      rows = objectRows(parsed.rows);
    } else {
      // Arrow: checked column by column, the tensor filled from the columns (no row objects).
      const parsed = arrowColumns(body);
      if (!parsed.ok) throw invalidRows(parsed.issues);
      counted(parsed.columns.count);
      ({ issues, rows } = champion.rows.checkColumns(parsed.columns));
    }
    if (issues.length > 0) throw invalidRows(issues);
    const t0 = performance.now();
    const inputs = champion.rows.inputs(rows);
    const outputs = await champion.scoreInputs(inputs);
    const latencyMs = performance.now() - t0;
    const answeredAt = Date.now();
    if (wantsArrow(req.headers.accept)) {
      // a columnar client's answer: the same content as an Arrow stream (activities/serve/arrowAnswer.ts)
      const body = arrowAnswer({
        requestId,
        endpoint: state.endpoint,
        model: champion.ref,
        classes: champion.rows.signature.classes,
        outputs,
      });
      res.writeHead(200, { 'content-type': ARROW_STREAM, 'content-length': body.byteLength });
      res.end(body);
    } else send(res, 200, { requestId, endpoint: state.endpoint, model: champion.ref, predictions: outputs });
    metrics.rows.inc({ endpoint: state.endpoint }, rows.count);
    record(state, requestId, champion, rows, inputs, outputs, latencyMs, answeredAt);
    return state.endpoint;
  }

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    requestId: string,
    labels: { endpoint: string },
  ): Promise<void> {
    const rawUrl = req.url ?? '/';
    if (Buffer.byteLength(rawUrl) > MAX_URL_BYTES)
      throw new HttpError(414, HttpErrorCodes.UrlTooLong, `the request URL is over ${MAX_URL_BYTES} bytes; ${USAGE}`);
    const path = rawUrl.split('?')[0] ?? '/';
    if (path === '/healthz') {
      if (req.method !== 'GET') throw new HttpError(405, HttpErrorCodes.MethodNotAllowed, 'use GET', { allow: 'GET' });
      const behind = predictions.buffered >= settings.logMaxBufferedEvents;
      send(res, behind ? 503 : 200, { status: behind ? 'prediction log behind' : 'ok' });
      return;
    }
    const authorized = (): void => {
      const given = bearerToken(req.headers.authorization);
      if (!given || !tokenMatches(given))
        throw new HttpError(401, HttpErrorCodes.Unauthorized, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
    };
    if (path === '/metrics') {
      if (req.method !== 'GET') throw new HttpError(405, HttpErrorCodes.MethodNotAllowed, 'use GET', { allow: 'GET' });
      authorized();
      const text = metrics.render();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const match = ROUTE.exec(path);
    if (!match) throw new HttpError(404, HttpErrorCodes.NotFound, `no such path; ${USAGE}`);
    if (req.method !== 'POST') throw new HttpError(405, HttpErrorCodes.MethodNotAllowed, 'use POST', { allow: 'POST' });
    authorized();
    let name: string;
    try {
      name = decodeURIComponent(match[1] ?? '');
    } catch {
      throw new HttpError(400, ErrorCodes.InvalidInput, 'the endpoint name is not valid percent-encoding');
    }
    if (table.get(name)) labels.endpoint = name;
    await predict(req, res, requestId, name);
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const requestId = randomUUID();
    const started = performance.now();
    const labels = { endpoint: '' };
    res.setHeader('x-request-id', requestId);
    res.once('finish', () => {
      metrics.requests.inc({ endpoint: labels.endpoint, status: String(res.statusCode) });
      if (labels.endpoint) metrics.latency.observe(labels, (performance.now() - started) / 1000);
    });
    handle(req, res, requestId, labels).catch((err: unknown) => {
      req.resume(); // the rest of the body, read and dropped while the answer goes out
      if (err instanceof HttpError) {
        metrics.errors.inc({ endpoint: labels.endpoint, code: err.code });
        const issues = (err as { issues?: RowIssue[] }).issues;
        send(res, err.status, { error: { code: err.code, message: err.message, ...(issues ? { issues } : {}), requestId } }, err.headers);
        return;
      }
      metrics.errors.inc({ endpoint: labels.endpoint, code: HttpErrorCodes.Internal });
      log(`request ${requestId} (${req.method ?? '?'} ${req.url ?? '?'}) failed: ${describeFailure(err)}`);
      send(res, 500, {
        error: {
          code: HttpErrorCodes.Internal,
          message: `the request failed; the server log has the details under request id ${requestId}`,
          requestId,
        },
      });
    });
  };

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 65_000 }, handler);
  server.on('clientError', (err: Error, socket: Socket) => answerClientError(err, socket, MAX_URL_BYTES, USAGE));
  server.listen(opts.port ?? settings.port, opts.host ?? settings.host);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await table.close();
    await predictions.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  return Object.assign(service, {
    server,
    port: address.port,
    host: address.address,
    endpoints: table,
    predictions: predictions,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await Promise.allSettled([...recording]);
      await digester.close();
      const left = await predictions.close();
      if (left > 0) log(`${left} prediction events could not be written before shutdown (see the errors above)`);
      await table.close();
    },
  }) as ScoringService;
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl)
    throw new Error(
      'DATABASE_URL is not set: the scoring service reads endpoints and models from the PostgreSQL that holds the sluice log',
    );
  const pool = createPool(config.databaseUrl, { max: 6, applicationName: 'sluice-serve' });
  const service = await startScoringService({ config, pool, artifacts: new LocalArtifactStore(config.artifactsDir) });
  process.stderr.write(`[sluice serve] scoring service on ${service.host}:${service.port} (${USAGE})\n`);
  const stop = (): void => {
    void service
      .close()
      .then(() => pool.end())
      .then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`[sluice serve] shutdown failed: ${err.message}\n`);
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`sluice serve failed: ${err.message}\n`);
    process.exit(1);
  });
}
