/**
 * Chunks written on several connections at once keep every invariant of one stream: the log holds
 * the file's events in file order, none twice, the counts balance, quarantine holds what it holds
 * with one stream, and a batch that fails half way adds nothing twice when it is retried.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pollUntil } from '../../client/poll';
import { RecordClassifier } from '../../activities/ingest/classify';
import { appendBatch, CHUNK_RECORDS, type BatchTarget } from '../../activities/ingest/logWriter';
import { ndjsonRecords } from '../../activities/ingest/readers';
import { ContractRegistry } from '../../contracts/registry';
import type { IngestBatchResult } from '../../api';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { expectBalanced, logRows, quarantineRows } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const TS = '2026-03-01T10:00:00Z';
const RECORDS = 8 * CHUNK_RECORDS + 321;
/** Sent in an earlier batch: in the file they are duplicates that send their chunk down the careful path. */
const ALREADY_LOGGED = [10, 3 * CHUNK_RECORDS + 10];

const invalid = (i: number): boolean => i % 97 === 0;

/**
 * Event i of the file, or a re-sent earlier one: the one before it (the same chunk, mostly) or one
 * from the chunk before, which may still be being written when this one is ready. A re-sent id
 * comes with another amount: a conflicting duplicate (quarantined; test/integration/ingestConflicts.test.ts).
 */
function sentId(i: number): number {
  if (i % 1000 === 999 && !invalid(i - 1)) return i - 1;
  if (i % CHUNK_RECORDS === 4321 && !invalid(i - CHUNK_RECORDS - 7)) return i - CHUNK_RECORDS - 7;
  return i;
}

function line(i: number): string {
  return JSON.stringify({ id: `o${sentId(i)}`, ts: TS, amount: invalid(i) ? 'bad' : i % 1000 });
}

/** Valid events of the file whose id the log holds already (the earlier batch, an earlier line) with another payload. */
function expectedConflicts(): number {
  const first = new Map(ALREADY_LOGGED.map((i) => [`o${i}`, line(i)]));
  let conflicts = 0;
  for (let i = 0; i < RECORDS; i++) {
    const id = `o${sentId(i)}`;
    const held = first.get(id);
    if (invalid(i)) continue;
    if (held === undefined) first.set(id, line(i));
    else if (held !== line(i)) conflicts++;
  }
  return conflicts;
}

