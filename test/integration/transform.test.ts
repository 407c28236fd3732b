import type { WorkflowHandle } from '@temporalio/client';
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { notifyTransform } from '../../client/transform';
import { contentHash } from '../../activities/transform';
import { derivedTable } from '../../activities/transform/sqlText';
import type { BackfillInput, BackfillProgress, BackfillResult, RegisterTransformInput, RegisterTransformResult, TransformStatus } from '../../workflows';
import { dataLandedSignal, transformWorkflowId } from '../../workflows/events';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../../workflows/searchAttributes';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

/** Row-level transform: one output row per `clicks` event. */
const CLICKS_V1 = `
  SELECT seq, payload->>'user' AS user_id, (payload->>'n')::int AS n, event_time
  FROM sluice.raw_events
  WHERE source = 'clicks' AND seq BETWEEN $1 AND $2`;
/** Flattening transform: one row per tag, so several rows share a seq (the hash must not depend on their order). */
const CLICKS_V2 = `
  SELECT e.seq, e.payload->>'user' AS user_id, t.tag, (e.payload->>'n')::int * 10 AS n10
  FROM sluice.raw_events e CROSS JOIN LATERAL jsonb_array_elements_text(e.payload->'tags') AS t(tag)
  WHERE e.source = 'clicks' AND e.seq BETWEEN $1 AND $2`;

/** The failure and its causes, outermost first. */
function failureChain(err: unknown): { type?: string; nonRetryable?: boolean; message?: string }[] {
  const chain: { type?: string; nonRetryable?: boolean; message?: string }[] = [];
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as { cause?: unknown } | undefined) chain.push(e as never);
  return chain;
}

