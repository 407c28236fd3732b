/** A plain HTTP/1.1 client for the HTTP ingest tests: exact headers (none added), bodies in chunks, raw bytes. */
import * as http from 'node:http';
import * as net from 'node:net';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * POSTs `body` with exactly `headers`. With `chunks` the body goes with chunked transfer encoding
 * and no Content-Length: the chunks, then `beforeEnd`, then `body` (if any) as the last piece.
 */
export function httpRequest(
  port: number,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    chunks?: Buffer[];
    beforeEnd?: () => Promise<void>;
  } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'POST', headers: options.headers ?? {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunks) {
      for (const c of options.chunks) req.write(c);
      void (options.beforeEnd ?? (() => Promise.resolve()))().then(() => req.end(options.body), reject);
    } else {
      req.end(options.body);
    }
  });
}

/** Writes raw bytes on a new connection and returns everything the server sends back before it closes (or `waitMs` passes). */
export function rawExchange(
  port: number,
  bytes: Buffer | string,
  waitMs = 5_000,
): Promise<{ statusLine: string; text: string; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let reset = false;
    const done = (): void => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString('latin1');
      resolve({ statusLine: text.split('\r\n')[0] ?? '', text, reset });
    };
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('error', () => {
      reset = true;
    });
    socket.on('close', done);
    socket.write(bytes);
  });
}
