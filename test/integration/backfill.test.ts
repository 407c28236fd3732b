import { SluiceClient } from '../../client';
import { recordHistoryIfAsked } from '../helpers/histories';
import { contentHash } from '../../activities/transform';
import { derivedTable } from '../../activities/transform/sqlText';
import type { BackfillInput, BackfillProgress, BackfillResult } from '../../api';
import { dataLandedSignal, transformWorkflowId } from '../../api';
import { SluiceDataset, SluiceStatus } from '../../api/searchAttributes';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { CLICKS_V1, CLICKS_V2, failureChain, transformTestHelpers } from '../helpers/transform';

describe('backfill: rebuild a transform version from any log range, check determinism, switch atomically (real Temporal, real PostgreSQL)', () => {
  let stack: TestStack;
  let sluice: SluiceClient;

  const { land, waitFor, watermark, count, runBackfill } = transformTestHelpers(() => stack);

  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    sluice = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    // What a backfill starts from: clicks v1 live, and 3,250 events (2,600 clicks) consumed by the
    // incremental workflow in three batches, which keeps running (the v2 test signals it).
    await sluice.registerTransform({
      name: 'clicks',
      version: 1,
      sources: ['clicks'],
      sql: CLICKS_V1,
      incremental: { chunkRows: 700, idleSeconds: 2, historyLimit: 20 },
    });
    await land('clicks', 2_500);
    await land('clicks', 500);
    const end = await land('clicks', 250);
    await sluice.notifyTransform(
      { transform: 'clicks', chunkRows: 700, idleSeconds: 2, historyLimit: 20 },
      { source: 'clicks', fromSeq: '1', toSeq: end, batchId: 'b1' },
    );
    await waitFor(
      'the incremental build of v1',
      () => watermark('clicks', 1),
      (w) => w === end,
    );
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

  it('backfill of the same range and version gives the same sha256 as the incremental table and as itself, with progress and several runs', async () => {
    const end = await watermark('clicks', 1);
    const incremental = await contentHash(stack.db.pool, derivedTable('clicks', 1));
    expect(incremental.rows).toBe(2_600);

    // A consumer's view on the transform's view survives the switch (same columns: repointed in place).
    await stack.db.ownerPool().query('CREATE VIEW sluice_reference.clicks_users AS SELECT DISTINCT user_id FROM sluice_derived.clicks');
    const h1 = await runBackfill({
      transform: 'clicks',
      version: 1,
      fromSeq: '1',
      toSeq: end,
      rangeSeqs: 400,
      chunkRows: 150,
      parallelism: 3,
      childrenPerRun: 3,
    });
    const r1 = (await h1.result()) as BackfillResult;
    await recordHistoryIfAsked(stack.client, `${h1.workflowId}-r0`, 'backfillRange');
    expect(r1).toMatchObject({
      version: 1,
      fromSeq: '1',
      toSeq: end,
      rows: 2_600,
      rowsRead: 2_600,
      rowsWritten: 2_600,
      switched: true,
      ranges: 9,
      runs: 3,
    });
    expect(r1.sha256).toBe(incremental.sha256);
    expect(await count('SELECT count(*) AS c FROM sluice_reference.clicks_users')).toBe(7);
    await stack.db.ownerPool().query('DROP VIEW sluice_reference.clicks_users');
    const progress = await h1.query<BackfillProgress>('progress');
    expect(progress).toMatchObject({ phase: 'done', rangesTotal: 9, rangesDone: 9, rowsWritten: 2_600, runs: 3 });

    // Same range, same version, other chunking and parallelism: the same bytes.
    const h2 = await runBackfill({
      transform: 'clicks',
      version: 1,
      fromSeq: '1',
      toSeq: end,
      rangeSeqs: 5_000,
      chunkRows: 1_000,
      parallelism: 1,
    });
    const r2 = (await h2.result()) as BackfillResult;
    expect(r2.sha256).toBe(r1.sha256);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks')).toBe(2_600);
    expect(await count("SELECT count(*) AS c FROM sluice.transform_builds WHERE name = 'clicks' AND version = 1")).toBe(2);

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
    expect((await stack.db.pool.query('SELECT version FROM sluice.transform_live WHERE name = $1', ['clicks'])).rows).toEqual([
      { version: 2 },
    ]);
    const view = await stack.db.pool.query<{ tags: string }>(
      "SELECT string_agg(tag, '' ORDER BY tag) AS tags FROM sluice_derived.clicks WHERE seq = (SELECT min(seq) FROM sluice_derived.clicks)",
    );
    expect(view.rows[0]?.tags).toBe('abc');

    const end = await land('clicks', 100);
    await stack.client.workflow
      .getHandle(transformWorkflowId('clicks'))
      .signal(dataLandedSignal, { source: 'clicks', fromSeq: '1', toSeq: end, batchId: 'b4' });
    await waitFor(
      'v2 follows',
      () => watermark('clicks', 2),
      (w) => w === end,
    );
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v2')).toBe(7_800 + 80 * 3);
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks__v1')).toBe(2_600);
  });

  it('a cancelled backfill drops its half-built table', async () => {
    const builds = () => count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_build'");
    const before = await builds();
    // Small chunks, one range at a time: it runs long enough to be cancelled in the middle.
    const h = await runBackfill(
      { transform: 'clicks', version: 1, rangeSeqs: 200, chunkRows: 20, parallelism: 1 },
      `cancelled-${Date.now()}`,
    );
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
      [
        { transform: 'clicks', fromSeq: '1', toSeq: String(BigInt(head) + 1000n) },
        'SLUICE_INVALID_RANGE',
        /past the end of the committed log/,
      ],
      // Switching in a build of [2, head] would drop the version's rows of seq 1.
      [{ transform: 'clicks', fromSeq: '2' }, 'SLUICE_INVALID_RANGE', /rows before seq 2 would be lost/],
    ];
    for (const [input, type, message] of cases) {
      const h = await runBackfill(input, `bad-backfill-${type}-${Date.now()}`);
      await expect(h.result()).rejects.toMatchObject({
        cause: { cause: { type, nonRetryable: true, message: expect.stringMatching(message) } },
      });
    }
    await expect(sluice.backfill({ transform: 'clicks', fromSeq: '0' })).rejects.toThrow(/\/fromSeq: Expected string to match/);
    // A partial range without the switch is built and hashed; the live table keeps its rows.
    const liveRows = await count('SELECT count(*) AS c FROM sluice_derived.clicks');
    const partial = await runBackfill({ transform: 'clicks', fromSeq: '2', switchView: false }, `partial-${Date.now()}`);
    await expect(partial.result()).resolves.toMatchObject({ fromSeq: '2', switched: false });
    expect(await count('SELECT count(*) AS c FROM sluice_derived.clicks')).toBe(liveRows);
    // The incremental workflow of a transform that does not exist fails at once, non-retryably.
    const unknown = await sluice.notifyTransform({ transform: 'nosuch' });
    const failure = await unknown.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failureChain(failure)).toContainEqual(expect.objectContaining({ type: 'SLUICE_UNKNOWN_TRANSFORM', nonRetryable: true }));
    expect(await count("SELECT count(*) AS c FROM pg_tables WHERE schemaname = 'sluice_build'")).toBe(0);
    expect(await count("SELECT count(*) AS c FROM sluice.transforms WHERE name = 'nosuch'")).toBe(0);
  });
});
