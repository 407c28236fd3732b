/**
 * HTTP ingest endpoint for services in other languages:
 *
 *   POST /v1/sources/:source/events   (`Authorization: Bearer <SLUICE_INGEST_TOKEN>`)
 *   -> 200 { received, accepted, quarantined, conflicting, duplicates, batchId, fromSeq, toSeq }
 *
 * It never writes around Temporal: the body is spooled, byte for byte, to a file under the
 * artifacts directory and handed to the source's `ingest` workflow by reference (every body, not
 * only large ones, so that one path handles bytes that are not even JSON or UTF-8 and no request
 * size can reach workflow history).
 *
 * Nothing is lost without a word: a body sluice cannot read as it was declared is refused with a
 * 4xx naming what to send instead, never accepted and quarantined line by line, and never dropped.
 * - `Content-Type` chooses the ingest format ({@link HTTP_INGEST_MEDIA_TYPES}); any other type,
 *   or none, is 415. NDJSON and CSV are UTF-8 (another declared charset is 415).
 * - `Content-Encoding: gzip` or `deflate` is decoded while it streams in; any other is 415. The
 *   body limit counts the decoded bytes as well as those sent, so a small compressed bomb is
 *   refused (413) before it fills the disk.
 * - A UTF-8 byte-order mark at the start of an NDJSON or CSV body is dropped: it is a mark of the
 *   file, not a byte of the first record. No other byte is changed.
 * - `Idempotency-Key`: the same key with the same body returns the first answer; the same key with
 *   another body is 422 (see {@link claimIdempotencyKey}).
 * - Limits answer in HTTP: 413 (body), 414 (URL), 431 (headers), 503 with Retry-After when the
 *   bytes spooled by all requests in flight reach SLUICE_HTTP_MAX_SPOOL_BYTES.
 * - Every answer has an `x-request-id` header; a 5xx says only that and a generic message, the
 *   details go to the server log under the same id.
 *
 *   GET /v1/artifacts/:sha256   (the bearer token, or a signed link `?sig=` from a workflow memo)
 *   -> the artifact's bytes: text/html for reports and model cards, application/octet-stream otherwise; 404 unknown, 401 unauthenticated
 *
 * Listens on SLUICE_HTTP_HOST (default 127.0.0.1: this host only) and SLUICE_HTTP_PORT.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { LocalArtifactStore } from '../activities/artifacts';
import { artifactSignatureMatches } from '../activities/pipeline/links';
import { HTTP_INGEST_DEFAULTS, httpSpoolDir, type HttpIngestConfig, type SluiceConfig } from '../config';
import { SluiceClient } from '../client/sluiceClient';
import { ContractRegistry } from '../contracts/registry';
import { ErrorCodes, HttpErrorCodes } from '../api/errors';
import { SOURCE_NAME_PATTERN } from '../api/names';
import type { IngestFormat } from '../api/workflows/ingest';
import { answerClientError, bearerToken, definedOnly, describeFailure, HttpError, send, tokenMatches } from './httpCommon';

const ROUTE = /^\/v1\/sources\/([^/]+)\/events\/?$/;
/** Read-only artifacts by digest: the links of workflow memos (data docs, model cards) open here. */
const ARTIFACT_ROUTE = /^\/v1\/artifacts\/([^/]+)\/?$/;
const ARTIFACT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
};
/** Seconds a client is told to wait when the spool is full: time for the batches in flight to land. */
export const SPOOL_BUSY_RETRY_AFTER_SECONDS = 10;
/** Payment APIs (Stripe) allow keys of up to 255 characters; a UUID needs 36. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * Accepted `Content-Type`s and the ingest format each one is read as. NDJSON has no registered
 * media type; these are the names producers send. `application/json-seq` (RFC 7464) is left out
 * on purpose: its records start with an RS byte and may span lines, so read as NDJSON every record
 * would be quarantined; plain `application/json` (one document, often an array) likewise.
 */
export const HTTP_INGEST_MEDIA_TYPES: Readonly<Record<string, IngestFormat>> = {
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/x-jsonlines': 'ndjson',
  'text/csv': 'csv',
  'application/vnd.apache.arrow.stream': 'arrow',
  'application/vnd.apache.arrow.file': 'arrow',
};
type ContentEncoding = 'identity' | 'gzip' | 'deflate';

