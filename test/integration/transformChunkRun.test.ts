/**
 * Runs of incremental chunks (`runTransformChunks`, activities/transform/chunkRun.ts) against a
 * real PostgreSQL (no Temporal: the function itself): many chunks back to back and side by side,
 * committed in log order; the time budget; a run stopped mid-chunk (its statements cancelled)
 * and run again writes every row exactly once; a retry's totals count the chunks committed after
 * the last heartbeat of the attempt before it.
 */
import { runIncrementalChunks, type ChunkRunProgress } from '../../activities/transform/chunkRun';
import { contentHash } from '../../activities/transform';
import { registerTransformVersion } from '../../activities/transform/registry';
import { derivedTable } from '../../activities/transform/sqlText';
import { METER_SQL, seedMeterLog } from '../helpers/meterLog';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { toFailure } from '../../activities/failures';

/** 20,000 events, 3 in 4 of source `meter`: 15,000 rows. */
const EVENTS = 20_000;
const ROWS = 15_000;
/** Statements writing into table $1 that run now. */
const ACTIVE_INSERTS =
  "SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND starts_with(query, 'INSERT INTO ' || $1)";

describe('runs of incremental chunks (real PostgreSQL)', () => {
  let db: TestDatabase;
  let reference: Awaited<ReturnType<typeof contentHash>>;
  const table = derivedTable('meter', 1);
  const count = async (sql: string, params: unknown[] = []): Promise<number> =>
    Number((await db.pool.query<{ n: string }>(sql, params)).rows[0]?.n);
  const watermark = async (): Promise<string> =>
    (await db.pool.query<{ s: string }>("SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = 'meter' AND version = 1"))
      .rows[0]?.s ?? '';
  const chunkLog = async () =>
    (
      await db.pool.query<{ from_seq: string; to_seq: string; rows_read: number; rows_written: number }>(
        "SELECT from_seq::text, to_seq::text, rows_read::int, rows_written::int FROM sluice.transform_chunks WHERE name = 'meter' ORDER BY id",
      )
    ).rows;
  /** The chunk log in commit order tiles [1, upTo] with no gap and no overlap. */
  const expectTiles = (log: { from_seq: string; to_seq: string }[], upTo: string): void => {
    log.forEach((c, i) => expect(c.from_seq).toBe(i === 0 ? '1' : String(Number(log[i - 1]?.to_seq) + 1)));
    expect(log.at(-1)?.to_seq).toBe(upTo);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await seedMeterLog(db.pool, EVENTS);
    await db.ownerPool().query(`CREATE TABLE sluice_reference.meter_reference (LIKE ${table})`);
    await db.ownerPool().query(`INSERT INTO sluice_reference.meter_reference SELECT * FROM (${METER_SQL}) q`, ['1', String(EVENTS)]);
    reference = await contentHash(db.pool, 'sluice_reference.meter_reference');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a run stopped mid-chunk cancels its statements and keeps a prefix; the next run writes every row exactly once, in log order', async () => {
    const stop = new AbortController();
    const seen: ChunkRunProgress[] = [];
    const stopped = runIncrementalChunks(
      db.pool,
      { transform: 'meter', maxRows: 750, parallelism: 3, runSeconds: 600 },
      {
        signal: stop.signal,
        progress: (p) => {
          seen.push(p);
          if (p.chunks === 3) stop.abort(new Error('worker lost'));
        },
      },
    );
    await expect(stopped).rejects.toThrow('worker lost');
    // Nothing is left running: the chunks in flight were cancelled in the server, not left to finish.
    expect(await count(ACTIVE_INSERTS, [table])).toBe(0);
    const wm = await watermark();
    expect(BigInt(wm)).toBeGreaterThan(0n);
    expect(BigInt(wm)).toBeLessThan(BigInt(EVENTS));
    // The table holds exactly the log up to the watermark.
    expect(await count(`SELECT count(*)::text AS n FROM ${table}`)).toBe(
      await count("SELECT count(*)::text AS n FROM sluice.raw_events WHERE source = 'meter' AND seq <= $1", [wm]),
    );
    expect(await count(`SELECT count(*)::text AS n FROM ${table} WHERE seq > $1`, [wm])).toBe(0);

    const last = seen.at(-1) as ChunkRunProgress;
    const again = await runIncrementalChunks(
      db.pool,
      { transform: 'meter', maxRows: 750, parallelism: 3, runSeconds: 600 },
      { resume: last },
    );
    expect(again).toMatchObject({ caughtUp: true, version: 'v1', watermark: String(EVENTS), chunksInFlight: 0 });
    const log = await chunkLog();
    expectTiles(log, String(EVENTS));
    expect(log.every((c) => c.rows_read <= 750)).toBe(true);
    // The totals of both attempts together count every chunk once.
    expect(again).toMatchObject({ chunks: log.length, rowsRead: ROWS, rowsWritten: ROWS });
    expect(await count(`SELECT count(DISTINCT seq)::text AS n FROM ${table}`)).toBe(ROWS);
    expect(await contentHash(db.pool, table)).toEqual(reference);
    expect(again.runEventDetails).toEqual({ version: 'v1', fromSeq: String(BigInt(wm) + 1n), toSeq: String(EVENTS), parallelism: 3 });
    // Caught up: another run finds nothing and says so at once.
    const idle = await runIncrementalChunks(db.pool, { transform: 'meter', maxRows: 750, parallelism: 3, runSeconds: 600 });
    expect(idle).toMatchObject({ caughtUp: true, chunks: 0, rowsWritten: 0, watermark: String(EVENTS) });
  });

  it('cancelling a run cancels the INSERTs running in the server and gives their connections back', async () => {
    // Every chunk's statement sleeps 30 s: only a cancel in the server ends it sooner.
    await registerTransformVersion(db.pool, {
      name: 'meter_sleepy',
      version: 1,
      sources: ['meter'],
      sql: `${METER_SQL} AND (SELECT pg_sleep(30)) IS NOT NULL`,
    });
    const stop = new AbortController();
    const run = runIncrementalChunks(
      db.pool,
      { transform: 'meter_sleepy', maxRows: 5_000, parallelism: 2, runSeconds: 600 },
      { signal: stop.signal },
    );
    const sleeping = (): Promise<number> => count(ACTIVE_INSERTS, [derivedTable('meter_sleepy', 1)]);
    for (let i = 0; i < 100 && (await sleeping()) < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await sleeping()).toBe(2);
    const started = Date.now();
    stop.abort(new Error('cancelled by the workflow'));
    await expect(run).rejects.toThrow('cancelled by the workflow');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await sleeping()).toBe(0);
    expect(db.pool.idleCount).toBe(db.pool.totalCount); // no connection kept
    expect(await count(`SELECT count(*)::text AS n FROM ${derivedTable('meter_sleepy', 1)}`)).toBe(0);
    expect(await count("SELECT count(*)::text AS n FROM sluice.transform_chunks WHERE name = 'meter_sleepy'")).toBe(0);
  });

  it('a chunk whose SQL fails on the data stops the run: the chunks beside it roll back, the log prefix before it stays', async () => {
    // Fails on every row past seq 5,000 (the text is not a number); chunks of 1,000 rows end at
    // 1,333, 2,666, 3,999, 5,333 ...: the 4th fails.
    const failing = METER_SQL.replace(
      "payload->>'k' AS k",
      "CASE WHEN seq > 5000 THEN (payload->>'k')::int::text ELSE payload->>'k' END AS k",
    );
    await registerTransformVersion(db.pool, { name: 'meter_bad', version: 1, sources: ['meter'], sql: failing });
    const run = runIncrementalChunks(db.pool, { transform: 'meter_bad', maxRows: 1_000, parallelism: 3, runSeconds: 600 });
    // The failure Temporal sees (activities/failures.ts maps the domain error in the activity wrapper).
    await expect(run.catch((err: unknown) => Promise.reject(toFailure(err)))).rejects.toMatchObject({
      type: 'SLUICE_INVALID_TRANSFORM',
      nonRetryable: true,
      message: expect.stringMatching(/meter_bad v1 failed on log range \[4000, 5333\]/),
    });
    const wm = (await db.pool.query<{ s: string }>("SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = 'meter_bad'"))
      .rows[0]?.s;
    expect(wm).toBe(
      (await db.pool.query<{ s: string }>("SELECT max(to_seq)::text AS s FROM sluice.transform_chunks WHERE name = 'meter_bad'")).rows[0]
        ?.s,
    );
    expect(Number(wm)).toBeLessThanOrEqual(5_000);
    expect(await count(`SELECT count(*)::text AS n FROM ${derivedTable('meter_bad', 1)} WHERE seq > $1`, [wm])).toBe(0);
    expect(await count(ACTIVE_INSERTS, [derivedTable('meter_bad', 1)])).toBe(0);
  });

  it('a retry counts the chunks committed after the last heartbeat of the attempt before it', async () => {
    const log = await chunkLog();
    // As if the attempt before had heartbeated after its 2nd chunk, then committed more and died.
    const second = log[1] as { to_seq: string; rows_read: number; rows_written: number };
    const heartbeat: ChunkRunProgress = {
      version: 'v1',
      watermark: second.to_seq,
      chunks: 2,
      replayed: 0,
      deferred: 0,
      chunksInFlight: 2,
      rowsRead: (log[0]?.rows_read ?? 0) + second.rows_read,
      rowsWritten: (log[0]?.rows_written ?? 0) + second.rows_written,
    };
    const retry = await runIncrementalChunks(
      db.pool,
      { transform: 'meter', maxRows: 750, parallelism: 2, runSeconds: 600 },
      { resume: heartbeat },
    );
    expect(retry).toMatchObject({ caughtUp: true, chunks: log.length, rowsRead: ROWS, rowsWritten: ROWS, watermark: String(EVENTS) });
  });

  it('stops starting chunks when its time is up and says it is not caught up; the next run goes on from the watermark', async () => {
    await registerTransformVersion(db.pool, { name: 'meter_b', version: 1, sources: ['meter'], sql: METER_SQL });
    const first = await runIncrementalChunks(db.pool, { transform: 'meter_b', maxRows: 1_000, parallelism: 1, runSeconds: 0.001 });
    // Out of time at once: it still ran one chunk (every run makes progress), then stopped.
    expect(first).toMatchObject({ caughtUp: false, chunks: 1, rowsRead: 1_000 });
    const rest = await runIncrementalChunks(db.pool, { transform: 'meter_b', maxRows: 1_000, parallelism: 2, runSeconds: 600 });
    expect(rest).toMatchObject({ caughtUp: true, rowsRead: ROWS - 1_000, rowsWritten: ROWS - 1_000, watermark: String(EVENTS) });
    expect(rest.chunks).toBe((await count("SELECT count(*)::text AS n FROM sluice.transform_chunks WHERE name = 'meter_b'")) - 1);
    expect(await count(`SELECT count(*)::text AS n FROM ${derivedTable('meter_b', 1)}`)).toBe(ROWS);
  });
});
