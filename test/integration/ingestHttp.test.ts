import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SluiceClient } from '../../client';
import { ingestWorkflowId } from '../../api';
import { startIngestHttpServer, type IngestHttpServer } from '../../workers/httpIngest';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { countRows, expectBalanced, quarantineRows } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const TOKEN = 'test-ingest-token-0123456789';

describe('HTTP ingest endpoint (POST /v1/sources/:source/events)', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let http: IngestHttpServer;
  let artifactsDir: string;
  const url = (source: string) => `http://127.0.0.1:${http.port}/v1/sources/${source}/events`;
  const post = (source: string, body: string | Buffer, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
    fetch(url(source), { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', ...headers } });

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-http-'));
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    http = await startIngestHttpServer({ config: { artifactsDir, httpIngest: { port: 0, token: TOKEN } }, client, port: 0, host: '127.0.0.1', log: () => undefined });
  });
  afterAll(async () => {
    await http?.close();
    await stack?.client.workflow.getHandle(ingestWorkflowId(ORDERS)).terminate('test over').catch(() => undefined);
    await client?.close();
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });

  it('refuses a missing or wrong bearer token (401) and writes nothing', async () => {
    const none = await post(ORDERS, '{"id":"x"}\n', {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await post(ORDERS, '{"id":"x"}\n', { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: { code: 'SLUICE_UNAUTHORIZED', message: expect.any(String) } });
    expect(await countRows(stack.db.pool, 'raw_events', ORDERS)).toBe(0);
  });

  it('answers 404 with SLUICE_UNKNOWN_SOURCE for a source without a contract, and 404 for other paths', async () => {
    const r = await post('no_such_source', '{"id":"x"}\n');
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('SLUICE_UNKNOWN_SOURCE');
    const other = await fetch(`http://127.0.0.1:${http.port}/v2/whatever`, { method: 'POST' });
    expect(other.status).toBe(404);
  });

  it('ingests an NDJSON body through the ingest workflow and answers accepted / quarantined / duplicate', async () => {
    const body = Buffer.concat([
      Buffer.from('{"id":"h1","ts":"2026-01-01T00:00:00Z","amount":1}\n'),
      Buffer.from('{"id":"h2","ts":"2026-01-01T00:00:00Z","amount":2}\n'),
      Buffer.from('{"id":"h1","ts":"2026-01-01T00:00:00Z","amount":1}\n'), // duplicate
      Buffer.from('not json\n'),
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]), // invalid UTF-8
      Buffer.from('{"id":"h3","ts":"2026-01-01T00:00:00Z","amount":"x"}'), // wrong type, no final newline
    ]);
    const res = await post(ORDERS, body, { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'req-1' });
    expect(res.status).toBe(200);
    const r = (await res.json()) as { received: number; accepted: number; quarantined: number; duplicates: number; batchId: string };
    expect(r).toMatchObject({ received: 6, accepted: 2, quarantined: 3, duplicates: 1 });
    expectBalanced(r as never);
    expect(await countRows(stack.db.pool, 'raw_events', ORDERS)).toBe(2);
    const q = await quarantineRows(stack.db.pool, ORDERS);
    expect(q.map((row) => row.reason.issues[0]?.keyword)).toEqual(['json', 'utf8', 'type']);
    expect(q[1]?.raw).toEqual(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));

    // A retried request with the same Idempotency-Key gets the first answer and adds nothing.
    const again = await post(ORDERS, body, { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'req-1' });
    expect(await again.json()).toEqual(r);
    expect(await countRows(stack.db.pool, 'raw_events', ORDERS)).toBe(2);
    expect(await countRows(stack.db.pool, 'quarantine', ORDERS)).toBe(3);

    // The spooled bodies are scratch: nothing is left under the artifacts directory.
    expect(fs.readdirSync(path.join(artifactsDir, 'ingest-spool'))).toEqual([]);
  });

  it('answers a body over the limit with 413, with or without Content-Length, and keeps no spool', async () => {
    const small = await startIngestHttpServer({ config: { artifactsDir, httpIngest: { port: 0, token: TOKEN } }, client, port: 0, host: '127.0.0.1', maxBodyBytes: 1_000, log: () => undefined });
    try {
      const at = `http://127.0.0.1:${small.port}/v1/sources/${ORDERS}/events`;
      const body = `${JSON.stringify({ id: 'big', note: 'x'.repeat(200) })}\n`.repeat(20_000); // 4 MB: still being sent when the limit is found
      const headers = { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` };
      const sized = await fetch(at, { method: 'POST', body, headers });
      expect(sized.status).toBe(413);
      expect(await sized.json()).toMatchObject({ error: { code: 'SLUICE_BODY_TOO_LARGE' } });
      // Chunked: the limit is found while the body streams in.
      const chunks = Buffer.from(body);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < chunks.length; i += 65_536) controller.enqueue(chunks.subarray(i, i + 65_536));
          controller.close();
        },
      });
      const streamed = await fetch(at, { method: 'POST', body: stream, headers, duplex: 'half' } as RequestInit);
      expect(streamed.status).toBe(413);
      expect(await streamed.json()).toMatchObject({ error: { code: 'SLUICE_BODY_TOO_LARGE' } });
      expect(fs.readdirSync(path.join(artifactsDir, 'ingest-spool'))).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('refuses to start without a configured token', async () => {
    await expect(startIngestHttpServer({ config: { artifactsDir, httpIngest: { port: 0, token: undefined } }, client, port: 0 })).rejects.toThrow(/SLUICE_INGEST_TOKEN/);
  });
});