export interface IngestHttpOptions {
  /** The endpoint's settings; those left out take {@link HTTP_INGEST_DEFAULTS}. */
  config: Pick<SluiceConfig, 'artifactsDir'> & { httpIngest: Pick<HttpIngestConfig, 'token'> & Partial<HttpIngestConfig> };
  client: Pick<SluiceClient, 'ingestFile'>;
  /** Source contracts (default: contracts/sources), to answer 404 for an unknown source before reading the body. */
  contracts?: ContractRegistry;
  log?: (message: string) => void;
}

/** The ingest workflow could not be reached, or the batch failed in it: a 502 (the details go to the log). */
class IngestCallFailure extends Error {
  constructor(failure: unknown) {
    super('the ingest call failed', { cause: failure });
  }

  /** sluice's error code of the failure (a public code, no details), when it carries one. */
  get code(): string {
    const known = new Set<string>(Object.values(ErrorCodes));
    for (let e: unknown = this.cause; e; e = (e as { cause?: unknown }).cause) {
      const type = (e as { type?: unknown }).type;
      if (typeof type === 'string' && known.has(type)) return type;
    }
    return ErrorCodes.IngestFailed;
  }
}

const tooLarge = (max: number): HttpError =>
  new HttpError(
    413,
    HttpErrorCodes.BodyTooLarge,
    `request body is over ${max} bytes (as sent, or once its Content-Encoding is decoded); split it into several requests`,
    { connection: 'close' },
  );
const busy = (): HttpError =>
  new HttpError(
    503,
    HttpErrorCodes.Busy,
    `the endpoint is spooling as many bytes as it may; retry in ${SPOOL_BUSY_RETRY_AFTER_SECONDS} seconds`,
    {
      'retry-after': String(SPOOL_BUSY_RETRY_AFTER_SECONDS),
      connection: 'close',
    },
  );

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The ingest format of a `Content-Type`, or 415 naming the accepted ones. */
export function ingestFormatOf(contentType: string | undefined): IngestFormat {
  const accepted = `send one of: ${Object.keys(HTTP_INGEST_MEDIA_TYPES).join(', ')}`;
  if (contentType === undefined || contentType.trim() === '') {
    throw new HttpError(415, HttpErrorCodes.UnsupportedMediaType, `the request has no Content-Type; ${accepted}`);
  }
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim());
  const format = HTTP_INGEST_MEDIA_TYPES[type.toLowerCase()];
  if (!format)
    throw new HttpError(415, HttpErrorCodes.UnsupportedMediaType, `Content-Type ${JSON.stringify(type)} is not accepted; ${accepted}`);
  const charset = params.map((p) => /^charset\s*=\s*"?([^"]*)"?$/i.exec(p)?.[1]).find((c) => c !== undefined);
  if (format !== 'arrow' && charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new HttpError(
      415,
      HttpErrorCodes.UnsupportedMediaType,
      `charset ${JSON.stringify(charset)} is not accepted: ${format === 'csv' ? 'CSV' : 'NDJSON'} bodies are read as UTF-8`,
    );
  }
  return format;
}

