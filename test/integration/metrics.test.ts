/**
 * The worker's Prometheus endpoint: events per source and result from ingestion, step durations,
 * rows and lag per transform, read back from GET /metrics of a real worker after real workflows;
 * and, in a worker process as users run it, the Temporal runtime's metrics on the same endpoint
 * and its log lines in JSON.
 */
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { ingestWorkflowId, transformWorkflowId } from '../../api';
import { freeLoopbackPort } from '../../workers/metricsServer';
import { createTestDatabase, startTestStack, testTemporalAddress, type TestDatabase, type TestStack } from '../helpers/env';
import { startTestCpuWorker, stopWorkerProcesses, type WorkerProcess } from '../helpers/workerProcess';

const SQL = `
  SELECT seq, payload->>'id' AS view_id, (payload->>'user_id')::bigint AS user_id
  FROM sluice.raw_events WHERE source = 'page_views' AND seq BETWEEN $1 AND $2`;

const view = (id: string, user: number) => ({
  id,
  ts: '2026-01-02T03:04:05Z',
  user_id: user,
  page: `/p/${id}`,
  duration_ms: 1200,
  country: 'DE',
});

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one series (name and labels exactly as rendered), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('worker metrics (GET /metrics)', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let url: string;
  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'], config: { metrics: { host: '127.0.0.1', port: 0 } } });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    url = stack.workers.metricsUrl as string;
  });
  afterAll(async () => {
    for (const id of [ingestWorkflowId('page_views'), transformWorkflowId('page_views_ids')]) {
      await stack?.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch((err: Error) => {
          if (!/not found|already completed/i.test(err.message)) throw err;
        });
    }
    await client?.close();
    await stack?.close();
  });

  it('counts events per source and result, step durations, transform rows and lag', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await client.registerTransform({ name: 'page_views_ids', version: 1, sources: ['page_views'], sql: SQL });
    expect(await client.ingest('page_views', [view('v1', 1), view('v2', 2), { id: 'broken' }])).toMatchObject({
      accepted: 2,
      quarantined: 1,
    });
    // v1 again: a duplicate; v2 with another payload: a conflicting duplicate (quarantined)
    expect(await client.ingest('page_views', [view('v3', 3), view('v1', 1), view('v2', 99)])).toMatchObject({
      accepted: 1,
      duplicates: 1,
      quarantined: 1,
      conflicting: 1,
    });
    let text = '';
    await pollUntil(
      'the transform to write the 3 accepted rows',
      async () => {
        text = await scrape(url);
        return sample(text, 'sluice_transform_rows_total{transform="page_views_ids",direction="written"}') === 3 ? true : undefined;
      },
      { timeoutMs: 60_000, lastSeen: () => text },
    );
    expect(sample(text, 'sluice_events_total{source="page_views",result="accepted"}')).toBe(3);
    expect(sample(text, 'sluice_events_total{source="page_views",result="quarantined"}')).toBe(2);
    expect(sample(text, 'sluice_events_total{source="page_views",result="duplicate"}')).toBe(1);
    expect(sample(text, 'sluice_events_total{source="page_views",result="conflicting"}')).toBe(1);
    expect(text).toContain('# TYPE sluice_step_duration_seconds histogram');
    expect(sample(text, 'sluice_step_duration_seconds_count{step="ingestEvents",outcome="completed"}')).toBe(2);
    expect(sample(text, 'sluice_step_duration_seconds_bucket{step="ingestEvents",outcome="completed",le="+Inf"}')).toBe(2);
    expect(sample(text, 'sluice_step_duration_seconds_sum{step="ingestEvents",outcome="completed"}')).toBeGreaterThan(0);
    expect(sample(text, 'sluice_transform_rows_total{transform="page_views_ids",direction="read"}')).toBe(3);
    // caught up: nothing left to process
    expect(sample(text, 'sluice_transform_lag_rows{transform="page_views_ids"}')).toBe(0);
    expect(sample(text, 'sluice_transform_lag_seconds{transform="page_views_ids"}')).toBe(0);

    // The transform stands still (no new data lands): moving its watermark back leaves the 3 rows unprocessed.
    // First it must be done with every landing it was told of (a second dataLanded may still start a
    // run after the rows are written, which would process them again).
    await pollUntil('the transform to be idle', async () => {
      const st = await client.transformStatus('page_views_ids');
      return st.state === 'idle' && st.chunksInFlight === 0 && st.watermark === st.lastLandedSeq ? true : undefined;
    });
    await stack.db.pool.query("UPDATE sluice.watermarks SET last_seq = 0 WHERE name = 'page_views_ids'");
    await new Promise((r) => setTimeout(r, 1100));
    text = await scrape(url);
    expect(sample(text, 'sluice_transform_lag_rows{transform="page_views_ids"}')).toBe(3);
    expect(sample(text, 'sluice_transform_lag_seconds{transform="page_views_ids"}')).toBeGreaterThanOrEqual(1);
  });

  it('answers 404 elsewhere', async () => {
    const res = await fetch(url.replace(/\/metrics$/, '/'));
    expect(res.status).toBe(404);
  });
});

describe('a worker process (workers/cpu.ts) with SLUICE_METRICS_PORT', () => {
  let worker: WorkerProcess | undefined;
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    if (worker) await stopWorkerProcesses([worker]);
    await db?.drop();
  });

  it("serves the Temporal runtime's metrics with sluice's, and logs one JSON object a line", async () => {
    const port = await freeLoopbackPort();
    const queue = `metrics-${Date.now()}`;
    worker = await startTestCpuWorker(db.url, queue, { SLUICE_METRICS_PORT: String(port), SLUICE_LOG_FORMAT: 'json' });
    const url = `http://127.0.0.1:${port}/metrics`;
    let text = '';
    // the runtime's exporter has its worker series once the worker polls
    await pollUntil(
      "the Temporal runtime's worker metrics",
      async () => {
        text = await scrape(url);
        return /^temporal_worker_task_slots_available\{/m.test(text) ? true : undefined;
      },
      { timeoutMs: 30_000, lastSeen: () => text.slice(0, 3000) },
    );
    expect(sample(text, 'sluice_temporal_metrics_up')).toBe(1);
    expect(text).toContain('# TYPE sluice_step_duration_seconds histogram');
    expect(text).toMatch(new RegExp(`^temporal_worker_task_slots_available\\{[^}]*task_queue="${queue}"`, 'm'));

    const lines = worker
      .output()
      .split('\n')
      .filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    const ready = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /cpu worker ready/.test(String(l.message)));
    expect(ready).toMatchObject({ level: 'INFO', time: expect.any(String) });
  });
});
