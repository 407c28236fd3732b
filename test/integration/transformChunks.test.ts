/**
 * Planned incremental chunks against a real PostgreSQL (no Temporal: the activity functions
 * themselves): planning, side-by-side chunks that commit in log order, retries that write
 * nothing, and chunks that roll back when their turn does not come.
 */
import { Client as PgClient, Pool } from 'pg';
import {
  planIncrementalChunks,
  processBuildChunk,
  runPlannedChunk,
  type PlannedChunk,
  type RunChunkResult,
} from '../../activities/transform/chunks';
import { finishBackfill, prepareBackfill } from '../../activities/transform/backfill';
import { registerTransformVersion } from '../../activities/transform/registry';
import { derivedTable } from '../../activities/transform/sqlText';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

const SQL = `
  SELECT seq, payload->>'k' AS k, (payload->>'v')::int * 2 AS v2
  FROM sluice.raw_events WHERE source = 'meter' AND seq BETWEEN $1 AND $2`;
/** 1,250 events, every 5th of another source: 1,000 `meter` rows. */
const EVENTS = 1_250;

describe('planned incremental chunks (real PostgreSQL)', () => {
  let db: TestDatabase;
  let plan: PlannedChunk[];
  const table = derivedTable('meter', 1);
  const chunk = (c: PlannedChunk) => ({ transform: 'meter', version: 1, ...c });
  const count = async (sql: string): Promise<number> => Number((await db.pool.query<{ n: string }>(sql)).rows[0]?.n);
  const watermark = async (name = 'meter'): Promise<string> =>
    (await db.pool.query<{ s: string }>('SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = $1 AND version = 1', [name]))
      .rows[0]?.s ?? '';

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
       SELECT CASE WHEN g % 5 = 0 THEN 'other' ELSE 'meter' END, 'm' || g, now(), 'meter', '1.0.0',
              jsonb_build_object('k', 'key' || (g % 13), 'v', g), 'b' FROM generate_series(1, $1::int) g`,
      [EVENTS],
    );
    await registerTransformVersion(db.pool, { name: 'meter', version: 1, sources: ['meter'], sql: SQL });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('plans consecutive ranges of at most maxRows source rows from the watermark, after the chunks in flight, never past the horizon', async () => {
    const first = await planIncrementalChunks(db.pool, { transform: 'meter', maxRows: 300, count: 3 });
    expect(first).toMatchObject({ transform: 'meter', version: 1, watermark: '0', horizon: String(EVENTS) });
    plan = first.chunks;
    // 300 meter rows take 375 log rows (every 5th is `other`): [1, 374], [375, 749], [750, 1124].
    expect(plan).toEqual([
      { fromSeq: '1', toSeq: '374', rowsRead: 300 },
      { fromSeq: '375', toSeq: '749', rowsRead: 300 },
      { fromSeq: '750', toSeq: '1124', rowsRead: 300 },
    ]);
    const rest = await planIncrementalChunks(db.pool, { transform: 'meter', maxRows: 300, count: 3, after: { version: 1, toSeq: '1124' } });
    expect(rest.chunks).toEqual([{ fromSeq: '1125', toSeq: String(EVENTS), rowsRead: 100 }]);
    plan.push(...rest.chunks);
    const none = await planIncrementalChunks(db.pool, {
      transform: 'meter',
      maxRows: 300,
      count: 3,
      after: { version: 1, toSeq: String(EVENTS) },
    });
    expect(none.chunks).toEqual([]);
    // `after` of another version is ignored: planning starts from this version's watermark.
    const otherVersion = await planIncrementalChunks(db.pool, {
      transform: 'meter',
      maxRows: 300,
      count: 1,
      after: { version: 7, toSeq: '1124' },
    });
    expect(otherVersion.chunks).toEqual([plan[0]]);
    // Below the horizon of an earlier plan no new one is taken: planning stops there.
    const belowKnown = await planIncrementalChunks(db.pool, { transform: 'meter', maxRows: 300, count: 5, horizon: '749' });
    expect(belowKnown).toMatchObject({ horizon: '749', chunks: [plan[0], plan[1]] });
    const pastKnown = await planIncrementalChunks(db.pool, {
      transform: 'meter',
      maxRows: 300,
      count: 1,
      after: { version: 1, toSeq: '749' },
      horizon: '749',
    });
    expect(pastKnown).toMatchObject({ horizon: String(EVENTS), chunks: [plan[2]] });
    // Planning reads only.
    expect(await watermark()).toBe('0');
    expect(await count(`SELECT count(*) AS n FROM ${table}`)).toBe(0);
  });

  it('plans on a pool as small as the planners running at once: one connection at a time, never one while waiting for another', async () => {
    // Each planner reads the commit horizon on a connection of its own. Holding the planning
    // connection meanwhile made two planners on a 2-connection pool each wait for a second one
    // until the pool gave up ("timeout exceeded when trying to connect").
    const small = new Pool({ connectionString: db.url, max: 2, connectionTimeoutMillis: 3_000 });
    try {
      const plans = await Promise.all(
        Array.from({ length: 4 }, () => planIncrementalChunks(small, { transform: 'meter', maxRows: 300, count: 3 })),
      );
      const chunks = [
        { fromSeq: '1', toSeq: '374', rowsRead: 300 },
        { fromSeq: '375', toSeq: '749', rowsRead: 300 },
        { fromSeq: '750', toSeq: '1124', rowsRead: 300 },
      ];
      for (const p of plans) expect(p).toMatchObject({ watermark: '0', horizon: String(EVENTS), chunks });
    } finally {
      await small.end();
    }
  });
  it('runs chunks side by side and commits them in log order: a later chunk waits for the one before it', async () => {
    const [c1, c2] = plan as [PlannedChunk, PlannedChunk];
    // The second chunk starts first: it writes its rows, then waits for the watermark to reach it.
    const second = runPlannedChunk(db.pool, chunk(c2), undefined, { turnWaitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 500));
    expect(await watermark()).toBe('0');
    expect(await count(`SELECT count(*) AS n FROM ${table}`)).toBe(0); // nothing past the watermark is visible
    const first = await runPlannedChunk(db.pool, chunk(c1));
    const later = await second;
    expect(first).toMatchObject({ outcome: 'committed', fromSeq: '1', toSeq: '374', rowsRead: 300, rowsWritten: 300, watermark: '374' });
    expect(later).toMatchObject({ outcome: 'committed', fromSeq: '375', toSeq: '749', rowsRead: 300, rowsWritten: 300, watermark: '749' });
    expect(later.runEventDetails).toEqual({ version: 'v1', fromSeq: '375', toSeq: '749', outcome: 'committed' });
    expect(await watermark()).toBe('749');
    expect(await count(`SELECT count(*) AS n FROM ${table}`)).toBe(600);
    expect(await count(`SELECT count(DISTINCT seq) AS n FROM ${table}`)).toBe(600);
    // The chunk log has both, in commit order.
    const log = await db.pool.query(
      "SELECT from_seq::text, to_seq::text, rows_read::int, rows_written::int FROM sluice.transform_chunks WHERE name = 'meter' ORDER BY id",
    );
    expect(log.rows).toEqual([
      { from_seq: '1', to_seq: '374', rows_read: 300, rows_written: 300 },
      { from_seq: '375', to_seq: '749', rows_read: 300, rows_written: 300 },
    ]);
  });

  it('a retried chunk that had committed writes nothing and returns the counts of the attempt that did', async () => {
    const again = await runPlannedChunk(db.pool, chunk(plan[1] as PlannedChunk));
    expect(again).toMatchObject({ outcome: 'replayed', rowsWritten: 300, watermark: '749' });
    expect(await count(`SELECT count(*) AS n FROM ${table}`)).toBe(600);
    expect(await count("SELECT count(*) AS n FROM sluice.transform_chunks WHERE name = 'meter'")).toBe(2);
  });

  it('rolls back as deferred when its turn does not come (the chunk before never ran) or the plan is stale', async () => {
    const [, , c3, c4] = plan as [PlannedChunk, PlannedChunk, PlannedChunk, PlannedChunk];
    // c4 without c3: it writes its rows, waits, gives up, and rolls back.
    const started = Date.now();
    const lonely = await runPlannedChunk(db.pool, chunk(c4), undefined, { turnWaitMs: 300 });
    expect(lonely).toMatchObject({ outcome: 'deferred', rowsWritten: 0 });
    expect(Date.now() - started).toBeLessThan(10_000);
    // A range the watermark stands inside of (a backfill moved it): deferred at once.
    const stale = await runPlannedChunk(db.pool, chunk({ fromSeq: '700', toSeq: c3.toSeq, rowsRead: 0 }));
    expect(stale).toMatchObject({ outcome: 'deferred', rowsWritten: 0, watermark: '749' });
    expect(await count(`SELECT count(*) AS n FROM ${table}`)).toBe(600);
    expect(await watermark()).toBe('749');
    // Planning again from the watermark picks both up; they finish the log exactly once.
    const again = await planIncrementalChunks(db.pool, { transform: 'meter', maxRows: 300, count: 5 });
    expect(again.chunks).toEqual([c3, c4]);
    const results: RunChunkResult[] = await Promise.all(
      again.chunks.map((c) => runPlannedChunk(db.pool, chunk(c), undefined, { turnWaitMs: 20_000 })),
    );
    expect(results.map((r) => r.outcome)).toEqual(['committed', 'committed']);
    expect(await watermark()).toBe(String(EVENTS));
    expect(await count(`SELECT count(*) AS n FROM ${table}`)).toBe(1_000);
    expect(await count(`SELECT count(DISTINCT seq) AS n FROM ${table}`)).toBe(1_000);
    expect(await count(`SELECT count(*) AS n FROM ${table} t JOIN sluice.raw_events e USING (seq) WHERE e.source <> 'meter'`)).toBe(0);
  });

  it('a chunk waiting for its turn waits on the lock of the chunk before it, not on a clock', async () => {
    // A new transform over the same log: its first chunk holds the turn (the watermark lock) while
    // the second finishes its INSERT; the second commits right after the first, with a tiny turnWait.
    await registerTransformVersion(db.pool, { name: 'meter_b', version: 1, sources: ['meter'], sql: SQL });
    const p = await planIncrementalChunks(db.pool, { transform: 'meter_b', maxRows: 500, count: 2 });
    const [c1, c2] = p.chunks as [PlannedChunk, PlannedChunk];
    const holder = new PgClient({ connectionString: db.url });
    await holder.connect();
    try {
      // Stand in for a long first chunk: hold the watermark rows as it does, then let them go.
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM sluice.watermarks WHERE name = 'meter_b' AND version = 1 FOR UPDATE");
      const first = runPlannedChunk(db.pool, { transform: 'meter_b', version: 1, ...c1 });
      const second = runPlannedChunk(db.pool, { transform: 'meter_b', version: 1, ...c2 }, undefined, { turnWaitMs: 200 });
      await new Promise((r) => setTimeout(r, 1_000)); // longer than the second chunk's turnWait
      await holder.query('COMMIT');
      const [a, b] = await Promise.all([first, second]);
      expect([a.outcome, b.outcome]).toEqual(['committed', 'committed']);
    } finally {
      await holder.end();
    }
    expect(await count(`SELECT count(*) AS n FROM ${derivedTable('meter_b', 1)}`)).toBe(1_000);
  });

  it('a backfill switch waits for a chunk that waits for its turn, and neither deadlocks', async () => {
    await registerTransformVersion(db.pool, { name: 'meter_c', version: 1, sources: ['meter'], sql: SQL });
    const p = await planIncrementalChunks(db.pool, { transform: 'meter_c', maxRows: 500, count: 2 });
    const [, c2] = p.chunks as [PlannedChunk, PlannedChunk];
    // The rebuild of the whole log, ready to switch.
    const prepared = await prepareBackfill(db.pool, { buildId: 'b0c0ffee0123456789', transform: 'meter_c', version: 1 });
    for (let from = 1n, done = false; !done; ) {
      const r = await processBuildChunk(db.pool, { ...prepared, fromSeq: from.toString(), maxRows: 5_000 });
      done = r.done;
      from = BigInt(r.chunkToSeq) + 1n;
    }
    // The second chunk writes its rows and waits for a turn that never comes (its first chunk never runs).
    const waiting = runPlannedChunk(db.pool, { transform: 'meter_c', version: 1, ...c2 }, undefined, { turnWaitMs: 1_500 });
    await new Promise((r) => setTimeout(r, 300));
    const switched = finishBackfill(db.pool, { ...prepared, switchView: true, workflowId: 'test' }, () => undefined);
    const [chunk, finish] = await Promise.allSettled([waiting, switched]);
    expect(chunk).toMatchObject({ status: 'fulfilled', value: { outcome: 'deferred', rowsWritten: 0 } });
    expect(finish).toMatchObject({ status: 'fulfilled', value: { switched: true, rows: 1_000 } });
    expect(await count(`SELECT count(*) AS n FROM ${derivedTable('meter_c', 1)}`)).toBe(1_000);
    expect(await watermark('meter_c')).toBe(String(EVENTS));
  });
});
