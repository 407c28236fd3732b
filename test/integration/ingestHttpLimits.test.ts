// The HTTP ingest endpoint's limits and deployment defaults: every limit answers in HTTP (413, 414,
// 431, 503 with Retry-After), never with a reset connection; a 5xx says only a request id; the
// endpoint listens on loopback unless told otherwise; a 404 does not list the known sources.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SluiceClient } from '../../client';
import { ingestWorkflowId } from '../../api';
import { parseConfig } from '../../config';
import { startIngestHttpServer, SPOOL_BUSY_RETRY_AFTER_SECONDS, type IngestHttpServer } from '../../workers/httpIngest';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { httpRequest, rawExchange } from '../helpers/httpRequest';
import { logRows } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const TOKEN = 'test-ingest-token-0123456789';
const TS = '2026-01-01T00:00:00Z';
const EVENTS = `/v1/sources/${ORDERS}/events`;
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' };
type ErrorBody = { error: { code: string; message: string; requestId?: string } };
const order = (id: string): string => `${JSON.stringify({ id, ts: TS, amount: 1 })}\n`;

async function waitFor(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('HTTP ingest endpoint: limits, errors and defaults', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let artifactsDir: string;
  const servers: IngestHttpServer[] = [];
  const start = async (
    o: Partial<Parameters<typeof startIngestHttpServer>[0]> & { httpIngest?: Record<string, number | string> } = {},
  ): Promise<IngestHttpServer> => {
    const s = await startIngestHttpServer({
      config: { artifactsDir, httpIngest: { port: 0, token: TOKEN, ...o.httpIngest } },
      client,
      log: () => undefined,
      ...o,
    });
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-http-limits-'));
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await stack?.client.workflow
      .getHandle(ingestWorkflowId(ORDERS))
      .terminate('test over')
      .catch(() => undefined);
    await client?.close();
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 by default, from the options and from the environment', async () => {
    const s = await start();
    expect(s.host).toBe('127.0.0.1');
    const parsed = parseConfig({ SLUICE_INGEST_TOKEN: TOKEN });
    if (!parsed.ok) throw new Error('config');
    expect(parsed.value.httpIngest.host).toBe('127.0.0.1');
    const fromEnv = await startIngestHttpServer({
      config: { artifactsDir, httpIngest: { ...parsed.value.httpIngest, port: 0 } },
      client,
      log: () => undefined,
    });
    servers.push(fromEnv);
    expect(fromEnv.host).toBe('127.0.0.1');
  });

  it('answers 431 for headers over the limit and 414 for a URL over the limit, instead of resetting the connection', async () => {
    const s = await start({ httpIngest: { maxHeaderBytes: 8 * 1024, maxUrlBytes: 1024 } });
    // Headers past maxHeaderSize: Node's parser refuses them before the handler runs.
    const big = await rawExchange(
      s.port,
      `POST ${EVENTS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(big.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(big.text).toContain('"code":"SLUICE_HEADERS_TOO_LARGE"');
    // The same through an ordinary client.
    const viaFetch = await fetch(`http://127.0.0.1:${s.port}${EVENTS}`, {
      method: 'POST',
      headers: { ...headers, 'x-padding': 'a'.repeat(20_000) },
      body: order('hdr-1'),
    });
    expect(viaFetch.status).toBe(431);

    // A URL over maxUrlBytes but within the header limit: the handler answers.
    const longUrl = await fetch(`http://127.0.0.1:${s.port}${EVENTS}?pad=${'p'.repeat(2_000)}`, {
      method: 'POST',
      headers,
      body: order('url-1'),
    });
    expect(longUrl.status).toBe(414);
    expect(((await longUrl.json()) as ErrorBody).error.code).toBe('SLUICE_URL_TOO_LONG');
    // A URL past the header limit itself: still 414, not 431 and not a reset.
    const huge = await rawExchange(s.port, `POST ${EVENTS}?pad=${'p'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(huge.statusLine).toBe('HTTP/1.1 414 URI Too Long');
    // Malformed HTTP: 400, not a reset.
    const garbage = await rawExchange(s.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect((await logRows(stack.db.pool, ORDERS)).filter((l) => /^(hdr|url)-/.test(l.event_id))).toEqual([]);
  });

  // Chunked: the first request holds what it has sent. With Content-Length: it holds what it declared
  // from the start, so that two large uploads do not both send most of their bytes before one is refused.
  it.each([
    { framing: 'chunked', firstPiece: 3_000 },
    { framing: 'Content-Length', firstPiece: 100 },
  ])(
    'caps the bytes spooled by all requests in flight ($framing): 503 with Retry-After while full, and takes bodies again once they land',
    async ({ framing, firstPiece }) => {
      const s = await start({ httpIngest: { maxBodyBytes: 4_096, maxSpoolBytes: 4_096 } });
      const spoolDir = path.join(artifactsDir, 'ingest-spool');
      const spooled = (): number =>
        fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir).reduce((n, f) => n + fs.statSync(path.join(spoolDir, f)).size, 0) : 0;
      let body = '';
      for (let i = 0; body.length < 3_400; i++) body += order(`spool-${framing[0]}-${String(i).padStart(3, '0')}`);
      const bytes = Buffer.from(body);
      const held: { busy?: Awaited<ReturnType<typeof httpRequest>>; busyChunked?: Awaited<ReturnType<typeof httpRequest>> } = {};
      const other = Buffer.from(order(`spool-${framing[0]}-other`).padEnd(1_500, ' ')); // 1,500 bytes: more than is free

      // The first request sends a piece and holds the rest back until the others have been refused.
      const first = httpRequest(s.port, EVENTS, {
        headers: framing === 'chunked' ? headers : { ...headers, 'content-length': String(bytes.length) },
        chunks: [bytes.subarray(0, firstPiece)],
        body: bytes.subarray(firstPiece),
        beforeEnd: async () => {
          await waitFor('the first piece to be spooled', () => spooled() >= firstPiece);
          held.busy = await httpRequest(s.port, EVENTS, { headers, body: other });
          held.busyChunked = await httpRequest(s.port, EVENTS, { headers, chunks: [other] });
        },
      });
      const answer = await first;
      const sent = body.split('\n').length - 1;
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ received: sent, accepted: sent });
      expect(held.busy?.status).toBe(503);
      expect(held.busy?.headers['retry-after']).toBe(String(SPOOL_BUSY_RETRY_AFTER_SECONDS));
      expect((held.busy?.json as ErrorBody).error).toMatchObject({ code: 'SLUICE_BUSY', requestId: held.busy?.headers['x-request-id'] });
      expect(held.busyChunked?.status).toBe(503);
      expect(held.busyChunked?.headers['retry-after']).toBe(String(SPOOL_BUSY_RETRY_AFTER_SECONDS));
      expect(spooled()).toBe(0);

      const again = await httpRequest(s.port, EVENTS, { headers, body: other });
      expect(again.status).toBe(200);
      expect(again.json).toMatchObject({ received: 1, accepted: 1 });
    },
  );

  it('gives back the spool bytes of a client that goes away in the middle of its body', async () => {
    const s = await start({ httpIngest: { maxBodyBytes: 4_096, maxSpoolBytes: 4_096 } });
    const spoolDir = path.join(artifactsDir, 'ingest-spool');
    // Only this request's spool file: an earlier test's upload may still be going away beside it.
    const earlier = new Set(fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir) : []);
    const ours = (): string[] => (fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir).filter((f) => !earlier.has(f)) : []);
    const spooled = (): number =>
      ours().reduce((n, f) => {
        try {
          return n + fs.statSync(path.join(spoolDir, f)).size;
        } catch {
          return n; // removed between the listing and the stat
        }
      }, 0);
    const socket = net.connect(s.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST ${EVENTS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 3500\r\n\r\n`,
    );
    socket.write(order('gone-1').padEnd(2_000, ' '));
    await waitFor('the first bytes to be spooled', () => spooled() >= 2_000);
    socket.destroy();
    await waitFor('the spool file to go', () => ours().length === 0);
    // 3,500 bytes would not fit if the gone client still held its 3,500.
    const after = await httpRequest(s.port, EVENTS, { headers, body: order('gone-2').padEnd(3_500, ' ') });
    expect(after.status).toBe(200);
    expect((await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id).filter((id) => id.startsWith('gone-'))).toEqual(['gone-2']);
  });

  it('5xx answers carry a request id (body and x-request-id) and a generic message; the details go only to the server log', async () => {
    const logged: string[] = [];
    const failing = {
      ingestFile: () =>
        Promise.reject(
          Object.assign(new Error('Workflow Update failed'), {
            cause: Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432 password=hunter2'), { type: 'SLUICE_INGEST_DATA_REJECTED' }),
          }),
        ),
    };
    const s = await startIngestHttpServer({
      config: { artifactsDir, httpIngest: { port: 0, token: TOKEN } },
      client: failing,
      log: (m) => logged.push(m),
    });
    servers.push(s);
    const r = await httpRequest(s.port, EVENTS, { headers, body: order('fail-1') });
    expect(r.status).toBe(502);
    const id = r.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const err = (r.json as ErrorBody).error;
    expect(err).toEqual({ code: 'SLUICE_INGEST_DATA_REJECTED', message: expect.stringContaining(String(id)), requestId: id });
    expect(r.text).not.toMatch(/hunter2|10\.1\.2\.3|ECONNREFUSED/);
    expect(logged.join('\n')).toContain(String(id));
    expect(logged.join('\n')).toContain('hunter2');
    // Every answer has a request id, 4xx included.
    const unauthorized = await httpRequest(s.port, EVENTS, { headers: { 'content-type': 'application/x-ndjson' }, body: order('fail-2') });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 404 for an unknown source without listing the known ones', async () => {
    const s = await start();
    const r = await httpRequest(s.port, '/v1/sources/no_such_source/events', { headers, body: order('x') });
    expect(r.status).toBe(404);
    expect((r.json as ErrorBody).error.code).toBe('SLUICE_UNKNOWN_SOURCE');
    expect(r.text).toContain('no_such_source');
    expect(r.text).not.toMatch(/ingest_test_orders|page_views|ingest_test_anon/);
  });
});