/** The one `Content-Encoding` sluice decodes, or 415. */
function contentEncodingOf(header: string | undefined): ContentEncoding {
  const codings = (header ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return 'identity';
  const [only] = codings;
  if (codings.length === 1 && (only === 'gzip' || only === 'x-gzip')) return 'gzip';
  if (codings.length === 1 && only === 'deflate') return 'deflate';
  throw new HttpError(
    415,
    HttpErrorCodes.UnsupportedMediaType,
    `Content-Encoding ${JSON.stringify(header)} is not supported; send the body as it is, or with gzip or deflate`,
  );
}

/**
 * The bytes on disk taken by spooled bodies of all requests in flight. Bytes are taken as they
 * are written (or up front, for a declared Content-Length) and given back when the request's spool
 * file is removed, so the bound holds for chunked and compressed bodies too.
 */
class SpoolBudget {
  private used = 0;
  constructor(readonly capacity: number) {}

  /** A share for one request: `take` what it writes, `release` all of it at the end. */
  hold(): { take(bytes: number): boolean; release(): void } {
    let held = 0;
    return {
      take: (bytes) => {
        if (this.used + bytes > this.capacity) return false;
        this.used += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

/** Drops a UTF-8 byte-order mark (EF BB BF) at the very start of a stream; every other byte passes unchanged. */
export function utf8BomStripper(): Transform {
  let head: Buffer | null = Buffer.alloc(0);
  const release = (push: (b: Buffer) => void): void => {
    if (!head) return;
    const bom = head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
    const rest = bom ? head.subarray(3) : head;
    head = null;
    if (rest.length > 0) push(rest);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!head) {
        callback(null, chunk);
        return;
      }
      // The mark may arrive split over chunks: wait for three bytes before deciding.
      head = Buffer.concat([head, chunk]);
      if (head.length >= 3) release((b) => this.push(b));
      callback();
    },
    flush(callback: TransformCallback) {
      release((b) => this.push(b));
      callback();
    },
  });
}

interface SpoolOptions {
  encoding: ContentEncoding;
  stripBom: boolean;
  maxBytes: number;
  budget: ReturnType<SpoolBudget['hold']>;
}

/**
 * Copies the request body, decoded, into `file` and returns its sha256. Refuses more than
 * `maxBytes` bytes as sent or decoded (413), or more than the spool budget lets it take (503). The
 * sent bytes are counted too because a compressed stream can go on for ever without decoding to
 * anything (empty gzip members one after another). The request is
 * never destroyed on refusal (that would reset the connection before the answer is sent): the
 * caller drains the rest of the body while the answer goes out.
 */
async function spool(req: http.IncomingMessage, file: string, o: SpoolOptions): Promise<{ bytes: number; sha256: string }> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (o.encoding === 'identity' && declared > o.maxBytes) throw tooLarge(o.maxBytes);
  // A declared size is reserved before the first byte is read (Node holds the client to it): two
  // large uploads at once do not both send most of their bytes before one of them is refused.
  let taken = 0;
  if (o.encoding === 'identity' && declared > 0) {
    if (!o.budget.take(declared)) throw busy();
    taken = declared;
  }
  let sent = 0;
  const received = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      sent += chunk.length;
      callback(sent > o.maxBytes ? tooLarge(o.maxBytes) : null, chunk);
    },
  });
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      bytes += chunk.length;
      if (bytes > o.maxBytes) return callback(tooLarge(o.maxBytes));
      if (bytes > taken) {
        if (!o.budget.take(bytes - taken)) return callback(busy());
        taken = bytes;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  // 'deflate' in HTTP is the zlib format (RFC 9110 8.4.1.2), which createInflate reads.
  const decoder = o.encoding === 'gzip' ? zlib.createGunzip() : o.encoding === 'deflate' ? zlib.createInflate() : new PassThrough();
  const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
  const clientGone = (): void => {
    if (!req.complete) received.destroy(new Error('the client closed the connection before the body ended'));
  };
  // A client that goes away must end the spool, or its budget share and the handler stay held for
  // ever: Node 20 reports an aborted body as an 'error'; a 'close' before the end covers the rest.
  req.once('error', (err) => received.destroy(err));
  req.once('close', clientGone);
  req.pipe(received);
  try {
    await pipeline(received, decoder, o.stripBom ? utf8BomStripper() : new PassThrough(), meter, out);
  } catch (err) {
    req.unpipe(received);
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new HttpError(400, HttpErrorCodes.BadContentEncoding, `the body is not valid ${o.encoding} data (${(err as Error).message})`, {
        connection: 'close',
      });
    }
    throw err;
  } finally {
    req.off('close', clientGone);
  }
  return { bytes, sha256: hash.digest('hex') };
}

interface IdempotencyClaim {
  source: string;
  keySha256: string;
  /** The format is part of what was sent: the same bytes read as CSV are other events than as NDJSON. */
  format: IngestFormat;
  bodySha256: string;
  batchId: string;
  claimedAt: string;
}

