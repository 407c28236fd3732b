// User SQL runs under limits (SET LOCAL statement_timeout, lock_timeout, idle-in-transaction
// timeout, work_mem; per transform) and cannot change the pooled session for what runs after it.
import { runIncrementalChunks } from '../../activities/transform/chunkRun';
import { registerTransformVersion } from '../../activities/transform/registry';
import { toFailure } from '../../activities/failures';
import { seedMeterLog } from '../helpers/meterLog';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

describe('limits and session hygiene of transform SQL (real PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedMeterLog(db.pool, 400);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("a transform that calls set_config(…, false) and takes a session advisory lock leaves no trace in the pool's connections", async () => {
    const sql = `SELECT seq, set_config('statement_timeout', '1234', false) AS a, set_config('application_name', 'pwned', false) AS b,
                        pg_advisory_lock(424242)::text AS c
                 FROM sluice.raw_events WHERE source = 'meter' AND seq BETWEEN $1 AND $2`;
    await registerTransformVersion(db.pool, { name: 'sticky', version: 1, sources: ['meter'], sql });
    // One chunk at a time: two chunks side by side would wait on each other's session lock (a deadlock PostgreSQL reports).
    const r = await runIncrementalChunks(db.pool, { transform: 'sticky', maxRows: 100, parallelism: 1, runSeconds: 60 });
    expect(r.rowsWritten).toBe(300);
    // Every connection the pool holds now: none carries the transform's settings or its lock.
    const clients = await Promise.all(Array.from({ length: db.pool.totalCount || 1 }, () => db.pool.connect()));
    try {
      for (const c of clients) {
        const s = await c.query<{ st: string; app: string }>(
          "SELECT current_setting('statement_timeout') AS st, current_setting('application_name') AS app",
        );
        expect(s.rows[0]).not.toMatchObject({ st: '1234ms' });
        expect(s.rows[0]?.app).not.toBe('pwned');
      }
      const locks = await clients[0]!.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242 AND granted");
      expect(locks.rows).toEqual([]);
    } finally {
      for (const c of clients) c.release();
    }
  });

  it('a statement over its statement_timeout (limits.statementTimeoutMs) fails permanently with a message that says so', async () => {
    const sql = `SELECT seq, pg_sleep(0.05)::text AS slow FROM sluice.raw_events WHERE source = 'meter' AND seq BETWEEN $1 AND $2`;
    await registerTransformVersion(db.pool, { name: 'slow', version: 1, sources: ['meter'], sql, limits: { statementTimeoutMs: 300 } });
    const run = runIncrementalChunks(db.pool, { transform: 'slow', maxRows: 100, parallelism: 1, runSeconds: 60 });
    await expect(run.catch((err: unknown) => Promise.reject(toFailure(err)))).rejects.toMatchObject({
      type: 'SLUICE_INVALID_TRANSFORM',
      nonRetryable: true,
      message: expect.stringMatching(/statement_timeout.*SQLSTATE 57014/),
    });
    // The limit was the transaction's only: the pool's sessions keep the server's default.
    const { rows } = await db.pool.query<{ st: string }>("SELECT current_setting('statement_timeout') AS st");
    expect(rows[0]?.st).toBe('0');
  });
});
