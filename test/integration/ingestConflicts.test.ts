/**
 * The same event id with another payload is not a silent duplicate (issue #9, point 8): it becomes
 * a quarantine row with the reason `conflicting_duplicate` (the seq that holds the id first and the
 * sha256 of both payloads as PostgreSQL stores them), counted in `conflicting`, a part of
 * `quarantined`, while the log row stays as it was. The same payload, however it is spaced or its
 * keys ordered, is a duplicate. By the client (inline batches), by file, by HTTP, within a chunk,
 * across chunks and across batches; a retried or resent batch records no conflict twice.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordClassifier } from '../../activities/ingest/classify';
import { appendBatch, CHUNK_RECORDS, type BatchTarget } from '../../activities/ingest/logWriter';
import { ndjsonRecords } from '../../activities/ingest/readers';
import { ingestWorkflowId, type IngestBatchResult } from '../../api';
import { SluiceClient } from '../../client';
import { ContractRegistry } from '../../contracts/registry';
import { startIngestHttpServer, type IngestHttpServer } from '../../workers/httpIngest';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { countRows, expectBalanced, logRows, quarantineRows, type QuarantineRow } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const TS = '2026-04-01T00:00:00Z';
const TOKEN = 'test-ingest-token-conflicts-0123';
const order = (id: string, amount: number) => ({ id, ts: TS, amount });
const line = (id: string, amount: number): string => `${JSON.stringify(order(id, amount))}\n`;
/** The text PostgreSQL keeps for such an order (jsonb: keys by length, then bytes; ", " and ": "). */
const stored = (id: string, amount: number | string): string => `{"id": "${id}", "ts": "${TS}", "amount": ${JSON.stringify(amount)}}`;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('conflicting duplicates: the same event id with another payload is recorded, not dropped', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let http: IngestHttpServer;
  let dir: string;
  const registry = ContractRegistry.fromDirectory();
  const contract = registry.get(ORDERS);

  const file = (name: string, content: string): { kind: 'file'; path: string } => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return { kind: 'file', path: p };
  };
  const logRow = async (id: string) => (await logRows(stack.db.pool, ORDERS)).find((r) => r.event_id === id);
  const conflictsOf = async (id: string): Promise<QuarantineRow[]> =>
    (await quarantineRows(stack.db.pool, ORDERS)).filter((r) => r.event_id === id && r.reason.code === 'conflicting_duplicate');
  /** received = accepted + quarantined + duplicates, and the conflicts are part of quarantined. */
  const expectCounts = (r: IngestBatchResult, counts: Partial<IngestBatchResult>): void => {
    expect(r).toMatchObject(counts);
    expectBalanced(r);
    expect(r.conflicting).toBeLessThanOrEqual(r.quarantined);
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ingest-conflicts-'));
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    const artifactsDir = path.join(dir, 'artifacts');
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
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('client: a resent identical event is a duplicate (however its keys are ordered); another payload is a conflict', async () => {
    const first = await client.ingest(ORDERS, [order('c1', 1), order('c2', 2)]);
    expectCounts(first, { received: 2, accepted: 2, quarantined: 0, conflicting: 0, duplicates: 0 });
    const c1 = await logRow('c1');

    const second = await client.ingest(ORDERS, [
      order('c1', 5), // the id of a log row, another amount: a conflict
      { amount: 2, ts: TS, id: 'c2' }, // the same event, keys in another order: a duplicate
      order('c3', 3),
    ]);
    expectCounts(second, { received: 3, accepted: 1, quarantined: 1, conflicting: 1, duplicates: 1 });

    const [conflict, ...more] = await conflictsOf('c1');
    expect(more).toEqual([]);
    expect(conflict?.payload).toEqual(order('c1', 5));
    expect(conflict?.reason).toMatchObject({
      code: 'conflicting_duplicate',
      firstIn: 'log',
      firstSeq: c1?.seq,
      firstDigest: sha256(stored('c1', 1)),
      digest: sha256(stored('c1', 5)),
      record: 0,
      issues: [expect.objectContaining({ keyword: 'conflicting_duplicate', pointer: '/id', contract: ORDERS })],
    });
    // The log row is the first one, untouched.
    expect(await logRow('c1')).toEqual(c1);
    expect(c1?.payload).toEqual(order('c1', 1));

    // Resent under a new batch id (a producer retry): the conflict is recorded already, so all three are duplicates.
    const again = await client.ingest(ORDERS, [order('c1', 5), { amount: 2, ts: TS, id: 'c2' }, order('c3', 3)]);
    expectCounts(again, { received: 3, accepted: 0, quarantined: 0, conflicting: 0, duplicates: 3 });
    expect(await conflictsOf('c1')).toHaveLength(1);

    // A third payload for the same id is a conflict of its own, still against the log row.
    const third = await client.ingest(ORDERS, [order('c1', 7)]);
    expectCounts(third, { received: 1, quarantined: 1, conflicting: 1, duplicates: 0 });
    expect((await conflictsOf('c1')).map((r) => r.reason.digest)).toEqual([sha256(stored('c1', 5)), sha256(stored('c1', 7))]);
  });

  it('client: within one batch, the second payload of an id is a conflict with the first; invalid events conflict too', async () => {
    const r = await client.ingest(ORDERS, [
      order('d1', 1),
      order('d1', 2), // same batch, another payload
      { amount: 1, id: 'd1', ts: TS }, // the first payload again, keys reordered: a duplicate
      order('d1', 2), // the conflicting payload again: a duplicate of the conflict
      { id: 'd2', ts: TS, amount: 'bad' }, // invalid: quarantined for its contract
      { id: 'd2', ts: TS, amount: 'worse' }, // invalid again, another payload: a conflict with the quarantine row
      { id: 'd2', ts: TS, amount: 'bad' }, // the first invalid payload again: a duplicate
    ]);
    expectCounts(r, { received: 7, accepted: 1, quarantined: 3, conflicting: 2, duplicates: 3 });
    const d1 = await logRow('d1');
    expect(d1?.payload).toEqual(order('d1', 1));
    const [c] = await conflictsOf('d1');
    expect(c?.reason).toMatchObject({ firstIn: 'log', firstSeq: d1?.seq, record: 1, digest: sha256(stored('d1', 2)) });

    const q = await quarantineRows(stack.db.pool, ORDERS);
    const d2 = q.filter((x) => x.event_id === 'd2');
    expect(d2.map((x) => x.reason.code ?? null)).toEqual([null, 'conflicting_duplicate']);
    expect(d2[1]?.reason).toMatchObject({
      firstIn: 'quarantine',
      firstSeq: d2[0]?.seq,
      firstDigest: sha256(stored('d2', 'bad')),
      digest: sha256(stored('d2', 'worse')),
      record: 5,
    });
    // The conflict keeps the event's own contract issues after its own.
    expect(d2[1]?.reason.issues.map((i) => i.keyword)).toEqual(['conflicting_duplicate', 'type']);

    // An invalid event whose id is in the log with another payload: a conflict, not a plain quarantine row.
    const invalid = await client.ingest(ORDERS, [{ id: 'd1', ts: TS, amount: 'bad' }]);
    expectCounts(invalid, { received: 1, accepted: 0, quarantined: 1, conflicting: 1, duplicates: 0 });
    expect((await conflictsOf('d1')).map((x) => x.reason.firstSeq)).toEqual([d1?.seq, d1?.seq]);
  });

  it('file: conflicts within a chunk (two lines of one file), across chunks and with earlier batches, counted exactly', async () => {
    await client.ingest(ORDERS, [order('f0', 1)]);
    const n = CHUNK_RECORDS + 50;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(line(`f${i + 1}`, i % 100));
    lines[10] = line('f0', 2); // an earlier batch holds f0 with amount 1
    lines[20] = line('f3', 99); // the same chunk holds f3 (line 2) with another amount
    lines[21] = `{"id": "f3",   "ts": "${TS}", "amount": 2}\n`; // f3 as on line 2, spaced otherwise: a duplicate
    lines[CHUNK_RECORDS + 5] = line('f5', 77); // the chunk before holds f5 (line 4)
    lines[CHUNK_RECORDS + 6] = line('f6', 5); // identical to line 5: a duplicate across chunks
    const r = await client.ingestFile(ORDERS, file('conflicts.ndjson', lines.join('')), { format: 'ndjson' });
    expectCounts(r, { received: n, accepted: n - 5, quarantined: 3, conflicting: 3, duplicates: 2 });

    const log = await logRows(stack.db.pool, ORDERS);
    const seqOf = (id: string) => log.find((x) => x.event_id === id)?.seq;
    expect((await conflictsOf('f0'))[0]?.reason).toMatchObject({ firstSeq: seqOf('f0'), record: 10, firstDigest: sha256(stored('f0', 1)) });
    expect((await conflictsOf('f3'))[0]?.reason).toMatchObject({ firstSeq: seqOf('f3'), record: 20, digest: sha256(stored('f3', 99)) });
    expect((await conflictsOf('f5'))[0]?.reason).toMatchObject({ firstSeq: seqOf('f5'), record: CHUNK_RECORDS + 5 });
    expect(log.find((x) => x.event_id === 'f5')?.payload).toEqual(order('f5', 4));
    const chunks = await stack.db.pool.query<{ conflicting: number; quarantined: number }>(
      'SELECT conflicting, quarantined FROM sluice.ingest_chunks WHERE batch_id = $1 ORDER BY chunk_no',
      [r.batchId],
    );
    expect(chunks.rows).toEqual([
      { conflicting: 2, quarantined: 2 },
      { conflicting: 1, quarantined: 1 },
    ]);
  });

  it('a retried batch (same batch id) and a replayed one (new batch id) write no conflict twice', async () => {
    await client.ingest(ORDERS, [order('r1', 1), order('r2', 2)]);
    const content = [line('r1', 10), line('r2', 2), line('r3', 3), line('r3', 30)].join('');
    const target = (batchId: string): BatchTarget => ({
      pool: stack.db.pool,
      source: ORDERS,
      batchId,
      contract,
      classifier: new RecordClassifier(contract, registry.validator(ORDERS, contract.version)),
    });
    const f = file('retry.ndjson', content);
    const once = await appendBatch(target('retry'), ndjsonRecords(f.path));
    expectCounts(once, { received: 4, accepted: 1, quarantined: 2, conflicting: 2, duplicates: 1 });
    const quarantined = await countRows(stack.db.pool, 'quarantine', ORDERS);

    // The activity retried after its chunk committed: nothing to write, the same counts.
    expect(await appendBatch(target('retry'), ndjsonRecords(f.path))).toEqual(once);
    // The whole batch replayed under another id: every conflict is there already.
    const replay = await appendBatch(target('retry-replayed'), ndjsonRecords(f.path));
    expectCounts(replay, { received: 4, accepted: 0, quarantined: 0, conflicting: 0, duplicates: 4 });
    expect(await countRows(stack.db.pool, 'quarantine', ORDERS)).toBe(quarantined);
    expect(await conflictsOf('r1')).toHaveLength(1);
    expect(await conflictsOf('r3')).toHaveLength(1);
  });

  it('HTTP: the answer counts the conflict, and quarantine holds it', async () => {
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${http.port}/v1/sources/${ORDERS}/events`, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      });
    const first = await post(line('h1', 1) + line('h2', 2));
    expect(first.status).toBe(200);
    const res = await post(line('h1', 1) + line('h2', 3));
    expect(res.status).toBe(200);
    const r = (await res.json()) as IngestBatchResult;
    expectCounts(r, { received: 2, accepted: 0, quarantined: 1, conflicting: 1, duplicates: 1 });
    const [c] = await conflictsOf('h2');
    expect(c?.reason).toMatchObject({ firstSeq: (await logRow('h2'))?.seq, digest: sha256(stored('h2', 3)), record: 1 });
    expect(c?.payload).toEqual(order('h2', 3));
  });
});