/**
 * Claims an `Idempotency-Key` for one body and returns the batch id to ingest it under.
 *
 * Why a claim file: the batch id is the idempotency that exists below this edge, and it cannot
 * tell bodies apart. Temporal answers a repeated update id from the ingest workflow's memory only
 * until it continues-as-new; sluice.ingest_chunks (durable) makes a retried batch skip as many
 * records as its committed chunks hold, so a different body under the same batch id would lose
 * its first records without a word. So:
 * - the batch id is derived from the source, the key AND the body's sha256: two bodies never
 *   share a batch, whatever happens to the claims;
 * - the first request with a key records {key digest → body digest, batch id} in
 *   `<artifacts>/ingest-keys/` (linked into place atomically: of two racing requests one wins),
 *   durable across restarts like the spool it sits beside (in docker-compose, a shared volume);
 * - a later request with the key and the same body gets the same batch id, hence the first answer
 *   (or the first batch resumed); with another body it is refused with 422, as payment APIs do.
 * Claims are kept for `idempotencyKeyDays` (SLUICE_HTTP_IDEMPOTENCY_KEY_DAYS, default 30; 0 keeps
 * them forever), then removed by {@link expireIdempotencyClaims}: after that the same key with the
 * same body still gets the same batch id (derived, not looked up), so a late resend is still
 * deduplicated; only another body under the old key is taken as new events instead of a 422.
 */
