import { SluiceClient } from '../../client';
import type { RegisterTransformInput, TransformStatus } from '../../api';
import { dataLandedSignal, transformWorkflowId } from '../../api';
import { SluiceDataset, SluicePipeline, SluiceStep } from '../../api/searchAttributes';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { CLICKS_V1, transformTestHelpers } from '../helpers/transform';

describe('transforms: registration, incremental processing (real Temporal, real PostgreSQL)', () => {
  let stack: TestStack;
  let sluice: SluiceClient;

  const { land, waitFor, watermark, count, register } = transformTestHelpers(() => stack);

  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    sluice = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await stack?.client.workflow
      .getHandle(transformWorkflowId('clicks'))
      .terminate('test over')
      .catch((err: Error) => {
        if (!/not found/i.test(err.message)) throw err;
      });
    await sluice?.close();
    await stack?.close();
  });

  it('registers a version: stored with its sha256, table and view created, first version live; same SQL again is a no-op, other SQL a conflict', async () => {
    // Registration starts the incremental workflow with these options (it idles until data lands).
    const first = await sluice.registerTransform({
      name: 'clicks',
      version: 1,
      sources: ['clicks'],
      sql: CLICKS_V1,
      description: 'clicks, typed',
      incremental: { chunkRows: 700, idleSeconds: 2, historyLimit: 20 },
    });
    expect(first).toMatchObject({ name: 'clicks', version: 1, created: true, liveVersion: 1 });
    expect(first.sqlSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(first.columns).toEqual([
      { name: 'seq', type: 'bigint' },
      { name: 'user_id', type: 'text' },
      { name: 'n', type: 'integer' },
      { name: 'event_time', type: 'timestamp with time zone' },
    ]);
    const again = await register({
      name: 'clicks',
      version: 1,
      sources: ['clicks'],
      sql: CLICKS_V1,
      incremental: { chunkRows: 700, idleSeconds: 2, historyLimit: 20 },
    });
    expect(again).toMatchObject({ created: false, sqlSha256: first.sqlSha256 });
    await expect(register({ name: 'clicks', version: 1, sources: ['clicks'], sql: `${CLICKS_V1} AND true` })).rejects.toMatchObject({
      cause: { cause: { type: 'SLUICE_TRANSFORM_VERSION_CONFLICT', nonRetryable: true } },
    });
    const stored = await stack.db.pool.query('SELECT name, version, sources, sql_sha256 FROM sluice.transforms');
    expect(stored.rows).toEqual([{ name: 'clicks', version: 1, sources: ['clicks'], sql_sha256: first.sqlSha256 }]);
    expect(await count("SELECT count(*) AS c FROM pg_views WHERE schemaname = 'sluice_derived' AND viewname = 'clicks'")).toBe(1);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v1')).toBe(0);
    // A version never changes: the database refuses an UPDATE of the registry too.
    await expect(stack.db.pool.query("UPDATE sluice.transforms SET sql = 'SELECT 1' WHERE name = 'clicks'")).rejects.toThrow(
      /permission denied/,
    );
    await expect(stack.db.ownerPool().query("UPDATE sluice.transforms SET sql = 'SELECT 1' WHERE name = 'clicks'")).rejects.toThrow(
      /append-only/,
    );
  });

  it('refuses bad transforms with clear non-retryable errors and creates nothing', async () => {
    const cases: [string, Partial<RegisterTransformInput>, RegExp][] = [
      ['not a SELECT', { sql: 'DELETE FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /must be a SELECT/],
      ['a third parameter', { sql: 'SELECT seq FROM sluice.raw_events WHERE seq BETWEEN $1 AND $3' }, /only \$1 and \$2.*\$3/],
      [
        'two statements',
        { sql: 'SELECT seq FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2; DROP TABLE sluice.transforms' },
        /single statement/,
      ],
      ['does not plan', { sql: 'SELECT seq, nope FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /does not plan.*nope.*42703/],
      ['no seq column', { sql: 'SELECT payload FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /column "seq" of type bigint/],
      [
        'a writing CTE',
        { sql: 'WITH d AS (DELETE FROM sluice.run_events RETURNING id) SELECT id AS seq FROM d WHERE id BETWEEN $1 AND $2' },
        /does not plan/,
      ],
      ['a name outside the allow-list', { name: 'bad__name' }, /must not contain "__"/],
      ['an unnamed column', { sql: 'SELECT seq, seq + 1 FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /must be named/],
    ];
    const results = await Promise.allSettled(
      cases.map(([, patch], i) =>
        register({ name: `bad_${i}`, version: 1, sources: ['clicks'], sql: CLICKS_V1, ...patch }, `reg-bad-${i}-${Date.now()}`),
      ),
    );
    results.forEach((r, i) => {
      const [label, , message] = cases[i]!;
      expect({ label, status: r.status }).toEqual({ label, status: 'rejected' });
      const failure = (r as PromiseRejectedResult).reason as {
        cause?: { cause?: { type?: string; nonRetryable?: boolean; message?: string } };
      };
      expect({ label, type: failure.cause?.cause?.type, nonRetryable: failure.cause?.cause?.nonRetryable }).toEqual({
        label,
        type: 'SLUICE_INVALID_TRANSFORM',
        nonRetryable: true,
      });
      expect(failure.cause?.cause?.message).toMatch(message);
    });
    // The client's contract check catches a name outside the pattern before anything starts.
    await expect(sluice.registerTransform({ name: 'Bad-Name', version: 1, sources: ['clicks'], sql: CLICKS_V1 })).rejects.toThrow(
      /\/name: Expected string to match/,
    );
    expect(await count("SELECT count(*) AS c FROM sluice.transforms WHERE name <> 'clicks'")).toBe(0);
    expect(await count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_derived'")).toBe(1);
  });

  it('incremental: consumes landed data in chunks exactly once, wakes on dataLanded, catches up without a signal, records run events', async () => {
    const firstEnd = await land('clicks', 2_500);
    const handle = await sluice.notifyTransform(
      { transform: 'clicks', chunkRows: 700, idleSeconds: 2, historyLimit: 20 },
      { source: 'clicks', fromSeq: '1', toSeq: firstEnd, batchId: 'b1' },
    );
    await waitFor(
      'first batch',
      () => watermark('clicks', 1),
      (w) => w === firstEnd,
    );
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v1')).toBe(2_000);

    // Second batch with its signal (as ingestion sends it).
    const secondEnd = await land('clicks', 500);
    await stack.client.workflow.signalWithStart('transform', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: transformWorkflowId('clicks'),
      args: [{ transform: 'clicks', chunkRows: 700, idleSeconds: 2, historyLimit: 20 }],
      signal: dataLandedSignal,
      signalArgs: [{ source: 'clicks', fromSeq: String(Number(firstEnd) + 1), toSeq: secondEnd, batchId: 'b2' }],
    });
    await waitFor(
      'second batch',
      () => watermark('clicks', 1),
      (w) => w === secondEnd,
    );
    // Third batch with no signal at all: the idle timer catches up from the watermark.
    const thirdEnd = await land('clicks', 250);
    await waitFor(
      'unsignalled batch',
      () => watermark('clicks', 1),
      (w) => w === thirdEnd,
      20_000,
    );

    const rows = await stack.db.pool.query<{ c: string; d: string; noise: string }>(
      `SELECT count(*)::text AS c, count(DISTINCT seq)::text AS d,
              (SELECT count(*) FROM sluice_derived.clicks__v1 v JOIN sluice.raw_events e USING (seq) WHERE e.source <> 'clicks')::text AS noise
       FROM sluice_derived.clicks__v1`,
    );
    expect(rows.rows[0]).toEqual({ c: '2600', d: '2600', noise: '0' }); // 3,250 events, every 5th is noise
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks')).toBe(2_600); // the view

    const status = await handle.query<TransformStatus>('status');
    expect(status).toMatchObject({ transform: 'clicks', version: 'v1', watermark: thirdEnd, rowsWritten: 2_600, rowsRead: 2_600 });
    expect(status.signals).toBeGreaterThanOrEqual(2);
    // It continued as new (historyLimit 20) and carried its totals over; every history stayed small.
    expect(status.runs).toBeGreaterThanOrEqual(2);
    const lengths: number[] = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = "${transformWorkflowId('clicks')}"` })) {
      lengths.push((await stack.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()).events?.length ?? 0);
    }
    expect(lengths.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...lengths)).toBeLessThan(100);

    // Every chunk is in the chunk log (at most chunkRows source rows each); every run of chunks is a run event with its totals.
    const chunks = await stack.db.pool.query<{ rows_read: number; workflow_id: string }>(
      "SELECT rows_read::int, workflow_id FROM sluice.transform_chunks WHERE name = 'clicks' AND version = 1 ORDER BY id",
    );
    const reads = chunks.rows.map((r) => r.rows_read);
    expect(reads.reduce((a, b) => a + b, 0)).toBe(2_600);
    expect(Math.max(...reads)).toBeLessThanOrEqual(700);
    expect(reads.length).toBeGreaterThanOrEqual(5);
    expect(new Set(chunks.rows.map((r) => r.workflow_id))).toEqual(new Set([transformWorkflowId('clicks')]));
    expect(status.chunks).toBe(reads.length);
    const runs = await stack.db.pool.query<{
      counts: { chunks: number; rowsRead: number; rowsWritten: number };
      details: { fromSeq: string | null; toSeq: string | null };
    }>(
      "SELECT counts, details FROM sluice.run_events WHERE workflow_id = $1 AND step = 'runTransformChunks' AND status = 'completed' ORDER BY id",
      [transformWorkflowId('clicks')],
    );
    expect(runs.rows.reduce((a, r) => a + r.counts.rowsRead, 0)).toBe(2_600);
    expect(runs.rows.reduce((a, r) => a + r.counts.chunks, 0)).toBe(reads.length);
    expect(runs.rows.at(-1)?.details.toSeq).toBe(thirdEnd);
    expect(status.chunkRuns).toBeGreaterThanOrEqual(1);

    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(SluicePipeline)).toBe('clicks');
    expect(description.typedSearchAttributes.get(SluiceStep)).toBe('transform');
    expect(description.typedSearchAttributes.get(SluiceDataset)).toBe('clicks__v1');
  });
});
