/**
 * Fault: the worker process is SIGKILLed in the middle of incremental transform chunks (a run of
 * chunks in one activity: rows written, transactions not committed). A new worker finishes the transform with
 * no lost and no duplicated rows: the same rows and content hash as the SQL run in one statement.
 */
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { contentHash } from '../../activities/transform';
import { derivedTable } from '../../activities/transform/sqlText';
import { dataLandedSignal, transformWorkflowId, type TransformStatus } from '../../api';
import { pollUntil } from '../../client/poll';
import { METER_SQL, seedMeterLog } from '../helpers/meterLog';
import { startTestCpuWorker, stopWorkerProcesses, type WorkerProcess } from '../helpers/workerProcess';
import { createTestDatabase, testNamespace, testTemporalAddress, uniqueName, type TestDatabase } from '../helpers/env';

const EVENTS = 20_000;
const ROWS = EVENTS * 0.75;

describe('incremental transform survives SIGKILL of its worker mid-chunk', () => {
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
    await client?.workflow
      .getHandle(transformWorkflowId('meter'))
      .terminate('test done')
      .catch(() => undefined);
    await stopWorkerProcesses(workers);
    await connection?.close();
    await db?.drop();
  });

  it('finishes with the same rows and sha256 as the SQL in one statement, each chunk committed once', async () => {
    await seedMeterLog(db.pool, EVENTS);
    // The reference: the same SQL over the whole log in one statement, hashed the same way.
    await db.ownerPool().query(`CREATE TABLE sluice_reference.meter_reference (LIKE ${derivedTable('meter', 1)})`);
    await db.ownerPool().query(`INSERT INTO sluice_reference.meter_reference SELECT * FROM (${METER_SQL}) q`, ['1', String(EVENTS)]);
    const reference = await contentHash(db.pool, 'sluice_reference.meter_reference');
    expect(reference.rows).toBe(ROWS);

    const queue = uniqueName('tfault');
    // Hold back the chunk log: a chunk writes its rows, then waits on this lock before it can commit.
    const blocker = new PgClient({ connectionString: db.ownerUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE sluice.transform_chunks IN SHARE ROW EXCLUSIVE MODE');

    const first = await startTestCpuWorker(db.url, queue);
    workers.push(first);
    const input = { transform: 'meter', chunkRows: 2_000, parallelism: 2, idleSeconds: 1 };
    await client.workflow.signalWithStart('transform', {
      taskQueue: queue,
      workflowId: transformWorkflowId('meter'),
      args: [input],
      signal: dataLandedSignal,
      signalArgs: [{ source: 'meter', fromSeq: '1', toSeq: String(EVENTS), batchId: 'b' }],
    });

    // Wait until both chunks in flight are mid-transaction with their rows written: the first on
    // our lock (its chunk-log row), the second on the first (its turn).
    let waiting: { log: string; turn: string } | undefined;
    await pollUntil(
      'both chunks in flight to wait at their commit',
      async () => {
        waiting = (
          await db.pool.query<{ log: string; turn: string }>(
            `SELECT count(*) FILTER (WHERE query LIKE 'INSERT INTO sluice.transform_chunks%')::text AS log,
                count(*) FILTER (WHERE query LIKE 'SELECT pg_advisory_lock_shared%')::text AS turn
         FROM pg_stat_activity WHERE datname = $1 AND application_name = 'sluice-worker-cpu' AND wait_event_type = 'Lock'`,
            [db.name],
          )
        ).rows[0];
        return Number(waiting?.log) >= 1 && Number(waiting?.turn) >= 1 ? true : undefined;
      },
      { intervalMs: 100, lastSeen: () => JSON.stringify(waiting) },
    );
    const uncommitted = await db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${derivedTable('meter', 1)}`);
    expect(uncommitted.rows[0]?.n).toBe('0');
    first.child.kill('SIGKILL');
    await first.exit;
    await blocker.query('COMMIT');
    await blocker.end();

    workers.push(await startTestCpuWorker(db.url, queue));
    let watermark: string | undefined;
    await pollUntil(
      'the transform to finish after the restart',
      async () => {
        watermark = (await db.pool.query<{ s: string }>("SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = 'meter'"))
          .rows[0]?.s;
        return watermark === String(EVENTS) ? true : undefined;
      },
      { timeoutMs: 90_000, lastSeen: () => `watermark ${watermark}` },
    );

    const table = await db.pool.query<{ c: string; d: string }>(
      `SELECT count(*)::text AS c, count(DISTINCT seq)::text AS d FROM ${derivedTable('meter', 1)}`,
    );
    expect(table.rows[0]).toEqual({ c: String(ROWS), d: String(ROWS) });
    expect(await contentHash(db.pool, derivedTable('meter', 1))).toEqual(reference);
    // Every range was committed once, in log order, the ranges tile the log, and the killed chunks ran again.
    const chunks = await db.pool.query<{ from_seq: string; to_seq: string; rows_written: string }>(
      "SELECT from_seq::text, to_seq::text, rows_written::text FROM sluice.transform_chunks WHERE name = 'meter' ORDER BY id", // commit order
    );
    expect(chunks.rows.reduce((sum, c) => sum + Number(c.rows_written), 0)).toBe(ROWS);
    chunks.rows.forEach((c, i) => expect(c.from_seq).toBe(i === 0 ? '1' : String(Number(chunks.rows[i - 1]?.to_seq) + 1)));
    expect(chunks.rows.at(-1)?.to_seq).toBe(String(EVENTS));
    // The killed run of chunks never completed; its retry on the new worker did, and the totals count every chunk once.
    const events = await db.pool.query<{ started: string; completed: string }>(
      `SELECT count(*) FILTER (WHERE status = 'started')::text AS started, count(*) FILTER (WHERE status = 'completed')::text AS completed
       FROM sluice.run_events WHERE step = 'runTransformChunks' AND workflow_id = $1`,
      [transformWorkflowId('meter')],
    );
    expect(Number(events.rows[0]?.started) - Number(events.rows[0]?.completed)).toBeGreaterThanOrEqual(1);
    // The workflow sees the totals when the run returns (a moment after the watermark moved).
    let status: TransformStatus | undefined;
    await pollUntil(
      'the status to show the whole log',
      async () => {
        status = await client.workflow.getHandle(transformWorkflowId('meter')).query<TransformStatus>('status');
        return status.watermark === String(EVENTS) ? true : undefined;
      },
      { lastSeen: () => JSON.stringify(status) },
    );
    expect(status).toMatchObject({ chunks: chunks.rows.length, rowsRead: ROWS, rowsWritten: ROWS, watermark: String(EVENTS) });
  });
});