async function claimIdempotencyKey(dir: string, source: string, key: string, format: IngestFormat, bodySha256: string): Promise<string> {
  const keySha256 = sha256(`${source}\n${key}`);
  const claim: IdempotencyClaim = {
    source,
    keySha256,
    format,
    bodySha256,
    batchId: `http-${keySha256.slice(0, 32)}-${sha256(`${format}\n${bodySha256}`).slice(0, 32)}`,
    claimedAt: new Date().toISOString(),
  };
  await fs.promises.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${keySha256}.json`);
  const draft = path.join(dir, `.${keySha256}.${randomUUID()}.tmp`);
  await fs.promises.writeFile(draft, JSON.stringify(claim), { flag: 'wx', mode: 0o600 });
  try {
    // link() fails with EEXIST when the key is claimed, and never shows a half-written claim.
    await fs.promises.link(draft, file);
    return claim.batchId;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fs.promises.rm(draft, { force: true });
  }
  const first = JSON.parse(await fs.promises.readFile(file, 'utf8')) as IdempotencyClaim;
  if (first.bodySha256 !== bodySha256 || first.format !== format) {
    throw new HttpError(
      422,
      HttpErrorCodes.IdempotencyKeyReused,
      `Idempotency-Key ${JSON.stringify(key)} was already used for source ${JSON.stringify(source)} with a different body` +
        `${first.bodySha256 === bodySha256 ? ' (the same bytes as another Content-Type)' : ''}; ` +
        'send these events with a new key (resending the first body with this key returns the first answer)',
    );
  }
  return first.batchId;
}

/** Where `Idempotency-Key` claims live: beside the spool, under the artifacts directory. */
export function idempotencyKeysDir(artifactsDir: string): string {
  return path.join(artifactsDir, 'ingest-keys');
}

/** A claim's draft left by a crash between writing and linking it is removed after this long. */
const DRAFT_MAX_AGE_MS = 3_600_000;

/**
 * Removes the claims older than `maxAgeMs` (by the time the claim was written) and drafts a crash
 * left behind; anything else in the directory is left alone. Answers what it removed and kept.
 */
export async function expireIdempotencyClaims(dir: string, maxAgeMs: number, now = Date.now()): Promise<{ removed: number; kept: number }> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: 0, kept: 0 };
    throw err;
  }
  let removed = 0;
  let kept = 0;
  for (const name of names) {
    const claim = /^[0-9a-f]{64}\.json$/.test(name);
    const draft = /^\.[0-9a-f]{64}\..+\.tmp$/.test(name);
    if (!claim && !draft) continue;
    const file = path.join(dir, name);
    const stat = await fs.promises.stat(file).catch(() => undefined);
    if (!stat) continue;
    if (now - stat.mtimeMs > (claim ? maxAgeMs : DRAFT_MAX_AGE_MS)) {
      await fs.promises.rm(file, { force: true });
      removed++;
    } else if (claim) kept++;
  }
  return { removed, kept };
}

/** The request handler (exported for tests and for embedding in another server). */
export function ingestRequestHandler(opts: IngestHttpOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const configured = opts.config.httpIngest.token;
  if (!configured) throw new Error('SLUICE_INGEST_TOKEN is not set: the HTTP ingest endpoint refuses to start without a bearer token');
  const token: string = configured;
  const settings = { ...HTTP_INGEST_DEFAULTS, ...definedOnly(opts.config.httpIngest) };
  let contracts = opts.contracts;
  const spoolDir = httpSpoolDir(opts.config.artifactsDir);
  const keysDir = idempotencyKeysDir(opts.config.artifactsDir);
  const budget = new SpoolBudget(settings.maxSpoolBytes);
  const artifacts = new LocalArtifactStore(opts.config.artifactsDir);
  const log = opts.log ?? ((m: string) => process.stderr.write(`[sluice http] ${m}\n`));

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    if (Buffer.byteLength(rawUrl) > settings.maxUrlBytes) {
      throw new HttpError(
        414,
        HttpErrorCodes.UrlTooLong,
        `the request URL is over ${settings.maxUrlBytes} bytes; POST /v1/sources/:source/events`,
      );
    }
    let url: URL;
    try {
      url = new URL(rawUrl, 'http://localhost');
    } catch {
      throw new HttpError(400, HttpErrorCodes.BadRequest, 'the request URL is not valid; POST /v1/sources/:source/events');
    }
    const artifact = ARTIFACT_ROUTE.exec(url.pathname);
    if (artifact) return serveArtifact(req, res, artifact[1] ?? '', url);
    const match = ROUTE.exec(url.pathname);
    if (!match) throw new HttpError(404, HttpErrorCodes.NotFound, 'no such endpoint; POST /v1/sources/:source/events');
    if (req.method !== 'POST') throw new HttpError(405, HttpErrorCodes.MethodNotAllowed, 'use POST', { allow: 'POST' });
    const given = bearerToken(req.headers.authorization);
    if (!given || !tokenMatches(given, token))
      throw new HttpError(401, HttpErrorCodes.Unauthorized, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
    let source: string;
    try {
      source = decodeURIComponent(match[1] ?? '');
    } catch {
      throw new HttpError(400, ErrorCodes.InvalidInput, 'source is not valid percent-encoding');
    }
    if (!SOURCE_NAME_PATTERN.test(source))
      throw new HttpError(400, ErrorCodes.InvalidInput, `not a source name: ${JSON.stringify(source)}`);
    contracts ??= ContractRegistry.fromDirectory();
    // Not the list of known sources: a caller with the token learns nothing it did not ask about.
    if (!contracts.has(source))
      throw new HttpError(404, ErrorCodes.UnknownSource, `unknown source ${JSON.stringify(source)}: it has no contract`);
    const format = ingestFormatOf(req.headers['content-type']);
    const encoding = contentEncodingOf(req.headers['content-encoding']);
    const keyHeader = req.headers['idempotency-key'];
    const key = typeof keyHeader === 'string' && keyHeader.length > 0 ? keyHeader : undefined;
    if (key !== undefined && key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new HttpError(400, HttpErrorCodes.BadRequest, `Idempotency-Key is over ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    }

    await fs.promises.mkdir(spoolDir, { recursive: true });
    const file = path.join(spoolDir, `${randomUUID()}.${format}`);
    const share = budget.hold();
    let result;
    try {
      const body = await spool(req, file, { encoding, stripBom: format !== 'arrow', maxBytes: settings.maxBodyBytes, budget: share });
      const batchId = key === undefined ? `http-${randomUUID()}` : await claimIdempotencyKey(keysDir, source, key, format, body.sha256);
      try {
        result = await opts.client.ingestFile(source, { kind: 'file', path: file }, { format, batchId });
      } catch (err) {
        throw new IngestCallFailure(err);
      }
    } finally {
      // The rows are in the log or in quarantine (with their bytes when unparseable); the spool is
      // scratch, removed before the answer so that a client never sees it outlive its request.
      await fs.promises.rm(file, { force: true });
      share.release();
    }
    send(res, 200, result);
  }

  /**
   * GET /v1/artifacts/:sha256 with the bearer token, or with the link's own signature (`?sig=`, see
   * activities/pipeline/links.ts): a browser opening a link from the Temporal UI cannot send a header.
   * HTML reports are served as text/html in a sandbox (no scripts, nothing fetched), anything else
   * as a download.
   */
  async function serveArtifact(req: http.IncomingMessage, res: http.ServerResponse, sha256: string, url: URL): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new HttpError(405, HttpErrorCodes.MethodNotAllowed, 'artifacts are read-only: use GET', { allow: 'GET, HEAD' });
    const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const sig = url.searchParams.get('sig');
    const digest = /^[0-9a-f]{64}$/.test(sha256) ? sha256 : undefined;
    const allowed =
      (given !== undefined && tokenMatches(given, token)) ||
      (sig !== null && digest !== undefined && artifactSignatureMatches(token, digest, sig));
    if (!allowed)
      throw new HttpError(401, HttpErrorCodes.Unauthorized, 'missing or wrong bearer token (or link signature)', {
        'www-authenticate': 'Bearer',
      });
    const found = digest === undefined ? undefined : await artifacts.stat(digest);
    if (!found) throw new HttpError(404, HttpErrorCodes.NotFound, `no artifact with sha256 ${JSON.stringify(sha256)}`);
    const file = fileURLToPath(found.uri);
    const type = ARTIFACT_TYPES[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, {
      'content-type': type,
      'content-length': found.size,
      'x-content-type-options': 'nosniff',
      'cache-control': 'private, max-age=31536000, immutable',
      ...(type.startsWith('text/html')
        ? { 'content-security-policy': "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:" }
        : { 'content-disposition': `attachment; filename="${digest}${path.extname(file)}"` }),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(fs.createReadStream(file), res);
  }

  return (req, res) => {
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    handle(req, res).catch((err: unknown) => {
      req.resume(); // the rest of the body, read and dropped while the answer goes out
      if (err instanceof HttpError && err.status < 500) {
        send(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
        return;
      }
      // 5xx: the client gets the request id and a generic message; what went wrong (a Temporal
      // failure and its cause chain, a file system error) stays in the server log.
      log(`request ${requestId} (${req.method ?? '?'} ${req.url ?? '?'}) failed: ${describeFailure(err)}`);
      if (err instanceof HttpError) {
        send(res, err.status, { error: { code: err.code, message: `${err.message} (request id ${requestId})`, requestId } }, err.headers);
        return;
      }
      const failed = err instanceof IngestCallFailure;
      send(res, failed ? 502 : 500, {
        error: {
          code: failed ? err.code : HttpErrorCodes.Internal,
          message: `the batch was not ingested; the server log has the details under request id ${requestId}`,
          requestId,
        },
      });
    });
  };
}

export interface IngestHttpServer {
  server: http.Server;
  port: number;
  /** The address it listens on (127.0.0.1 unless SLUICE_HTTP_HOST widens it). */
  host: string;
  close(): Promise<void>;
}

/** Starts the endpoint on `port` and `host` (default config.httpIngest.port and .host; port 0 picks a free one). */
export async function startIngestHttpServer(opts: IngestHttpOptions & { port?: number; host?: string }): Promise<IngestHttpServer> {
  const settings = { ...HTTP_INGEST_DEFAULTS, ...definedOnly(opts.config.httpIngest) };
  const server = http.createServer({ maxHeaderSize: settings.maxHeaderBytes }, ingestRequestHandler(opts));
  // A malformed request must not take the process down, and gets an answer rather than a reset.
  server.on('clientError', (err: Error, socket: Socket) =>
    answerClientError(err, socket, settings.maxUrlBytes, 'POST /v1/sources/:source/events'),
  );
  server.listen(opts.port ?? settings.port, opts.host ?? settings.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const stopExpiry = settings.idempotencyKeyDays > 0 ? expireClaimsHourly(opts, settings.idempotencyKeyDays) : () => undefined;
  return {
    server,
    port: address.port,
    host: address.address,
    close: () => {
      stopExpiry();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** Expires old `Idempotency-Key` claims now and every hour; answers the function that stops it. */
function expireClaimsHourly(opts: IngestHttpOptions, days: number): () => void {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[sluice http] ${m}\n`));
  const dir = idempotencyKeysDir(opts.config.artifactsDir);
  const sweep = (): void => {
    expireIdempotencyClaims(dir, days * 86_400_000).then(
      ({ removed }) => {
        if (removed > 0) log(`removed ${removed} Idempotency-Key claim(s) older than ${days} day(s) from ${dir}`);
      },
      (err: Error) => log(`could not expire Idempotency-Key claims in ${dir}: ${err.message}`),
    );
  };
  sweep();
  const timer = setInterval(sweep, 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}

async function main(): Promise<void> {
  const client = await SluiceClient.connect();
  const http = await startIngestHttpServer({ config: client.config, client });
  process.stderr.write(
    `[sluice http] ingest endpoint on ${http.host}:${http.port} (POST /v1/sources/:source/events, GET /v1/artifacts/:sha256)\n`,
  );
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
