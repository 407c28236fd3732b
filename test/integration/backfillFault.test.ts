/**
 * Fault: the worker process is SIGKILLed in the middle of a backfill chunk (rows written, the
 * transaction not committed). A new worker finishes the backfill with no lost and no duplicated
 * rows: the same row count and content hash as a clean build.
 */
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { contentHash } from '../../activities/transform';
import { derivedTable } from '../../activities/transform/sqlText';
import type { BackfillResult } from '../../api';
import { pollUntil } from '../../client/poll';
import { METER_SQL, seedMeterLog } from '../helpers/meterLog';
import { startTestCpuWorker, stopWorkerProcesses, type WorkerProcess } from '../helpers/workerProcess';
import { createTestDatabase, testNamespace, testTemporalAddress, uniqueName, type TestDatabase } from '../helpers/env';

const EVENTS = 20_000;

describe('backfill survives SIGKILL of its worker mid-chunk', () => {
  let db: TestDatabase;
  let connection: Connection;
  let client: Client;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    connection = await Connection.connect({ address: testTemporalAddress() });
    client = new Client({ connection, namespace: testNamespace() });
  });
  afterAll(async () => {
    await stopWorkerProcesses(workers);
    await connection?.close();
    await db?.drop();
  });

  it('finishes with the same rows and sha256 as a clean build', async () => {
    await seedMeterLog(db.pool, EVENTS);
    // The clean build: the same SQL over the whole log in one statement, hashed the same way.
    await db.pool.query(`INSERT INTO ${derivedTable('meter', 1)} SELECT * FROM (${METER_SQL}) q`, ['1', String(EVENTS)]);
    const clean = await contentHash(db.pool, derivedTable('meter', 1));
    expect(clean.rows).toBe(EVENTS * 0.75);

    const queue = uniqueName('fault');
    // Hold back the chunk markers: each chunk writes its rows, then waits on this lock before it can commit.
    const blocker = new PgClient({ connectionString: db.ownerUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE sluice.transform_build_chunks IN SHARE ROW EXCLUSIVE MODE');

    const first = await startTestCpuWorker(db.url, queue);
    workers.push(first);
    const workflowId = uniqueName('backfill-fault');
    const handle = await client.workflow.start('backfill', {
      taskQueue: queue,
      workflowId,
      args: [{ transform: 'meter', version: 1, rangeSeqs: 6_000, chunkRows: 2_000, parallelism: 2 }],
    });

    // Wait until chunks are mid-transaction: their INSERT into the marker table waits on our lock.
    await pollUntil(
      'two backfill chunks to wait at their marker',
      async () => {
        const waiting = await db.pool.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'sluice-worker-cpu' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO sluice.transform_build_chunks%'`,
          [db.name],
        );
        return Number(waiting.rows[0]?.n) >= 2 ? true : undefined;
      },
      { intervalMs: 100 },
    );
    const startedBeforeKill = await db.pool.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM sluice.run_events WHERE step = 'buildTransformChunk' AND status = 'started'",
    );
    expect(Number(startedBeforeKill.rows[0]?.n)).toBeGreaterThanOrEqual(2);
    first.child.kill('SIGKILL');
    await first.exit;
    await blocker.query('COMMIT');
    await blocker.end();

    workers.push(await startTestCpuWorker(db.url, queue));
    const result = (await handle.result()) as BackfillResult;

    expect(result).toMatchObject({ rows: clean.rows, sha256: clean.sha256, switched: true });
    const table = await db.pool.query<{ c: string; d: string }>(
      'SELECT count(*)::text AS c, count(DISTINCT seq)::text AS d FROM sluice_derived.meter',
    );
    expect(table.rows[0]).toEqual({ c: String(clean.rows), d: String(clean.rows) });
    expect((await contentHash(db.pool, derivedTable('meter', 1))).sha256).toBe(clean.sha256);
    // The killed chunks ran again (a second attempt) and nothing was written twice.
    const retried = await db.pool.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM sluice.run_events WHERE step = 'buildTransformChunk' AND status = 'started' AND attempt > 1",
    );
    expect(Number(retried.rows[0]?.n)).toBeGreaterThanOrEqual(2);
    const markers = await db.pool.query<{ rows: string }>('SELECT sum(rows_written)::text AS rows FROM sluice.transform_build_chunks');
    expect(markers.rows[0]?.rows).toBe(String(clean.rows));
  });
});
