import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SluiceClient } from '../../client';
import { CHUNK_RECORDS } from '../../activities/ingest/logWriter';
import { ingestWorkflowId } from '../../api';
import { pollUntil } from '../../client/poll';
import { startWorkerProcess, type WorkerProcess } from '../helpers/workerProcess';
import { createTestDatabase, testConfig, testNamespace, testTemporalAddress, type TestDatabase } from '../helpers/env';

const ORDERS = 'ingest_test_orders';
const ROWS = 12 * CHUNK_RECORDS;

function startWorker(db: TestDatabase, queues: { cpu: string; gpu: string }): WorkerProcess {
  return startWorkerProcess('workers/cpu.ts', {
    ...process.env,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_NAMESPACE: testNamespace(),
    SLUICE_TASK_QUEUE_CPU: queues.cpu,
    SLUICE_TASK_QUEUE_GPU: queues.gpu,
  });
}

describe('ingest fault: the worker is killed (SIGKILL) in the middle of a COPY', () => {
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
    fs.writeFileSync(file, Array.from({ length: ROWS }, (_, i) => `{"id":"k${i}","ts":"2026-01-01T00:00:00Z","amount":${bad(i) ? '"bad"' : i % 1000},"note":"row ${i}"}\n`).join(''));
    const config = testConfig();
    const first = startWorker(db, config.taskQueues);
    children.push(first);
    await first.ready;

    const client = await SluiceClient.connect({ config, address: testTemporalAddress() });
    try {
      const result = client.ingestFile(ORDERS, { kind: 'file', path: file }, { format: 'ndjson', batchId: 'crash-batch' });
      result.catch(() => undefined); // awaited below

      // Kill once a chunk has committed while the next chunk's COPY is running.
      const committedAtKill = await pollUntil('a committed chunk and a running COPY', async () => {
        const { rows } = await db.pool.query<{ chunks: number; copying: number }>(
          `SELECT (SELECT count(*)::int FROM sluice.ingest_chunks WHERE batch_id = 'crash-batch') AS chunks,
                  (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY sluice.raw_events%') AS copying`,
        );
        const r = rows[0];
        return r && r.chunks >= 1 && r.copying >= 1 ? r.chunks : undefined;
      }, { intervalMs: 10 });
      first.child.kill('SIGKILL');
      await first.exit;
      expect(committedAtKill).toBeLessThan(ROWS / CHUNK_RECORDS);
      const rowsAtKill = (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM sluice.raw_events WHERE batch_id = 'crash-batch'")).rows[0]?.n ?? 0;
      expect(rowsAtKill).toBeLessThan(ROWS);

      const second = startWorker(db, config.taskQueues);
      children.push(second);
      await second.ready;
      const r = await result;
      expect(r).toMatchObject({ received: ROWS, accepted: ROWS - QUARANTINED, quarantined: QUARANTINED, duplicates: 0 });

      const { rows } = await db.pool.query<{ n: number; distinct_ids: number; q: number; chunk_records: string }>(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct_ids,
                (SELECT count(DISTINCT event_id)::int FROM sluice.quarantine) AS q,
                (SELECT sum(records)::text FROM sluice.ingest_chunks WHERE batch_id = 'crash-batch') AS chunk_records
           FROM sluice.raw_events WHERE source = $1`,
        [ORDERS],
      );
      expect((await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.quarantine')).rows[0]?.n).toBe(QUARANTINED);
      expect(rows[0]).toEqual({ n: ROWS - QUARANTINED, distinct_ids: ROWS - QUARANTINED, q: QUARANTINED, chunk_records: String(ROWS) });

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
