import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SluiceClient } from '../../client';
import { CHUNK_RECORDS } from '../../activities/ingest/logWriter';
import { ingestWorkflowId } from '../../api';
import { pollUntil } from '../../client/poll';
import { logRows } from '../helpers/ingest';
import { startWorkerProcess, type WorkerProcess } from '../helpers/workerProcess';
import { createTestDatabase, testConfig, testNamespace, testTemporalAddress, type TestDatabase } from '../helpers/env';

const ORDERS = 'ingest_test_orders';
const ROWS = 12 * CHUNK_RECORDS;

function startWorker(db: TestDatabase, queues: { cpu: string; gpu: string }, copyStreams: string | undefined): WorkerProcess {
  const env = { ...process.env };
  delete env.SLUICE_INGEST_COPY_STREAMS;
  return startWorkerProcess('workers/cpu.ts', {
    ...env,
    ...(copyStreams === undefined ? {} : { SLUICE_INGEST_COPY_STREAMS: copyStreams }),
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_NAMESPACE: testNamespace(),
    SLUICE_TASK_QUEUE_CPU: queues.cpu,
    SLUICE_TASK_QUEUE_GPU: queues.gpu,
  });
}

// The default writes chunks on parallel COPY streams; one stream is the setting SLUICE_INGEST_COPY_STREAMS=1.
// Each its own batch id (the client's update id): with the first case's id, the second case's
// workflow run never started the ingest activity.
describe.each([
  ['parallel COPY streams (default)', undefined, 'crash-batch'],
  ['one COPY stream', '1', 'crash-batch-one-stream'],
])('ingest fault (%s): the worker is killed (SIGKILL) in the middle of a COPY', (_, copyStreams, batchId) => {
  let db: TestDatabase;
  let dir: string;
  const children: WorkerProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ingest-crash-'));
  });
  afterAll(async () => {
    for (const w of children) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a new worker finishes the batch with no lost and no duplicated rows', async () => {
    const file = path.join(dir, 'orders.ndjson');
    // Every 997th event breaks the contract: quarantine must not be lost or duplicated either.
    const bad = (i: number) => i % 997 === 0;
    const QUARANTINED = Array.from({ length: ROWS }, (_, i) => i).filter(bad).length;
    fs.writeFileSync(
      file,
      Array.from(
        { length: ROWS },
        (_, i) => `{"id":"k${i}","ts":"2026-01-01T00:00:00Z","amount":${bad(i) ? '"bad"' : i % 1000},"note":"row ${i}"}\n`,
      ).join(''),
    );
    const config = testConfig();
    const first = startWorker(db, config.taskQueues, copyStreams);
    children.push(first);
    await first.ready;

    const client = await SluiceClient.connect({ config, address: testTemporalAddress() });
    try {
      const result = client.ingestFile(ORDERS, { kind: 'file', path: file }, { format: 'ndjson', batchId });
      result.catch(() => undefined); // awaited below

      // Kill once a chunk has committed while the next chunk's COPY is running.
      let seen = '';
      const committedAtKill = await pollUntil(
        'a committed chunk and a running COPY',
        async () => {
          const { rows } = await db.pool.query<{ chunks: number; copying: number }>(
            `SELECT (SELECT count(*)::int FROM sluice.ingest_chunks WHERE batch_id = $1) AS chunks,
                  (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY sluice.raw_events%') AS copying`,
            [batchId],
          );
          const r = rows[0];
          seen = `${r?.chunks} chunks committed, ${r?.copying} COPY running`;
          return r && r.chunks >= 1 && r.copying >= 1 ? r.chunks : undefined;
        },
        { intervalMs: 10, lastSeen: () => `last seen ${seen}; worker output:\n${first.output().slice(-3000)}` },
      );
      first.child.kill('SIGKILL');
      await first.exit;
      expect(committedAtKill).toBeLessThan(ROWS / CHUNK_RECORDS);
      const rowsAtKill =
        (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.raw_events WHERE batch_id = $1', [batchId])).rows[0]
          ?.n ?? 0;
      expect(rowsAtKill).toBeLessThan(ROWS);

      const second = startWorker(db, config.taskQueues, copyStreams);
      children.push(second);
      await second.ready;
      const r = await result;
      expect(r).toMatchObject({ received: ROWS, accepted: ROWS - QUARANTINED, quarantined: QUARANTINED, duplicates: 0 });

      const { rows } = await db.pool.query<{ n: number; distinct_ids: number; q: number; chunk_records: string }>(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct_ids,
                (SELECT count(DISTINCT event_id)::int FROM sluice.quarantine) AS q,
                (SELECT sum(records)::text FROM sluice.ingest_chunks WHERE batch_id = $2) AS chunk_records
           FROM sluice.raw_events WHERE source = $1`,
        [ORDERS, batchId],
      );
      expect((await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.quarantine')).rows[0]?.n).toBe(QUARANTINED);
      expect(rows[0]).toEqual({ n: ROWS - QUARANTINED, distinct_ids: ROWS - QUARANTINED, q: QUARANTINED, chunk_records: String(ROWS) });
      // The log holds the file's valid events in file order.
      const log = await logRows(db.pool, ORDERS);
      expect(log.map((x) => x.event_id)).toEqual(
        Array.from({ length: ROWS }, (_, i) => i)
          .filter((i) => !bad(i))
          .map((i) => `k${i}`),
      );

      // The activity really ran twice: the killed attempt never completed, the retry did.
      const attempts = await db.pool.query<{ attempt: number; status: string }>(
        "SELECT attempt, status FROM sluice.run_events WHERE step = 'ingestFile' ORDER BY id",
      );
      expect(attempts.rows).toEqual([
        { attempt: 1, status: 'started' },
        { attempt: 2, status: 'started' },
        { attempt: 2, status: 'completed' },
      ]);
      await client.temporal.workflow.getHandle(ingestWorkflowId(ORDERS)).terminate('test over');
    } finally {
      await client.close();
      stopWorkers(children);
    }
  });
});

function stopWorkers(children: WorkerProcess[]): void {
  for (const w of children) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
}
