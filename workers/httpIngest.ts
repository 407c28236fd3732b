/**
 * HTTP ingest endpoint for services in other languages:
 *
 *   POST /v1/sources/:source/events   (NDJSON body, `Authorization: Bearer <SLUICE_INGEST_TOKEN>`)
 *   -> 200 { received, accepted, quarantined, duplicates, batchId, fromSeq, toSeq }
 *
 * It never writes around Temporal: the body is spooled, byte for byte, to a file under the
 * artifacts directory and handed to the source's `ingest` workflow by reference (every body, not
 * only large ones, so that one path handles bytes that are not even JSON or UTF-8 and no request
 * size can reach workflow history). An `Idempotency-Key` header makes a retried POST return the
 * first answer instead of ingesting again. Port: SLUICE_HTTP_PORT.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { SluiceConfig } from '../config';
import { SluiceClient } from '../client/sluiceClient';
import { ContractRegistry } from '../contracts/registry';
import { ErrorCodes } from '../api/errors';
import { SOURCE_NAME_PATTERN } from '../api/names';

/** Largest request body accepted (spooled to disk, never held in memory). */
export const HTTP_INGEST_MAX_BODY_BYTES = 1024 * 1024 * 1024;
const ROUTE = /^\/v1\/sources\/([^/]+)\/events\/?$/;

export interface IngestHttpOptions {
  config: Pick<SluiceConfig, 'artifactsDir' | 'httpIngest'>;
  client: Pick<SluiceClient, 'ingestFile'>;
  /** Source contracts (default: contracts/sources), to answer 404 for an unknown source before reading the body. */
  contracts?: ContractRegistry;
  maxBodyBytes?: number;
  log?: (message: string) => void;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function tokenMatches(given: string, expected: string): boolean {
  // Compare digests: equal length, constant time, no early exit on the first differing byte.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Copies the request into `file`, refusing more than `max` bytes. A body over the limit is refused
 * without destroying the request (that would reset the connection before the 413 is sent): the
 * file is dropped and the rest of the body is read and discarded while the answer goes out.
 */
async function spool(req: http.IncomingMessage, file: string, max: number): Promise<number> {
  const tooLarge = (): HttpError => new HttpError(413, 'SLUICE_BODY_TOO_LARGE', `request body is over ${max} bytes; split it into several requests`);
  if (Number(req.headers['content-length'] ?? 0) > max) throw tooLarge();
  const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        reject(err);
      };
      const onData = (chunk: Buffer): void => {
        bytes += chunk.length;
        if (bytes > max) {
          fail(tooLarge());
          return;
        }
        if (!out.write(chunk)) {
          req.pause();
          out.once('drain', () => req.resume());
        }
      };
      const onEnd = (): void => {
        out.end(() => resolve());
      };
      req.on('data', onData);
      req.once('end', onEnd);
      req.once('error', fail);
      out.once('error', fail);
    });
  } catch (err) {
    out.destroy();
    throw err;
  }
  return bytes;
}

/** The request handler (exported for tests and for embedding in another server). */
export function ingestRequestHandler(opts: IngestHttpOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const configured = opts.config.httpIngest.token;
  if (!configured) throw new Error('SLUICE_INGEST_TOKEN is not set: the HTTP ingest endpoint refuses to start without a bearer token');
  const token: string = configured;
  let contracts = opts.contracts;
  const spoolDir = path.join(opts.config.artifactsDir, 'ingest-spool');
  const max = opts.maxBodyBytes ?? HTTP_INGEST_MAX_BODY_BYTES;
  const log = opts.log ?? ((m: string) => process.stderr.write(`[sluice http] ${m}\n`));

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = ROUTE.exec(url.pathname);
    if (!match) throw new HttpError(404, 'SLUICE_NOT_FOUND', 'no such endpoint; POST /v1/sources/:source/events');
    if (req.method !== 'POST') throw new HttpError(405, 'SLUICE_METHOD_NOT_ALLOWED', 'use POST');
    const auth = req.headers.authorization ?? '';
    const given = /^Bearer (.+)$/i.exec(auth)?.[1];
    if (!given || !tokenMatches(given, token)) throw new HttpError(401, 'SLUICE_UNAUTHORIZED', 'missing or wrong bearer token');
    let source: string;
    try {
      source = decodeURIComponent(match[1] ?? '');
    } catch {
      throw new HttpError(400, ErrorCodes.InvalidInput, 'source is not valid percent-encoding');
    }
    if (!SOURCE_NAME_PATTERN.test(source)) throw new HttpError(400, ErrorCodes.InvalidInput, `not a source name: ${JSON.stringify(source)}`);
    contracts ??= ContractRegistry.fromDirectory();
    if (!contracts.has(source)) throw new HttpError(404, ErrorCodes.UnknownSource, `unknown source ${JSON.stringify(source)}; known: ${contracts.names().join(', ')}`);

    const key = req.headers['idempotency-key'];
    const batchId = typeof key === 'string' && key.length > 0
      ? `http-${createHash('sha256').update(`${source}\n${key}`).digest('hex').slice(0, 40)}`
      : `http-${randomUUID()}`;
    await fs.promises.mkdir(spoolDir, { recursive: true });
    const file = path.join(spoolDir, `${batchId}-${randomUUID()}.ndjson`);
    let result;
    try {
      await spool(req, file, max);
      result = await opts.client.ingestFile(source, { kind: 'file', path: file }, { format: 'ndjson', batchId });
    } finally {
      // The rows are in the log or in quarantine (with their bytes when unparseable); the spool is
      // scratch, removed before the answer so that a client never sees it outlive its request.
      await fs.promises.rm(file, { force: true });
    }
    send(res, 200, result);
  }

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer' } : err.status === 413 ? { connection: 'close' } : {};
        send(res, err.status, { error: { code: err.code, message: err.message } }, headers);
        req.resume(); // the rest of the body, read and dropped
        return;
      }
      // A failure from Temporal (e.g. the batch failed non-retryably) carries its type in the cause chain.
      const cause = (err as { cause?: { type?: string; message?: string; cause?: { type?: string; message?: string } } }).cause;
      const type = cause?.type ?? cause?.cause?.type;
      const message = cause?.cause?.message ?? cause?.message ?? (err as Error).message;
      log(`ingest request failed: ${(err as Error).message}`);
      send(res, 502, { error: { code: type ?? ErrorCodes.IngestFailed, message } });
    });
  };
}

export interface IngestHttpServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Starts the endpoint on `port` (default config.httpIngest.port; 0 picks a free one). */
export async function startIngestHttpServer(opts: IngestHttpOptions & { port?: number; host?: string }): Promise<IngestHttpServer> {
  const server = http.createServer(ingestRequestHandler(opts));
  // A malformed request must not take the process down.
  server.on('clientError', (_err, socket) => socket.destroy());
  server.listen(opts.port ?? opts.config.httpIngest.port, opts.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

async function main(): Promise<void> {
  const client = await SluiceClient.connect();
  const http = await startIngestHttpServer({ config: client.config, client });
  process.stderr.write(`[sluice http] ingest endpoint on :${http.port} (POST /v1/sources/:source/events)\n`);
  const stop = (): void => {
    void http.close().then(() => client.close());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`sluice http failed: ${err.message}\n`);
    process.exit(1);
  });
}