/** What the log must hold, in this order: each valid event id once, where the file first sends it. */
function expectedLog(): string[] {
  const seen = new Set(ALREADY_LOGGED.map((i) => `o${i}`));
  const out: string[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const id = `o${sentId(i)}`;
    if (!invalid(i) && !seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}

describe('ingest with parallel COPY streams', () => {
  const registry = ContractRegistry.fromDirectory();
  const contract = registry.get(ORDERS);
  let dir: string;
  let file: string;
  const dbs: TestDatabase[] = [];

  const target = (db: TestDatabase, copyStreams: number, batchId = 'streams'): BatchTarget => ({
    pool: db.pool,
    source: ORDERS,
    batchId,
    contract,
    classifier: new RecordClassifier(contract, registry.validator(ORDERS, contract.version)),
    copyStreams,
  });

  /** A fresh database holding the earlier batch. */
  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    dbs.push(db);
    const earlier = path.join(dir, 'earlier.ndjson');
    fs.writeFileSync(earlier, ALREADY_LOGGED.map((i) => `${line(i)}\n`).join(''));
    await appendBatch(target(db, 1, 'earlier'), ndjsonRecords(earlier));
    return db;
  }

  /** The log of this batch in seq order, the chunk records, and the invariants every ingest keeps. */
  async function expectInvariants(db: TestDatabase, r: IngestBatchResult): Promise<void> {
    expectBalanced(r);
    const log = (await logRows(db.pool, ORDERS)).filter((x) => x.batch_id === 'streams');
    expect(log.map((x) => x.event_id)).toEqual(expectedLog());
    expect(r).toMatchObject({ received: RECORDS, accepted: log.length, fromSeq: log[0]?.seq, toSeq: log[log.length - 1]?.seq });
    const chunks = await db.pool.query<{ chunk_no: number; records: number; from_seq: string | null; to_seq: string | null }>(
      "SELECT chunk_no, records, from_seq::text, to_seq::text FROM sluice.ingest_chunks WHERE batch_id = 'streams' ORDER BY chunk_no",
    );
    expect(chunks.rows.map((c) => c.chunk_no)).toEqual(chunks.rows.map((_, i) => i));
    expect(chunks.rows.reduce((n, c) => n + c.records, 0)).toBe(RECORDS);
    // Each chunk's seq range lies after the one before it.
    const ranges = chunks.rows.filter((c) => c.from_seq !== null).map((c) => [BigInt(c.from_seq ?? 0), BigInt(c.to_seq ?? 0)] as const);
    ranges.forEach(([from, to], i) => {
      expect(from <= to).toBe(true);
      if (i > 0) expect(from > (ranges[i - 1]?.[1] ?? 0n)).toBe(true);
    });
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ingest-streams-'));
    file = path.join(dir, 'orders.ndjson');
    fs.writeFileSync(file, Array.from({ length: RECORDS }, (_, i) => `${line(i)}\n`).join(''));
  });
  afterAll(async () => {
    for (const db of dbs) await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('three streams give the log, quarantine and counts of one stream, in file order', async () => {
    const [one, three] = [await database(), await database()];
    const single = await appendBatch(target(one, 1), ndjsonRecords(file));
    const parallel = await appendBatch(target(three, 3), ndjsonRecords(file));
    await expectInvariants(one, single);
    await expectInvariants(three, parallel);
    const conflicting = expectedConflicts();
    const quarantined = Array.from({ length: RECORDS }, (_, i) => i).filter(invalid).length + conflicting;
    expect(conflicting).toBeGreaterThan(0);
    expect(parallel).toMatchObject({ quarantined, conflicting, duplicates: RECORDS - quarantined - expectedLog().length });
    const counts = (r: IngestBatchResult) => ({
      received: r.received,
      accepted: r.accepted,
      quarantined: r.quarantined,
      conflicting: r.conflicting,
      duplicates: r.duplicates,
    });
    expect(counts(parallel)).toEqual(counts(single));
    const quarantine = async (db: TestDatabase) =>
      (await quarantineRows(db.pool, ORDERS)).map(({ event_id, payload, raw, reason }) => ({ event_id, payload, raw, reason }));
    expect(await quarantine(three)).toEqual(await quarantine(one));

    // Sent again: every event is a duplicate now, and the batch id has nothing left to write.
    expect(await appendBatch(target(three, 3), ndjsonRecords(file))).toEqual(parallel);
    const resent = await appendBatch(target(three, 3, 'streams-again'), ndjsonRecords(file));
    expect(resent).toMatchObject({ received: RECORDS, accepted: 0, quarantined: 0, conflicting: 0, duplicates: RECORDS });
  });

  it('a COPY that fails in the middle of the batch: the retry writes the rest once, in file order', async () => {
    const db = await database();
    const attempt = appendBatch(target(db, 3), ndjsonRecords(file));
    attempt.catch(() => undefined); // awaited below
    // Once a chunk has committed, cancel a COPY that is running: its chunk fails while the chunks
    // after it are being written. (A process killed in the middle: ingestCrash.test.ts.)
    await pollUntil(
      'a committed chunk and a running COPY',
      async () => {
        const { rows } = await db.pool.query<{ killed: number }>(
          `SELECT count(*) FILTER (WHERE pg_cancel_backend(pid))::int AS killed FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY sluice.raw_events%'
            AND EXISTS (SELECT 1 FROM sluice.ingest_chunks WHERE batch_id = 'streams')`,
        );
        return rows[0]?.killed ? true : undefined;
      },
      { intervalMs: 5 },
    );
    await expect(attempt).rejects.toThrow(/canceling statement/);
    const committed = await db.pool.query<{ records: string | null }>(
      "SELECT sum(records)::text AS records FROM sluice.ingest_chunks WHERE batch_id = 'streams'",
    );
    expect(Number(committed.rows[0]?.records)).toBeLessThan(RECORDS);

    const retried = await appendBatch(target(db, 3), ndjsonRecords(file));
    await expectInvariants(db, retried);
  });
});
