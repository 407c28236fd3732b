/**
 * End to end: events ingested through the `ingest` workflow land in the log, ingestion signals the
 * `transform` workflow of every transform reading that source, and the derived table follows.
 */
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { ingestWorkflowId, transformWorkflowId } from '../../api';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

const SQL = `
  SELECT seq, payload->>'id' AS view_id, (payload->>'user_id')::bigint AS user_id, payload->>'page' AS page,
         (payload->>'duration_ms')::int AS duration_ms, payload->>'country' AS country
  FROM sluice.raw_events WHERE source = 'page_views' AND seq BETWEEN $1 AND $2`;

describe('ingest → dataLanded → transform', () => {
  let stack: TestStack;
  let client: SluiceClient;
  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    for (const id of [ingestWorkflowId('page_views'), transformWorkflowId('page_views_typed'), transformWorkflowId('page_views_late')]) {
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

  it('the derived table holds exactly the accepted events after each batch', async () => {
    await client.registerTransform({ name: 'page_views_typed', version: 1, sources: ['page_views'], sql: SQL });
    const view = (id: string, user: number) => ({
      id,
      ts: '2026-01-02T03:04:05Z',
      user_id: user,
      page: `/p/${id}`,
      duration_ms: 1200,
      country: 'DE',
    });
    const rowsIn = async (): Promise<string[]> =>
      (await stack.db.pool.query<{ view_id: string }>('SELECT view_id FROM sluice_derived.page_views_typed ORDER BY seq')).rows.map(
        (r) => r.view_id,
      );
    const waitForRows = async (expected: string[]): Promise<void> => {
      let rows: string[] = [];
      await pollUntil(
        `derived rows ${JSON.stringify(expected)}`,
        async () => {
          rows = await rowsIn();
          return JSON.stringify(rows) === JSON.stringify(expected) ? true : undefined;
        },
        { lastSeen: () => `the derived table has ${JSON.stringify(rows)}` },
      );
    };

    const first = await client.ingest('page_views', [view('v1', 1), view('v2', 2), { id: 'broken' }]);
    expect(first).toMatchObject({ accepted: 2, quarantined: 1 });
    await waitForRows(['v1', 'v2']);

    const second = await client.ingest('page_views', [view('v3', 3), view('v1', 1)]); // v1 again: a duplicate, not a new row
    expect(second).toMatchObject({ accepted: 1, duplicates: 1 });
    await waitForRows(['v1', 'v2', 'v3']);
  });

  it('a transform registered after its data landed catches up on its own (registration starts its workflow)', async () => {
    const late = await client.ingest('page_views', [
      { id: 'late-1', ts: '2026-01-03T00:00:00Z', user_id: 9, page: '/late', duration_ms: 10, country: 'FR' },
    ]);
    expect(late.accepted).toBe(1);
    // No dataLanded will come for what is already in the log: registration alone must start the work.
    await client.registerTransform({ name: 'page_views_late', version: 1, sources: ['page_views'], sql: SQL });
    const { rows } = await stack.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'page_views'",
    );
    const inLog = rows[0]?.n ?? 0;
    expect(inLog).toBeGreaterThan(0);
    const status = await pollUntil(
      'page_views_late to catch up',
      async () => {
        const s = await client.transformStatus('page_views_late').catch(() => undefined);
        return s && s.state === 'idle' && s.rowsWritten === inLog ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(status).toMatchObject({ transform: 'page_views_late', version: 'v1', rowsWritten: inLog });
    const derived = await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice_derived.page_views_late');
    expect(derived.rows[0]?.n).toBe(inLog);
  });
});