describe('transforms: registration, incremental processing, backfill (real Temporal, real PostgreSQL)', () => {
  let stack: TestStack;
  let sluice: SluiceClient;
  let n = 0;

  /** Appends `count` events of `source` to the log (interleaved with a noise source) and returns the last seq. */
  async function land(source: string, count: number): Promise<string> {
    const r = await stack.db.pool.query<{ max: string }>(
      `WITH ins AS (
         INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
         SELECT CASE WHEN g % 5 = 0 THEN 'noise' ELSE $1 END, $1 || '-' || ($2::int + g), timestamptz '2026-01-01' + g * interval '1 second',
                'clicks', '1.0.0', jsonb_build_object('user', 'u' || (g % 7), 'n', $2::int + g, 'tags', jsonb_build_array('b', 'a', 'c')), 'batch'
         FROM generate_series(1, $3::int) g
         RETURNING seq)
       SELECT max(seq)::text AS max FROM ins`,
      [source, n, count],
    );
    n += count;
    return r.rows[0]?.max ?? '0';
  }

  async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
    let last: T | undefined;
    return pollUntil(what, async () => {
      last = await probe();
      return ok(last) ? last : undefined;
    }, { timeoutMs, lastSeen: () => `last value ${JSON.stringify(last)}` });
  }

  const watermark = async (name: string, version: number): Promise<string> =>
    (await stack.db.pool.query<{ s: string }>('SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = $1 AND version = $2', [name, version])).rows[0]?.s ?? '';

  const count = async (sql: string): Promise<number> => Number((await stack.db.pool.query<{ c: string }>(sql)).rows[0]?.c);

  const register = (input: RegisterTransformInput, id = `reg-${input.name}-${input.version}-${Date.now()}`): Promise<RegisterTransformResult> =>
    stack.client.workflow.execute('registerTransform', { taskQueue: stack.config.taskQueues.cpu, workflowId: id, args: [input] });

  const runBackfill = (input: BackfillInput, workflowId = `backfill-${input.transform}-${Date.now()}`): Promise<WorkflowHandle> =>
    stack.client.workflow.start('backfill', { taskQueue: stack.config.taskQueues.cpu, workflowId, args: [input] });

  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    sluice = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await stack?.client.workflow.getHandle(transformWorkflowId('clicks')).terminate('test over').catch((err: Error) => {
      if (!/not found/i.test(err.message)) throw err;
    });
    await sluice?.close();
    await stack?.close();
  });

  it('registers a version: stored with its sha256, table and view created, first version live; same SQL again is a no-op, other SQL a conflict', async () => {
    const first = await sluice.registerTransform({ name: 'clicks', version: 1, sources: ['clicks'], sql: CLICKS_V1, description: 'clicks, typed' });
    expect(first).toMatchObject({ name: 'clicks', version: 1, created: true, liveVersion: 1 });
    expect(first.sqlSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(first.columns).toEqual([
      { name: 'seq', type: 'bigint' }, { name: 'user_id', type: 'text' }, { name: 'n', type: 'integer' }, { name: 'event_time', type: 'timestamp with time zone' },
    ]);
    const again = await register({ name: 'clicks', version: 1, sources: ['clicks'], sql: CLICKS_V1 });
    expect(again).toMatchObject({ created: false, sqlSha256: first.sqlSha256 });
    await expect(register({ name: 'clicks', version: 1, sources: ['clicks'], sql: `${CLICKS_V1} AND true` })).rejects.toMatchObject({
      cause: { cause: { type: 'SLUICE_TRANSFORM_VERSION_CONFLICT', nonRetryable: true } },
    });
    const stored = await stack.db.pool.query('SELECT name, version, sources, sql_sha256 FROM sluice.transforms');
    expect(stored.rows).toEqual([{ name: 'clicks', version: 1, sources: ['clicks'], sql_sha256: first.sqlSha256 }]);
    expect(await count("SELECT count(*) AS c FROM pg_views WHERE schemaname = 'sluice_derived' AND viewname = 'clicks'")).toBe(1);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v1')).toBe(0);
    // A version never changes: the database refuses an UPDATE of the registry too.
    await expect(stack.db.pool.query("UPDATE sluice.transforms SET sql = 'SELECT 1' WHERE name = 'clicks'")).rejects.toThrow(/append-only/);
  });

  it('refuses bad transforms with clear non-retryable errors and creates nothing', async () => {
    const cases: [string, Partial<RegisterTransformInput>, RegExp][] = [
      ['not a SELECT', { sql: 'DELETE FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /must be a SELECT/],
      ['a third parameter', { sql: 'SELECT seq FROM sluice.raw_events WHERE seq BETWEEN $1 AND $3' }, /only \$1 and \$2.*\$3/],
      ['two statements', { sql: 'SELECT seq FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2; DROP TABLE sluice.transforms' }, /single statement/],
      ['does not plan', { sql: 'SELECT seq, nope FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /does not plan.*nope.*42703/],
      ['no seq column', { sql: 'SELECT payload FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /column "seq" of type bigint/],
      ['a writing CTE', { sql: 'WITH d AS (DELETE FROM sluice.run_events RETURNING id) SELECT id AS seq FROM d WHERE id BETWEEN $1 AND $2' }, /does not plan/],
      ['a name outside the allow-list', { name: 'bad__name' }, /must not contain "__"/],
      ['an unnamed column', { sql: 'SELECT seq, seq + 1 FROM sluice.raw_events WHERE seq BETWEEN $1 AND $2' }, /must be named/],
    ];
    const results = await Promise.allSettled(cases.map(([, patch], i) =>
      register({ name: `bad_${i}`, version: 1, sources: ['clicks'], sql: CLICKS_V1, ...patch }, `reg-bad-${i}-${Date.now()}`)));
    results.forEach((r, i) => {
      const [label, , message] = cases[i]!;
      expect({ label, status: r.status }).toEqual({ label, status: 'rejected' });
      const failure = (r as PromiseRejectedResult).reason as { cause?: { cause?: { type?: string; nonRetryable?: boolean; message?: string } } };
      expect({ label, type: failure.cause?.cause?.type, nonRetryable: failure.cause?.cause?.nonRetryable }).toEqual({ label, type: 'SLUICE_INVALID_TRANSFORM', nonRetryable: true });
      expect(failure.cause?.cause?.message).toMatch(message);
    });
    // The client's contract check catches a name outside the pattern before anything starts.
    await expect(sluice.registerTransform({ name: 'Bad-Name', version: 1, sources: ['clicks'], sql: CLICKS_V1 })).rejects.toThrow(/\/name must match pattern/);
    expect(await count("SELECT count(*) AS c FROM sluice.transforms WHERE name <> 'clicks'")).toBe(0);
    expect(await count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_derived'")).toBe(1);
  });

  it('incremental: consumes landed data in chunks exactly once, wakes on dataLanded, catches up without a signal, records run events', async () => {
    const firstEnd = await land('clicks', 2_500);
    const handle = await notifyTransform(sluice, { transform: 'clicks', chunkRows: 700, idleSeconds: 2, historyLimit: 20 }, { source: 'clicks', fromSeq: '1', toSeq: firstEnd, batchId: 'b1' });
    await waitFor('first batch', () => watermark('clicks', 1), (w) => w === firstEnd);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v1')).toBe(2_000);

    // Second batch with its signal (as ingestion sends it).
    const secondEnd = await land('clicks', 500);
    await stack.client.workflow.signalWithStart('transform', {
      taskQueue: stack.config.taskQueues.cpu, workflowId: transformWorkflowId('clicks'), args: [{ transform: 'clicks', chunkRows: 700, idleSeconds: 2, historyLimit: 20 }],
      signal: dataLandedSignal, signalArgs: [{ source: 'clicks', fromSeq: String(Number(firstEnd) + 1), toSeq: secondEnd, batchId: 'b2' }],
    });
    await waitFor('second batch', () => watermark('clicks', 1), (w) => w === secondEnd);
    // Third batch with no signal at all: the idle timer catches up from the watermark.
    const thirdEnd = await land('clicks', 250);
    await waitFor('unsignalled batch', () => watermark('clicks', 1), (w) => w === thirdEnd, 20_000);

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
    const runs = await stack.db.pool.query<{ counts: { chunks: number; rowsRead: number; rowsWritten: number }; details: { fromSeq: string | null; toSeq: string | null } }>(
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

  it('backfill of the same range and version gives the same sha256 as the incremental table and as itself, with progress and several runs', async () => {
    const end = await watermark('clicks', 1);
    const incremental = await contentHash(stack.db.pool, derivedTable('clicks', 1));
    expect(incremental.rows).toBe(2_600);

    // A consumer's view on the transform's view survives the switch (same columns: repointed in place).
    await stack.db.pool.query('CREATE VIEW public.clicks_users AS SELECT DISTINCT user_id FROM sluice_derived.clicks');
    const h1 = await runBackfill({ transform: 'clicks', version: 1, fromSeq: '1', toSeq: end, rangeSeqs: 400, chunkRows: 150, parallelism: 3, childrenPerRun: 3 });
    const r1 = (await h1.result()) as BackfillResult;
    expect(r1).toMatchObject({ version: 1, fromSeq: '1', toSeq: end, rows: 2_600, rowsRead: 2_600, rowsWritten: 2_600, switched: true, ranges: 9, runs: 3 });
    expect(r1.sha256).toBe(incremental.sha256);
    expect(await count('SELECT count(*) AS c FROM public.clicks_users')).toBe(7);
    await stack.db.pool.query('DROP VIEW public.clicks_users');
    const progress = await h1.query<BackfillProgress>('progress');
    expect(progress).toMatchObject({ phase: 'done', rangesTotal: 9, rangesDone: 9, rowsWritten: 2_600, runs: 3 });

    // Same range, same version, other chunking and parallelism: the same bytes.
    const h2 = await runBackfill({ transform: 'clicks', version: 1, fromSeq: '1', toSeq: end, rangeSeqs: 5_000, chunkRows: 1_000, parallelism: 1 });
    const r2 = (await h2.result()) as BackfillResult;
    expect(r2.sha256).toBe(r1.sha256);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks')).toBe(2_600);
    expect(await count('SELECT count(*) AS c FROM sluice.transform_builds WHERE name = \'clicks\' AND version = 1')).toBe(2);

    // A rebuild that does not match the hash it must have is refused: no switch, no leftovers.
    const h3 = await runBackfill({ transform: 'clicks', version: 1, fromSeq: '1', toSeq: end, expectedSha256: '0'.repeat(64) });
    await expect(h3.result()).rejects.toMatchObject({ cause: { cause: { type: 'SLUICE_NOT_DETERMINISTIC', nonRetryable: true } } });
    expect(await count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_build'")).toBe(0);
    expect((await h3.describe()).typedSearchAttributes.get(SluiceStatus)).toBe('failed');

    // Every chunk of every build was recorded as a run event with its counts.
    const chunkEvents = await count(
      "SELECT count(*) AS c FROM sluice.run_events WHERE step = 'buildTransformChunk' AND status = 'completed' AND workflow_type = 'backfillRange' AND (counts->>'rowsWritten') IS NOT NULL",
    );
    expect(chunkEvents).toBeGreaterThanOrEqual(9 + 1);
  });

  it('version 2 (new SQL) is rebuilt by backfill and switched in atomically; the incremental workflow then follows it', async () => {
    const registered = await sluice.registerTransform({ name: 'clicks', version: 2, sources: ['clicks'], sql: CLICKS_V2 });
    expect(registered).toMatchObject({ created: true, liveVersion: 1 });
    const handle = await sluice.backfill({ transform: 'clicks', rangeSeqs: 1_000, chunkRows: 500 });
    const result = (await handle.result()) as BackfillResult;
    expect(result).toMatchObject({ version: 2, rows: 7_800, switched: true });
    expect((await handle.describe()).typedSearchAttributes.get(SluiceDataset)).toBe('clicks__v2');
    expect((await stack.db.pool.query('SELECT version FROM sluice.transform_live WHERE name = $1', ['clicks'])).rows).toEqual([{ version: 2 }]);
    const view = await stack.db.pool.query<{ tags: string }>("SELECT string_agg(tag, '' ORDER BY tag) AS tags FROM sluice_derived.clicks WHERE seq = (SELECT min(seq) FROM sluice_derived.clicks)");
    expect(view.rows[0]?.tags).toBe('abc');

    const end = await land('clicks', 100);
    await stack.client.workflow.getHandle(transformWorkflowId('clicks')).signal(dataLandedSignal, { source: 'clicks', fromSeq: '1', toSeq: end, batchId: 'b4' });
    await waitFor('v2 follows', () => watermark('clicks', 2), (w) => w === end);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v2')).toBe(7_800 + 80 * 3);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v1')).toBe(2_600);
  });

  it('a cancelled backfill drops its half-built table', async () => {
    const builds = () => count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_build'");
    const before = await builds();
    // Small chunks, one range at a time: it runs long enough to be cancelled in the middle.
    const h = await runBackfill({ transform: 'clicks', version: 1, rangeSeqs: 200, chunkRows: 20, parallelism: 1 }, `cancelled-${Date.now()}`);
    await waitFor('the build to start', builds, (n) => n > before);
    await h.cancel();
    await expect(h.result()).rejects.toThrow();
    await waitFor('the build table to be dropped', builds, (n) => n === before);
  });

  it('refuses bad backfills with clear errors and leaves nothing behind', async () => {
    const head = await watermark('clicks', 2);
    const cases: [BackfillInput, string, RegExp][] = [
      [{ transform: 'nosuch' }, 'SLUICE_UNKNOWN_TRANSFORM', /unknown transform nosuch/],
      [{ transform: 'clicks', version: 9 }, 'SLUICE_UNKNOWN_TRANSFORM', /version 9/],
      [{ transform: 'clicks', fromSeq: '50', toSeq: '10' }, 'SLUICE_INVALID_RANGE', /fromSeq 50 is after toSeq 10/],
      [{ transform: 'clicks', fromSeq: '1', toSeq: String(BigInt(head) + 1000n) }, 'SLUICE_INVALID_RANGE', /past the end of the committed log/],
      // Switching in a build of [2, head] would drop the version's rows of seq 1.
      [{ transform: 'clicks', fromSeq: '2' }, 'SLUICE_INVALID_RANGE', /rows before seq 2 would be lost/],
    ];
    for (const [input, type, message] of cases) {
      const h = await runBackfill(input, `bad-backfill-${type}-${Date.now()}`);
      await expect(h.result()).rejects.toMatchObject({ cause: { cause: { type, nonRetryable: true, message: expect.stringMatching(message) } } });
    }
    await expect(sluice.backfill({ transform: 'clicks', fromSeq: '0' })).rejects.toThrow(/\/fromSeq must match pattern/);
    // A partial range without the switch is built and hashed; the live table keeps its rows.
    const liveRows = await count('SELECT count(*) AS c FROM sluice_derived.clicks');
    const partial = await runBackfill({ transform: 'clicks', fromSeq: '2', switchView: false }, `partial-${Date.now()}`);
    await expect(partial.result()).resolves.toMatchObject({ fromSeq: '2', switched: false });
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks')).toBe(liveRows);
    // The incremental workflow of a transform that does not exist fails at once, non-retryably.
    const unknown = await notifyTransform(sluice, { transform: 'nosuch' });
    const failure = await unknown.result().then(() => undefined, (err: unknown) => err);
    expect(failureChain(failure)).toContainEqual(expect.objectContaining({ type: 'SLUICE_UNKNOWN_TRANSFORM', nonRetryable: true }));
    expect(await count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_build'")).toBe(0);
    expect(await count("SELECT count(*) AS c FROM sluice.transforms WHERE name = 'nosuch'")).toBe(0);
  });
});
