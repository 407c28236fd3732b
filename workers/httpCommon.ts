/**
 * What sluice's HTTP services share (workers/httpIngest.ts, workers/serve.ts): the error that
 * carries its status and code, the JSON answer, the constant-time bearer-token check, and answers
 * in HTTP to requests Node's parser refused.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { HttpErrorCodes } from '../api/errors';

/** A refusal with its HTTP status, sluice error code and headers; answered as `{ error: { code, message } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Sends `body` as JSON (or ends the response when the headers are already out). */
export function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Whether `given` is the bearer token, in constant time. */
export function tokenMatches(given: string, expected: string): boolean {
  return tokenMatcher(expected)(given);
}

/** {@link tokenMatches} for one expected token, whose digest is computed once (a check per request costs one hash). */
export function tokenMatcher(expected: string): (given: string) => boolean {
  // Compare digests: equal length, constant time, no early exit on the first differing byte.
  const b = hash('sha256', expected, 'buffer');
  return (given) => timingSafeEqual(hash('sha256', given, 'buffer'), b);
}

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer (.+)$/i.exec(header ?? '')?.[1];
}

/** Own properties whose value is not undefined (so that `{ port: undefined }` keeps the default). */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function describeFailure(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    const type = (e as { type?: unknown }).type;
    parts.push(`${typeof type === 'string' ? `[${type}] ` : ''}${(e as Error).message ?? String(e)}`);
  }
  return parts.join(' <- ');
}

/**
 * Answers a request Node's parser refused (headers over maxHeaderSize, a malformed request, a
 * timeout) in HTTP instead of dropping the connection. A request line longer than the URL limit is
 * 414 even when the parser saw it as a header overflow (when that request line is in the packet
 * the parser stopped in, as it is unless the URL alone spans several reads; otherwise 431).
 */
export function answerClientError(
  err: Error & { code?: string; rawPacket?: Buffer },
  socket: Socket,
  maxUrlBytes: number,
  usage: string,
): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  let status = 400;
  let reason = 'Bad Request';
  let code: string = HttpErrorCodes.BadRequest;
  let message = 'the request is not valid HTTP/1.1';
  if (err.code === 'HPE_HEADER_OVERFLOW' && requestLineUrlBytes(err.rawPacket) > maxUrlBytes) {
    [status, reason, code, message] = [
      414,
      'URI Too Long',
      HttpErrorCodes.UrlTooLong,
      `the request URL is over ${maxUrlBytes} bytes; ${usage}`,
    ];
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    [status, reason, code, message] = [
      431,
      'Request Header Fields Too Large',
      HttpErrorCodes.HeadersTooLarge,
      'the request line and headers are over the size limit (SLUICE_HTTP_MAX_HEADER_BYTES)',
    ];
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    [status, reason, code, message] = [408, 'Request Timeout', HttpErrorCodes.RequestTimeout, 'the request took too long to arrive'];
  }
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Bytes of the URL in the request line at the start of `raw` (the whole rest when the line has not
 * ended yet); 0 when `raw` does not start with one.
 */
function requestLineUrlBytes(raw: Buffer | undefined): number {
  if (!raw) return 0;
  const space = raw.indexOf(0x20);
  if (space <= 0 || !/^[A-Z]+$/.test(raw.subarray(0, space).toString('latin1'))) return 0;
  const lineEnd = raw.indexOf('\r\n');
  const urlEnd = lineEnd < 0 ? raw.length : raw.lastIndexOf(0x20, lineEnd);
  return Math.max(0, urlEnd - space - 1);
}
