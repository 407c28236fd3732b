// SIGTERM while an activity runs: the worker stops polling, lets the activity finish (no retry,
// no second attempt), and exits 0; a new worker finishes the workflow.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { writePageViews } from '../../scripts/demo/sampleData';
import { startWorkerProcess } from '../helpers/workerProcess';
import { createTestDatabase, createTestNamespace, testConfig, testTemporalAddress, type TestDatabase } from '../helpers/env';

describe('graceful shutdown', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a running activity finishes in its first attempt after SIGTERM, and nothing is lost', async () => {
    const connection = await Connection.connect({ address: testTemporalAddress() });
    const namespace = await createTestNamespace(connection);
    const config = testConfig();
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_NAMESPACE: namespace,
      DATABASE_URL: db.url,
      SLUICE_TASK_QUEUE_CPU: config.taskQueues.cpu,
      SLUICE_TASK_QUEUE_GPU: config.taskQueues.gpu,
      SLUICE_SHUTDOWN_GRACE_SECONDS: '120',
    };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sd-')), 'views.ndjson');
    const planted = writePageViews(file, 80_000);

    const first = startWorkerProcess('workers/cpu.ts', env);
    await first.ready;
    const client = await SluiceClient.connect({ config: { ...config, temporal: { ...config.temporal, namespace } }, connection });
    const result = client.ingestFile('page_views', { kind: 'file', path: file }, { format: 'ndjson', batchId: 'shutdown-1' });
    result.catch(() => undefined); // awaited below; keep an early rejection from being unhandled

    // wait until the file activity is running, then stop the worker
    await pollUntil(
      'ingestFile to start',
      async () =>
        (await db.pool.query("SELECT 1 FROM sluice.run_events WHERE step = 'ingestFile' AND status = 'started'")).rowCount
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 50, lastSeen: () => `the worker printed:\n${first.output()}` },
    );
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
    expect(first.output()).toMatch(/SIGTERM received: finishing running activities/);
    const events = await db.pool.query<{ status: string; attempt: number }>(
      "SELECT status, attempt FROM sluice.run_events WHERE step = 'ingestFile' ORDER BY id",
    );
    expect(events.rows).toEqual([
      { status: 'started', attempt: 1 },
      { status: 'completed', attempt: 1 },
    ]);

    // the workflow needs a worker to take the activity's result; a new one finishes it
    const second = startWorkerProcess('workers/cpu.ts', env);
    await second.ready;
    try {
      const counts = await result;
      expect(counts.received).toBe(planted.lines);
      expect(counts.received).toBe(counts.accepted + counts.quarantined + counts.duplicates);
      const rows = await db.pool.query<{ n: number }>(
        'SELECT (SELECT count(*) FROM sluice.raw_events)::int + (SELECT count(*) FROM sluice.quarantine)::int AS n',
      );
      expect(rows.rows[0]!.n).toBe(counts.accepted + counts.quarantined);
    } finally {
      second.child.kill('SIGTERM');
      await second.exit;
      await connection.close();
    }
    const after = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM sluice.run_events WHERE step = 'ingestFile' AND status = 'started'",
    );
    expect(after.rows[0]!.n).toBe(1);
  });
});
