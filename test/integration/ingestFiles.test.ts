import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { MAX_RECORD_BYTES } from '../../activities/ingest/readers';
import { SluiceClient } from '../../client';
import { ingestWorkflowId } from '../../api';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { countRows, expectBalanced, logRows, quarantineRows } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const TS = '2026-03-01T10:00:00Z';

describe('ingest by reference: NDJSON, CSV and Arrow files, with every kind of bad input', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let dir: string;
  const file = (name: string, content: string | Buffer | Uint8Array): { kind: 'file'; path: string } => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return { kind: 'file', path: p };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ingest-files-'));
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await stack?.client.workflow
      .getHandle(ingestWorkflowId(ORDERS))
      .terminate('test over')
      .catch(() => undefined);
    await client?.close();
    await stack?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('NDJSON: every bad line lands in quarantine with its reason or is counted as a duplicate; nothing is lost', async () => {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const deep = `${'['.repeat(1000)}1${']'.repeat(1000)}`;
    const lines: (string | Buffer)[] = [
      JSON.stringify({ id: 'n1', ts: TS, amount: 1 }), // valid
      '{"id": "n2", "ts": ', // malformed JSON
      JSON.stringify({ id: 'n3', ts: TS, amount: 'one' }), // wrong type
      JSON.stringify({ id: 'n4', ts: TS }), // missing required field
      JSON.stringify({ id: 'n5', ts: TS, amount: 1, note: 'x'.repeat(10 * 1024 * 1024) }), // 10 MB string
      `{"id":"n6","ts":"${TS}","amount":1,"deep":${deep}}`, // 1,000-deep nesting
      `{"id":"n7","ts":"${TS}","amount":1,"__proto__":{"polluted":true}}`, // prototype keys
      `{"id":"n8","ts":"${TS}","amount":1,"constructor":{"prototype":{"polluted":true}}}`,
      Buffer.concat([Buffer.from(`{"id":"n9","ts":"${TS}","amount":1,"note":"`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]), // invalid UTF-8
      Buffer.concat([Buffer.from(`{"id":"n10","ts":"${TS}","amount":1,"note":"a`), Buffer.from([0x00]), Buffer.from('b"}')]), // raw NUL byte
      `{"id":"n11","ts":"${TS}","amount":1,"note":"a\\u0000b"}`, // escaped NUL: JSON, but jsonb cannot hold it
      JSON.stringify({ id: 'n1', ts: TS, amount: 1 }), // duplicate id inside the batch
      JSON.stringify({ id: 'n12', ts: '2020-01-01T00:00:00Z', amount: 2 }), // out-of-order event time: accepted
      '', // blank line: a separator, not a record
      `{"id":"n13","ts":"${TS}","amo`, // the file ends mid-line
    ];
    const content = Buffer.concat(lines.map((l, i) => Buffer.concat([Buffer.from(l), Buffer.from(i < lines.length - 1 ? '\n' : '')])));
    const received = lines.filter((l) => l.length > 0).length;

    const r = await client.ingestFile(ORDERS, file('bad.ndjson', content), { format: 'ndjson' });
    expectBalanced(r);
    expect(r).toMatchObject({ received, accepted: 2, duplicates: 1, quarantined: received - 3 });
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    expect((await logRows(stack.db.pool, ORDERS)).map((l) => [l.event_id, l.event_time?.toISOString()])).toEqual([
      ['n1', '2026-03-01T10:00:00.000Z'],
      ['n12', '2020-01-01T00:00:00.000Z'],
    ]);
    const q = await quarantineRows(stack.db.pool, ORDERS);
    expect(q).toHaveLength(r.quarantined);
    const byRecord = new Map(q.map((row) => [row.reason.record, row]));
    const keywords = (record: number) => byRecord.get(record)?.reason.issues.map((i) => i.keyword);
    expect(keywords(1)).toEqual(['json']);
    expect(byRecord.get(1)?.raw?.toString()).toBe('{"id": "n2", "ts": ');
    expect(keywords(2)).toEqual(['type']);
    expect(byRecord.get(2)?.reason.issues[0]).toEqual({
      contract: ORDERS,
      version: '1.1.0',
      pointer: '/amount',
      keyword: 'type',
      message: 'must be integer',
    });
    expect(keywords(3)).toEqual(['required']);
    expect(keywords(4)).toEqual(['maxLength']);
    expect((byRecord.get(4)?.payload as { note: string }).note.length).toBe(10 * 1024 * 1024);
    expect(keywords(5)).toEqual(['additionalProperties']);
    expect(keywords(6)).toEqual(['additionalProperties']);
    expect(Object.keys(byRecord.get(6)?.payload as object)).toContain('__proto__');
    expect(keywords(7)).toEqual(['additionalProperties']);
    expect(keywords(8)).toEqual(['utf8']);
    expect(byRecord.get(8)?.raw).toEqual(lines[8]);
    expect(keywords(9)).toEqual(['json']);
    expect(byRecord.get(9)?.raw).toEqual(lines[9]);
    expect(keywords(10)).toEqual(['storable']);
    expect(byRecord.get(10)?.raw?.toString()).toBe(lines[10]);
    expect(byRecord.get(10)?.payload).toBeNull();
    expect(keywords(13)).toEqual(['json']);

    // The same file again: every record is a duplicate (log and quarantine alike), nothing is added.
    const again = await client.ingestFile(ORDERS, file('bad-again.ndjson', content), { format: 'ndjson' });
    expect(again).toMatchObject({ received, accepted: 0, quarantined: 0, duplicates: received });
    expect(await countRows(stack.db.pool, 'quarantine', ORDERS)).toBe(r.quarantined);
  });

  it('a record over the 64 MiB limit is quarantined by its first MiB and kept whole in the artifact store; two that share their first MiB are two records', async () => {
    // Over the limit, and its first MiB alone is a valid event: only the whole record may judge it.
    const big = (tail: string): Buffer =>
      Buffer.concat([
        Buffer.from(JSON.stringify({ id: 'huge', ts: TS, amount: 1 })),
        Buffer.alloc(MAX_RECORD_BYTES, ' '),
        Buffer.from(tail),
      ]);
    const records = [big('a'), Buffer.from(JSON.stringify({ id: 'h-after', ts: TS, amount: 3 })), big('b')];
    const r = await client.ingestFile(ORDERS, file('huge.ndjson', Buffer.concat(records.flatMap((b) => [b, Buffer.from('\n')]))), {
      format: 'ndjson',
    });
    expectBalanced(r);
    expect(r).toMatchObject({ received: 3, accepted: 1, quarantined: 2, duplicates: 0 });
    const q = (await quarantineRows(stack.db.pool, ORDERS)).filter((row) => row.reason.issues[0]?.keyword === 'maxRecordBytes');
    expect(q).toHaveLength(2);
    for (const [i, row] of q.entries()) {
      const whole = records[i === 0 ? 0 : 2] as Buffer;
      const sha256 = createHash('sha256').update(whole).digest('hex');
      expect(row.raw).toEqual(whole.subarray(0, 1024 * 1024));
      expect(row.event_id).toBe(`raw-sha256:${sha256}`);
      expect(row.reason.whole).toMatchObject({ sha256, size: whole.length, artifact: { sha256, size: whole.length } });
      expect(row.reason.issues[0]?.message).toMatch(new RegExp(`over the ${MAX_RECORD_BYTES}-byte limit.*artifact sha256:${sha256}`));
      const stored = fs.readFileSync(new URL(row.reason.whole?.artifact?.uri ?? ''));
      expect(stored.equals(whole)).toBe(true);
    }
    expect(new Set(q.map((row) => row.event_id)).size).toBe(2);
    expect((await logRows(stack.db.pool, ORDERS)).map((l) => l.event_id)).toContain('h-after');
    // A re-drive leaves them be: no contract can take a record over the limit, and raw holds only its start.
    await client.redriveQuarantine(ORDERS);
    const resolved = await stack.db.pool.query('SELECT 1 FROM sluice.quarantine_resolutions WHERE quarantine_seq = ANY($1::bigint[])', [
      q.map((row) => row.seq),
    ]);
    expect(resolved.rowCount).toBe(0);
  });

  it('CSV: types come from the contract, quoted fields keep commas and newlines, a short row is quarantined', async () => {
    const csv = [
      'id,ts,amount,paid,note',
      `c1,${TS},5,true,plain`,
      `c2,${TS},6,false,"with, comma and ""quotes""\nand a newline"`,
      `c3,${TS},seven,true,x`,
      `c4,${TS},8`,
      `c5,${TS},9,,`,
    ].join('\r\n');
    const r = await client.ingestFile(ORDERS, file('orders.csv', `${csv}\r\n`), { format: 'csv' });
    expectBalanced(r);
    expect(r).toMatchObject({ received: 5, accepted: 3, quarantined: 2, duplicates: 0 });
    const log = (await logRows(stack.db.pool, ORDERS)).filter((l) => l.event_id.startsWith('c'));
    expect(log.map((l) => l.payload)).toEqual([
      { id: 'c1', ts: TS, amount: 5, paid: true, note: 'plain' },
      { id: 'c2', ts: TS, amount: 6, paid: false, note: 'with, comma and "quotes"\nand a newline' },
      { id: 'c5', ts: TS, amount: 9 },
    ]);
    const q = (await quarantineRows(stack.db.pool, ORDERS)).slice(-2);
    expect(q[0]?.reason.issues[0]).toMatchObject({ pointer: '/amount', keyword: 'type' });
    expect(q[1]?.reason.issues[0]).toMatchObject({ keyword: 'csvColumns' });
    expect(q[1]?.payload).toEqual(['c4', TS, '8']);
  });

  it('CSV with the wrong header: every row is quarantined with the reason, none is dropped', async () => {
    const r = await client.ingestFile(ORDERS, file('wrong-header.csv', `ident,time,amt\nw1,${TS},1\nw2,${TS},2\n`), { format: 'csv' });
    expect(r).toMatchObject({ received: 2, accepted: 0, quarantined: 2, duplicates: 0 });
    const q = (await quarantineRows(stack.db.pool, ORDERS)).slice(-2);
    for (const row of q) {
      expect(row.reason.issues.map((i) => i.keyword)).toEqual(expect.arrayContaining(['required', 'additionalProperties']));
      expect(row.event_id).toMatch(/^sha256:/);
    }
  });

  it('Arrow IPC, stream and file format: rows are read batch by batch', async () => {
    const table = tableFromArrays({
      id: ['a1', 'a2', 'a3'],
      ts: [TS, TS, TS],
      amount: Int32Array.from([1, 2, -3]),
    });
    const stream = await client.ingestFile(ORDERS, file('orders.arrows', tableToIPC(table, 'stream')), { format: 'arrow' });
    expect(stream).toMatchObject({ received: 3, accepted: 2, quarantined: 1, duplicates: 0 });
    const fileFormat = await client.ingestFile(ORDERS, file('orders.arrow', tableToIPC(table, 'file')), { format: 'arrow' });
    expect(fileFormat).toMatchObject({ received: 3, accepted: 0, quarantined: 0, duplicates: 3 });
    const log = (await logRows(stack.db.pool, ORDERS)).filter((l) => l.event_id.startsWith('a'));
    expect(log.map((l) => l.payload)).toEqual([
      { id: 'a1', ts: TS, amount: 1 },
      { id: 'a2', ts: TS, amount: 2 },
    ]);
  });

  it('an empty file is an empty batch; a missing file fails that batch only, non-retryably', async () => {
    const empty = await client.ingestFile(ORDERS, file('empty.ndjson', ''), { format: 'ndjson' });
    expect(empty).toMatchObject({ received: 0, accepted: 0, quarantined: 0, duplicates: 0 });
    await expect(
      client.ingestFile(ORDERS, { kind: 'file', path: path.join(dir, 'missing.ndjson') }, { format: 'ndjson' }),
    ).rejects.toMatchObject({
      cause: { cause: { type: 'SLUICE_INGEST_FILE_UNREADABLE', nonRetryable: true } },
    });
    const after = await client.ingest(ORDERS, [{ id: 'after-missing', ts: TS, amount: 1 }]);
    expect(after.accepted).toBe(1);
  });
});
