import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { SluiceClient } from '../../client';
import { ingestWorkflowId } from '../../api';
import { idempotencyKeysDir, startIngestHttpServer, type IngestHttpServer } from '../../workers/httpIngest';
import { pollUntil } from '../../client/poll';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { httpRequest } from '../helpers/httpRequest';
import { countRows, expectBalanced, logRows, quarantineRows } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const TOKEN = 'test-ingest-token-0123456789';
const TS = '2026-01-01T00:00:00Z';
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const NDJSON = 'application/x-ndjson';
const order = (id: string, amount = 1): string => `${JSON.stringify({ id, ts: TS, amount })}\n`;
type ErrorBody = { error: { code: string; message: string } };

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
    http = await startIngestHttpServer({ config: { artifactsDir, httpIngest: { port: 0, token: TOKEN } }, client, log: () => undefined });
  });
  afterAll(async () => {
    await http?.close();
    await stack?.client.workflow
      .getHandle(ingestWorkflowId(ORDERS))
      .terminate('test over')
      .catch(() => undefined);
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
    const small = await startIngestHttpServer({
      config: { artifactsDir, httpIngest: { port: 0, token: TOKEN, maxBodyBytes: 1_000 } },
      client,
      log: () => undefined,
    });
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
    await expect(
      startIngestHttpServer({ config: { artifactsDir, httpIngest: { port: 0, token: undefined } }, client, port: 0 }),
    ).rejects.toThrow(/SLUICE_INGEST_TOKEN/);
  });

  // Through the endpoint with exact headers (fetch would add a Content-Type of its own).
  const postRaw = (body: Buffer | string, headers: Record<string, string>, source = ORDERS) =>
    httpRequest(http.port, `/v1/sources/${source}/events`, { body, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  const spoolLeft = () => fs.readdirSync(path.join(artifactsDir, 'ingest-spool'));

  describe('byte-order mark', () => {
    it('drops a UTF-8 BOM at the start of an NDJSON body: the first event is accepted, not quarantined', async () => {
      const body = Buffer.concat([BOM, Buffer.from(order('bom-1') + order('bom-2'))]);
      const r = await postRaw(body, { 'content-type': NDJSON });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ received: 2, accepted: 2, quarantined: 0, duplicates: 0 });
      const landed = (await logRows(stack.db.pool, ORDERS)).filter((l) => l.event_id.startsWith('bom-'));
      expect(landed.map((l) => l.payload)).toEqual([
        { id: 'bom-1', ts: TS, amount: 1 },
        { id: 'bom-2', ts: TS, amount: 1 },
      ]);
    });

    it('drops only the leading BOM: a BOM character inside a record is kept, and the bytes of every other record are unchanged', async () => {
      const inner = `${JSON.stringify({ id: 'bom-3', ts: TS, amount: 3, note: '\uFEFFkept' })}\n`;
      // A BOM at the start of a later line is not a mark of the body: that record breaks as it would in a file.
      const r = await postRaw(Buffer.concat([Buffer.from(inner), BOM, Buffer.from(order('bom-4'))]), { 'content-type': NDJSON });
      expect(r.json).toMatchObject({ received: 2, accepted: 1, quarantined: 1 });
      const landed = (await logRows(stack.db.pool, ORDERS)).find((l) => l.event_id === 'bom-3');
      expect(landed?.payload).toEqual({ id: 'bom-3', ts: TS, amount: 3, note: '\uFEFFkept' });
      const q = (await quarantineRows(stack.db.pool, ORDERS)).at(-1);
      expect(q?.reason.issues[0]?.message).toMatch(/Unexpected token/);
    });

    it('drops a UTF-8 BOM at the start of a CSV body (the first column keeps its name)', async () => {
      const csv = Buffer.concat([BOM, Buffer.from(`id,ts,amount\nbom-csv-1,${TS},5\nbom-csv-2,${TS},6\n`)]);
      const r = await postRaw(csv, { 'content-type': 'text/csv; charset=utf-8' });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ received: 2, accepted: 2, quarantined: 0 });
      const landed = (await logRows(stack.db.pool, ORDERS)).filter((l) => l.event_id.startsWith('bom-csv-'));
      expect(landed.map((l) => l.payload)).toEqual([
        { id: 'bom-csv-1', ts: TS, amount: 5 },
        { id: 'bom-csv-2', ts: TS, amount: 6 },
      ]);
    });
  });

  describe('Idempotency-Key', () => {
    it('answers 422 when a key is reused with a different body and ingests none of it; the same body gets the first answer, also after a restart', async () => {
      const first = Buffer.from(order('idem-1') + order('idem-2'));
      const other = Buffer.from(order('idem-3'));
      const headers = { 'content-type': NDJSON, 'idempotency-key': 'order-batch-42' };
      const a = await postRaw(first, headers);
      expect(a.status).toBe(200);
      expect(a.json).toMatchObject({ received: 2, accepted: 2 });

      const reused = await postRaw(other, headers);
      expect(reused.status).toBe(422);
      expect(reused.json).toEqual({
        error: { code: 'SLUICE_IDEMPOTENCY_KEY_REUSED', message: expect.stringMatching(/order-batch-42.*different body/) },
      });
      const ids = async () => (await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id).filter((id) => id.startsWith('idem-'));
      expect(await ids()).toEqual(['idem-1', 'idem-2']);

      // The same key, the same body: the first answer, nothing added.
      const again = await postRaw(first, headers);
      expect(again.status).toBe(200);
      expect(again.json).toEqual(a.json);

      // A new process on the same artifacts directory remembers the key.
      const restarted = await startIngestHttpServer({
        config: { artifactsDir, httpIngest: { port: 0, token: TOKEN } },
        client,
        log: () => undefined,
      });
      try {
        const after = await httpRequest(restarted.port, `/v1/sources/${ORDERS}/events`, {
          body: other,
          headers: { authorization: `Bearer ${TOKEN}`, ...headers },
        });
        expect(after.status).toBe(422);
        const same = await httpRequest(restarted.port, `/v1/sources/${ORDERS}/events`, {
          body: first,
          headers: { authorization: `Bearer ${TOKEN}`, ...headers },
        });
        expect(same.json).toEqual(a.json);
      } finally {
        await restarted.close();
      }
      expect(await ids()).toEqual(['idem-1', 'idem-2']);

      // The key is the key of one source: another source may use it for its own body.
      const anon = await postRaw(`${JSON.stringify({ kind: 'idem' })}\n`, headers, 'ingest_test_anon');
      expect(anon.status).toBe(200);
      expect(anon.json).toMatchObject({ received: 1, accepted: 1 });
      // The same body sent gzip-compressed is the same body (the digest is of the decoded bytes).
      const gz = await postRaw(zlib.gzipSync(first), { ...headers, 'content-encoding': 'gzip' });
      expect(gz.json).toEqual(a.json);
      // The same bytes as another format are not the same request.
      const asCsv = await postRaw(first, { ...headers, 'content-type': 'text/csv' });
      expect(asCsv.status).toBe(422);
      expect((asCsv.json as ErrorBody).error.message).toMatch(/another Content-Type/);
      expect(spoolLeft()).toEqual([]);
    });

    it('expires claims after idempotencyKeyDays: a late resend of the same body is still deduplicated, another body under an old key is ingested', async () => {
      const headersOf = (key: string) => ({ 'content-type': NDJSON, 'idempotency-key': key });
      const resendKey = headersOf('order-batch-expiring-1');
      const reuseKey = headersOf('order-batch-expiring-2');
      const first = Buffer.from(order('exp-1'));
      expect((await postRaw(first, resendKey)).json).toMatchObject({ received: 1, accepted: 1 });
      expect((await postRaw(Buffer.from(order('exp-2')), reuseKey)).json).toMatchObject({ received: 1, accepted: 1 });
      const keysDir = idempotencyKeysDir(artifactsDir);
      const claims = (): string[] => fs.readdirSync(keysDir).filter((f) => f.endsWith('.json'));
      // age every claim by 31 days; a process with a 30-day retention removes them when it starts
      const old = new Date(Date.now() - 31 * 86_400_000);
      for (const f of claims()) fs.utimesSync(path.join(keysDir, f), old, old);
      const restarted = await startIngestHttpServer({
        config: { artifactsDir, httpIngest: { port: 0, token: TOKEN, idempotencyKeyDays: 30 } },
        client,
        log: () => undefined,
      });
      try {
        await pollUntil('old claims to be removed', async () => (claims().length === 0 ? true : undefined), {
          timeoutMs: 10_000,
          intervalMs: 50,
        });
        const send = (body: Buffer, headers: Record<string, string>) =>
          httpRequest(restarted.port, `/v1/sources/${ORDERS}/events`, { body, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
        const ids = async () => (await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id).filter((id) => id.startsWith('exp-'));
        // the same body under its expired key: the same batch id, so nothing is added
        expect((await send(first, resendKey)).status).toBe(200);
        expect(await ids()).toEqual(['exp-1', 'exp-2']);
        // another body under an expired key: new events, and the key is claimed for this body now
        const other = await send(Buffer.from(order('exp-3')), reuseKey);
        expect([other.status, other.json]).toEqual([200, expect.objectContaining({ received: 1, accepted: 1 })]);
        expect(await ids()).toEqual(['exp-1', 'exp-2', 'exp-3']);
        expect((await send(Buffer.from(order('exp-4')), reuseKey)).status).toBe(422);
      } finally {
        await restarted.close();
      }
    });
  });

  describe('Content-Type and Content-Encoding', () => {
    it('decodes gzip and deflate bodies while they stream in', async () => {
      const gz = await postRaw(zlib.gzipSync(order('gz-1') + order('gz-2')), { 'content-type': NDJSON, 'content-encoding': 'gzip' });
      expect(gz.status).toBe(200);
      expect(gz.json).toMatchObject({ received: 2, accepted: 2, quarantined: 0 });
      const deflated = await postRaw(zlib.deflateSync(order('deflate-1')), { 'content-type': NDJSON, 'content-encoding': 'deflate' });
      expect(deflated.json).toMatchObject({ received: 1, accepted: 1, quarantined: 0 });
      // gzip + BOM: the mark is dropped from the decoded bytes.
      const both = await postRaw(zlib.gzipSync(Buffer.concat([BOM, Buffer.from(order('gz-bom'))])), {
        'content-type': NDJSON,
        'content-encoding': 'gzip',
      });
      expect(both.json).toMatchObject({ received: 1, accepted: 1, quarantined: 0 });
      const landed = (await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id).filter((id) => /^(gz|deflate)-/.test(id));
      expect(landed).toEqual(['gz-1', 'gz-2', 'deflate-1', 'gz-bom']);
    });

    it('refuses a compressed body whose decoded size is over the limit (a zip bomb) with 413, without filling the disk', async () => {
      const small = await startIngestHttpServer({
        config: { artifactsDir, httpIngest: { port: 0, token: TOKEN, maxBodyBytes: 64 * 1024 } },
        client,
        log: () => undefined,
      });
      try {
        const bomb = await promisify(zlib.gzip)(Buffer.alloc(256 * 1024 * 1024, 0x20)); // 256 MiB of spaces in ~250 KB
        expect(bomb.length).toBeLessThan(1024 * 1024);
        const r = await httpRequest(small.port, `/v1/sources/${ORDERS}/events`, {
          body: bomb,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': NDJSON, 'content-encoding': 'gzip' },
        });
        expect(r.status).toBe(413);
        expect((r.json as ErrorBody).error).toMatchObject({ code: 'SLUICE_BODY_TOO_LARGE', message: expect.stringMatching(/65536 bytes/) });
        // Sent bytes count too: empty gzip members one after another decode to nothing, for ever.
        const endless = Buffer.concat(Array.from({ length: 5_000 }, () => zlib.gzipSync(Buffer.alloc(0))));
        const e = await httpRequest(small.port, `/v1/sources/${ORDERS}/events`, {
          body: endless,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': NDJSON, 'content-encoding': 'gzip' },
        });
        expect(e.status).toBe(413);
        expect(spoolLeft()).toEqual([]);
      } finally {
        await small.close();
      }
    });

    it('answers 415 for another Content-Encoding and 400 for a body that is not what its encoding says', async () => {
      const br = await postRaw(zlib.brotliCompressSync(order('br-1')), { 'content-type': NDJSON, 'content-encoding': 'br' });
      expect(br.status).toBe(415);
      expect((br.json as ErrorBody).error).toMatchObject({
        code: 'SLUICE_UNSUPPORTED_MEDIA_TYPE',
        message: expect.stringMatching(/br.*gzip or deflate/),
      });
      const twice = await postRaw(zlib.gzipSync(zlib.gzipSync(order('gz2-1'))), {
        'content-type': NDJSON,
        'content-encoding': 'gzip, gzip',
      });
      expect(twice.status).toBe(415);
      const notGzip = await postRaw(order('not-gz'), { 'content-type': NDJSON, 'content-encoding': 'gzip' });
      expect(notGzip.status).toBe(400);
      expect((notGzip.json as ErrorBody).error.code).toBe('SLUICE_BAD_CONTENT_ENCODING');
      const truncated = zlib.gzipSync(order('cut-1'));
      const cut = await postRaw(truncated.subarray(0, truncated.length - 6), { 'content-type': NDJSON, 'content-encoding': 'gzip' });
      expect(cut.status).toBe(400);
      const ids = (await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id);
      expect(ids.filter((id) => ['br-1', 'gz2-1', 'not-gz', 'cut-1'].includes(id))).toEqual([]);
      expect(spoolLeft()).toEqual([]);
    });

    it('reads text/csv as CSV and Arrow IPC (stream and file) as Arrow', async () => {
      const csv = await postRaw(`id,ts,amount,paid\ncsv-1,${TS},7,true\n`, { 'content-type': 'text/csv' });
      expect(csv.status).toBe(200);
      expect(csv.json).toMatchObject({ received: 1, accepted: 1, quarantined: 0 });
      const table = tableFromArrays({ id: ['arrow-1', 'arrow-2'], ts: [TS, TS], amount: Int32Array.from([8, 9]) });
      const stream = await postRaw(Buffer.from(tableToIPC(table, 'stream')), { 'content-type': 'application/vnd.apache.arrow.stream' });
      expect(stream.json).toMatchObject({ received: 2, accepted: 2, quarantined: 0 });
      const file = await postRaw(Buffer.from(tableToIPC(table, 'file')), { 'content-type': 'application/vnd.apache.arrow.file' });
      expect(file.json).toMatchObject({ received: 2, accepted: 0, duplicates: 2 });
      const jsonl = await postRaw(order('jsonl-1'), { 'content-type': 'application/jsonl' });
      expect(jsonl.json).toMatchObject({ received: 1, accepted: 1 });
      const landed = await logRows(stack.db.pool, ORDERS);
      expect(landed.filter((l) => /^(csv|arrow)-/.test(l.event_id)).map((l) => l.payload)).toEqual([
        { id: 'csv-1', ts: TS, amount: 7, paid: true },
        { id: 'arrow-1', ts: TS, amount: 8 },
        { id: 'arrow-2', ts: TS, amount: 9 },
      ]);
    });

    it('answers 415 naming the accepted types for a missing or another Content-Type, or a charset other than UTF-8, and ingests nothing', async () => {
      const none = await postRaw(order('ct-none'), {});
      expect(none.status).toBe(415);
      expect((none.json as ErrorBody).error).toEqual({
        code: 'SLUICE_UNSUPPORTED_MEDIA_TYPE',
        message: expect.stringMatching(/no Content-Type.*application\/x-ndjson.*text\/csv.*application\/vnd\.apache\.arrow\.stream/),
      });
      for (const type of ['text/plain', 'application/json', 'application/json-seq', 'application/x-www-form-urlencoded']) {
        const r = await postRaw(order('ct-other'), { 'content-type': type });
        expect({ type, status: r.status }).toEqual({ type, status: 415 });
      }
      const latin1 = await postRaw(order('ct-latin1'), { 'content-type': 'application/x-ndjson; charset=iso-8859-1' });
      expect(latin1.status).toBe(415);
      expect((latin1.json as ErrorBody).error.message).toMatch(/iso-8859-1.*UTF-8/);
      const ids = (await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id);
      expect(ids.filter((id) => id.startsWith('ct-'))).toEqual([]);
    });
  });
});
