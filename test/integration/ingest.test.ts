import { SluiceClient, IngestBatchTooLargeError } from '../../client';
import { pollUntil } from '../../client/poll';
import { recordHistoryIfAsked } from '../helpers/histories';
import { ingestWorkflowId, transformWorkflowId } from '../../api';
import { ingestBatchSignal, ingestBatchUpdate, ingestStatusQuery } from '../../api';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { countRows, expectBalanced, logRows, quarantineRows } from '../helpers/ingest';

const ORDERS = 'ingest_test_orders';
const order = (id: string, amount: number, ts = '2026-01-02T03:04:05Z') => ({ id, ts, amount });

describe('ingest workflow: inline batches on real workers, Temporal and PostgreSQL', () => {
  let stack: TestStack;
  let client: SluiceClient;
  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    // The long-lived ingest workflows would otherwise outlive the test's task queue.
    for (const source of [ORDERS, 'ingest_test_anon', 'no_such_source']) {
      await stack?.client.workflow
        .getHandle(ingestWorkflowId(source))
        .terminate('test over')
        .catch(() => undefined);
    }
    await stack?.client.workflow
      .getHandle(transformWorkflowId('ingest_test_orders_daily'))
      .terminate('test over')
      .catch(() => undefined);
    await client?.close();
    await stack?.close();
  });

  it('appends valid events, quarantines invalid ones with a reason, counts duplicates, and balances exactly', async () => {
    const r1 = await client.ingest(ORDERS, [
      order('a1', 10),
      order('a2', 20, '2025-12-31T23:59:59Z'), // older event time after a newer one: accepted in arrival order
      order('a1', 10), // duplicate inside the batch
      { id: 'a3', ts: '2026-01-02T03:04:05Z', amount: 'ten' }, // wrong type
      { id: 'a4', ts: '2026-01-02T03:04:05Z' }, // missing required field
    ]);
    expect(r1).toMatchObject({
      source: ORDERS,
      contract: ORDERS,
      contractVersion: '1.1.0',
      received: 5,
      accepted: 2,
      quarantined: 2,
      duplicates: 1,
    });
    expectBalanced(r1);
    expect(Number(r1.toSeq) - Number(r1.fromSeq)).toBe(1);

    const log = await logRows(stack.db.pool, ORDERS);
    expect(log.map((r) => r.event_id)).toEqual(['a1', 'a2']);
    expect(log[1]?.event_time?.toISOString()).toBe('2025-12-31T23:59:59.000Z');
    expect(log.every((r) => r.batch_id === r1.batchId)).toBe(true);

    const q = await quarantineRows(stack.db.pool, ORDERS);
    expect(q.map((r) => r.event_id)).toEqual(['a3', 'a4']);
    expect(q[0]?.reason.issues).toContainEqual({
      contract: ORDERS,
      version: '1.1.0',
      pointer: '/amount',
      keyword: 'type',
      message: 'must be integer',
    });
    expect(q[1]?.reason.issues).toContainEqual(expect.objectContaining({ pointer: '/amount', keyword: 'required' }));
    expect(q[0]?.payload).toEqual({ id: 'a3', ts: '2026-01-02T03:04:05Z', amount: 'ten' });

    // The same events again (a producer retry): nothing new, all duplicates, quarantine included.
    const r2 = await client.ingest(ORDERS, [
      order('a1', 10),
      order('a2', 20, '2025-12-31T23:59:59Z'),
      { id: 'a3', ts: '2026-01-02T03:04:05Z', amount: 'ten' },
    ]);
    expect(r2).toMatchObject({ received: 3, accepted: 0, quarantined: 0, duplicates: 3, fromSeq: null, toSeq: null });
    expect(await countRows(stack.db.pool, 'raw_events', ORDERS)).toBe(2);
    expect(await countRows(stack.db.pool, 'quarantine', ORDERS)).toBe(2);

    // Resending a batch with the same batch id returns its first answer and writes nothing.
    const again = await client.ingest(ORDERS, [order('zzz', 1)], { batchId: r1.batchId });
    expect(again).toEqual(r1);
    expect(await countRows(stack.db.pool, 'raw_events', ORDERS)).toBe(2);
  });

  it('records a run event per batch with meaningful counts', async () => {
    const r = await client.ingest(ORDERS, [order('re1', 1), order('re2', 2), { id: 're3' }]);
    const { rows } = await stack.db.pool.query<{ status: string; counts: Record<string, number>; workflow_type: string }>(
      `SELECT status, counts, workflow_type FROM sluice.run_events
        WHERE workflow_id = $1 AND step = 'ingestEvents' AND status = 'completed' ORDER BY id DESC LIMIT 1`,
      [ingestWorkflowId(ORDERS)],
    );
    expect(rows[0]).toMatchObject({ workflow_type: 'ingest', counts: { received: 3, accepted: 2, quarantined: 1, duplicates: 0 } });
    expectBalanced(r);
  });

  it('derives a deterministic id for events without one: the same payload is a duplicate', async () => {
    const r = await client.ingest('ingest_test_anon', [
      { kind: 'click', at: '2026-01-01T00:00:00Z' },
      { at: '2026-01-01T00:00:00Z', kind: 'click' },
      { kind: 'view' },
    ]);
    expect(r).toMatchObject({ received: 3, accepted: 2, duplicates: 1, quarantined: 0 });
    const log = await logRows(stack.db.pool, 'ingest_test_anon');
    expect(log[0]?.event_id).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('accepts an empty batch and counts nothing', async () => {
    const r = await client.ingest(ORDERS, []);
    expect(r).toMatchObject({ received: 0, accepted: 0, quarantined: 0, duplicates: 0, fromSeq: null });
  });

  it('refuses an inline batch over the size limit at the client, pointing at ingestFile', async () => {
    const big = Array.from({ length: 3000 }, (_, i) => ({ id: `big${i}`, ts: '2026-01-01T00:00:00Z', amount: 1, note: 'x'.repeat(80) }));
    const attempt = client.ingest(ORDERS, big);
    await expect(attempt).rejects.toBeInstanceOf(IngestBatchTooLargeError);
    await expect(attempt).rejects.toThrow(/ingestFile/);
    expect(await countRows(stack.db.pool, 'raw_events', ORDERS)).toBeLessThan(100);
  });

  it('fails a batch for an unknown source with a non-retryable SLUICE_UNKNOWN_SOURCE, writing nothing', async () => {
    await expect(client.ingest('no_such_source', [{ id: 'x' }])).rejects.toMatchObject({
      cause: { type: 'SLUICE_UNKNOWN_SOURCE', nonRetryable: true, message: expect.stringMatching(/Unknown source "no_such_source"/) },
    });
    const { rows } = await stack.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = 'no_such_source'",
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('signals dataLanded with the new log range to each transform that reads the source', async () => {
    await stack.db.pool.query(
      `INSERT INTO sluice.transforms (name, version, sources, sql, sql_sha256) VALUES ('ingest_test_orders_daily', 1, $1, 'SELECT 1', 'x')`,
      [[ORDERS, 'page_views']],
    );
    const r = await client.ingest(ORDERS, [order('dl1', 1), order('dl2', 2)]);
    expect(r.accepted).toBe(2);
    const transform = stack.client.workflow.getHandle(transformWorkflowId('ingest_test_orders_daily'));
    // The answer comes once the rows are in the log; dataLanded goes out right after it.
    const signals = await pollUntil(
      'dataLanded to reach the transform',
      async () => {
        const history = await transform.fetchHistory().catch(() => undefined);
        const found = (history?.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'dataLanded');
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    // The row above is a bare registry entry, not a runnable transform: stop the workflow it started.
    await transform.terminate('ingest test: signal received').catch(() => undefined);
    const { defaultPayloadConverter } = await import('@temporalio/common');
    const payload = defaultPayloadConverter.fromPayload(
      signals[signals.length - 1]?.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0] ?? {},
    );
    expect(payload).toEqual({ source: ORDERS, fromSeq: r.fromSeq, toSeq: r.toSeq, batchId: r.batchId });
  });

  it('re-drives quarantine after a contract fix: events pass, quarantine rows stay, resolutions are recorded', async () => {
    // Pinned to 1.0.0 (amount <= 1000): the large amounts are quarantined.
    const r = await client.ingest(ORDERS, [order('rd1', 5000), order('rd2', 7000), order('rd3', 1), { id: 'rd4', ts: 'nope', amount: 1 }], {
      contractVersion: '1.0.0',
    });
    expect(r).toMatchObject({ contractVersion: '1.0.0', accepted: 1, quarantined: 3 });
    const before = await countRows(stack.db.pool, 'quarantine', ORDERS);

    const redrive = await client.redriveQuarantine(ORDERS);
    expectBalanced(redrive);
    // rd1 and rd2 pass 1.1.0; rd4 (bad time), a3, a4, re3 still fail and stay unresolved.
    expect(redrive).toMatchObject({ contractVersion: '1.1.0', accepted: 2, duplicates: 0 });
    expect(redrive.quarantined).toBe(redrive.received - 2);
    expect(await countRows(stack.db.pool, 'quarantine', ORDERS)).toBe(before);
    const log = await logRows(stack.db.pool, ORDERS);
    expect(log.filter((l) => l.event_id === 'rd1' || l.event_id === 'rd2').map((l) => l.batch_id)).toEqual([
      redrive.batchId,
      redrive.batchId,
    ]);
    const { rows } = await stack.db.pool.query<{ event_id: string; resolution: string; contract_version: string }>(
      'SELECT event_id, resolution, contract_version FROM sluice.quarantine_resolutions WHERE source = $1 ORDER BY event_id',
      [ORDERS],
    );
    expect(rows).toEqual([
      { event_id: 'rd1', resolution: 'accepted', contract_version: '1.1.0' },
      { event_id: 'rd2', resolution: 'accepted', contract_version: '1.1.0' },
    ]);
    // A second re-drive finds nothing new to resolve.
    const second = await client.redriveQuarantine(ORDERS);
    expect(second).toMatchObject({ accepted: 0, duplicates: 0, received: redrive.quarantined });
  });

  it('takes fire-and-forget batches by signal-with-start too (for SDKs without update-with-start)', async () => {
    const handle = await stack.client.workflow.signalWithStart('ingest', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: ingestWorkflowId(ORDERS),
      args: [{ source: ORDERS }],
      signal: ingestBatchSignal,
      signalArgs: [{ kind: 'inline', batchId: 'signalled-1', events: [order('sig1', 1), { id: 'sig2' }] }],
    });
    const chunk = await pollUntil(
      'the signalled batch to land',
      async () =>
        (
          await stack.db.pool.query<{ accepted: string; quarantined: string }>(
            "SELECT accepted::text, quarantined::text FROM sluice.ingest_chunks WHERE batch_id = 'signalled-1'",
          )
        ).rows[0],
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    expect(chunk).toEqual({ accepted: '1', quarantined: '1' });
    expect((await handle.query(ingestStatusQuery)).batchesFailed).toBe(0);
  });

  it('runs carried-over batches in arrival order, and answers an update on a queued batch even once its history is long', async () => {
    const source = ORDERS;
    const handle = stack.client.workflow.getHandle(ingestWorkflowId(source));
    await handle.terminate('restart with carried-over batches').catch(() => undefined);
    // 30 batches carried over (as continue-as-new carries them), all re-sending event "carried",
    // each with another amount: the first in arrival order is the one accepted, the others are
    // conflicting duplicates.
    const pending = Array.from({ length: 30 }, (_, i) => ({
      kind: 'inline' as const,
      batchId: `carried-${i}`,
      events: [order('carried', i + 1)],
    }));
    await stack.client.workflow.start('ingest', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: ingestWorkflowId(source),
      args: [{ source, continueAsNewAfterEvents: 50, pending }],
    });
    // The last batch is still queued (not awaited) when the history passes its limit; an update
    // for it must make it run before the workflow continues as new, not wait for ever.
    const last = pending[pending.length - 1] as (typeof pending)[number];
    const answer = handle.executeUpdate(ingestBatchUpdate, { args: [last] });
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the update on a queued batch was never answered')), 60_000),
    );
    await expect(Promise.race([answer, timeout])).resolves.toMatchObject({
      batchId: last.batchId,
      received: 1,
      quarantined: 1,
      conflicting: 1,
      duplicates: 0,
    });
    const row = await stack.db.pool.query<{ batch_id: string; payload: unknown }>(
      "SELECT batch_id, payload FROM sluice.raw_events WHERE source = $1 AND event_id = 'carried'",
      [source],
    );
    expect(row.rows).toEqual([{ batch_id: 'carried-0', payload: order('carried', 1) }]);
  });

  it("sends dataLanded for every batch's rows in log order while the next batches are ingested", async () => {
    await stack.db.pool.query(
      `INSERT INTO sluice.transforms (name, version, sources, sql, sql_sha256) VALUES ('ingest_test_signal_order', 1, $1, 'SELECT 1', 'x')`,
      [[ORDERS]],
    );
    // a fresh run (an earlier test set a small history limit), so that its recorded history holds the six
    await stack.client.workflow
      .getHandle(ingestWorkflowId(ORDERS))
      .terminate('ingest test: a fresh run')
      .catch(() => undefined);
    // six batches at once: they queue in the workflow; those waiting together are appended together
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => client.ingest(ORDERS, [order(`so${i}`, i)], { batchId: `signal-order-${i}` })),
    );
    const transform = stack.client.workflow.getHandle(transformWorkflowId('ingest_test_signal_order'));
    const { defaultPayloadConverter } = await import('@temporalio/common');
    const landed = await pollUntil(
      "dataLanded signals covering the six batches' rows",
      async () => {
        const history = await transform.fetchHistory().catch(() => undefined);
        const payloads = (history?.events ?? [])
          .filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'dataLanded')
          .map(
            (e) =>
              defaultPayloadConverter.fromPayload(e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0] ?? {}) as {
                batchId: string;
                fromSeq: string;
                toSeq: string;
              },
          )
          .filter((p) => p.batchId.startsWith('signal-order-'));
        const covered = results.every((r) =>
          payloads.some((p) => BigInt(p.fromSeq) <= BigInt(r.fromSeq!) && BigInt(r.toSeq!) <= BigInt(p.toSeq)),
        );
        return covered ? payloads : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await transform.terminate('ingest test: signals received').catch(() => undefined);
    await recordHistoryIfAsked(stack.client, ingestWorkflowId(ORDERS), 'ingest.signalsBehind');
    // in the log's order, not overlapping, each batch's range inside exactly one signal, which
    // ends where its last batch does (one signal per batch, or one for batches appended together)
    expect(landed.length).toBeGreaterThanOrEqual(1);
    expect(landed.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < landed.length; i++) expect(BigInt(landed[i]!.fromSeq)).toBeGreaterThan(BigInt(landed[i - 1]!.toSeq));
    for (const r of results)
      expect(landed.filter((p) => BigInt(p.fromSeq) <= BigInt(r.fromSeq!) && BigInt(r.toSeq!) <= BigInt(p.toSeq))).toHaveLength(1);
    const byId = new Map(results.map((r) => [r.batchId, r]));
    for (const p of landed) expect(byId.get(p.batchId)?.toSeq).toBe(p.toSeq);
  });

  it('appends the inline batches queued at its head in one activity, each with its own counts; when one of them fails, each goes again on its own', async () => {
    const handle = stack.client.workflow.getHandle(ingestWorkflowId(ORDERS));
    const runEvents = async (runId: string) =>
      (
        await stack.db.pool.query<{ step: string; status: string }>(
          "SELECT step, status FROM sluice.run_events WHERE workflow_id = $1 AND run_id = $2 AND step LIKE 'ingestEvent%' AND status <> 'started' ORDER BY id",
          [ingestWorkflowId(ORDERS), runId],
        )
      ).rows.map((r) => `${r.step} ${r.status}`);
    const startWith = async (pending: object[]) => {
      await handle.terminate('ingest test: a fresh run with queued batches').catch(() => undefined);
      const started = await stack.client.workflow.start('ingest', {
        taskQueue: stack.config.taskQueues.cpu,
        workflowId: ingestWorkflowId(ORDERS),
        args: [{ source: ORDERS, pending }],
      });
      const status = await pollUntil(
        'the queued batches to be taken',
        async () => {
          const s = await started.query(ingestStatusQuery);
          return s.batchesDone + s.batchesFailed === pending.length ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      return { status, runId: started.firstExecutionRunId };
    };
    const chunk = async (batchId: string) =>
      (await stack.db.pool.query<{ accepted: string }>('SELECT accepted::text FROM sluice.ingest_chunks WHERE batch_id = $1', [batchId]))
        .rows[0]?.accepted;

    // three batches queued together: one activity appends them, each is its own batch in the log
    const good = await startWith([0, 1, 2].map((i) => ({ kind: 'inline', batchId: `coalesced-${i}`, events: [order(`co${i}`, i + 1)] })));
    expect(good.status).toMatchObject({ batchesDone: 3, batchesFailed: 0 });
    expect(await runEvents(good.runId)).toEqual(['ingestEventBatches completed']);
    expect(await Promise.all([0, 1, 2].map((i) => chunk(`coalesced-${i}`)))).toEqual(['1', '1', '1']);

    // one of four names a contract version that does not exist: the group fails, then each batch
    // goes on its own: three are appended, that one fails with its own error
    const mixed = await startWith([
      { kind: 'inline', batchId: 'mixed-0', events: [order('mx0', 1)] },
      { kind: 'inline', batchId: 'mixed-1', events: [order('mx1', 1)], contractVersion: '9.9.9' },
      { kind: 'inline', batchId: 'mixed-2', events: [order('mx2', 1)] },
      { kind: 'inline', batchId: 'mixed-3', events: [order('mx3', 1)] },
    ]);
    expect(mixed.status).toMatchObject({ batchesDone: 3, batchesFailed: 1 });
    expect(await runEvents(mixed.runId)).toEqual([
      'ingestEventBatches failed',
      'ingestEvents completed',
      'ingestEvents failed',
      'ingestEvents completed',
      'ingestEvents completed',
    ]);
    expect(await Promise.all([0, 1, 2, 3].map((i) => chunk(`mixed-${i}`)))).toEqual(['1', undefined, '1', '1']);
    const rows = await stack.db.pool.query<{ event_id: string }>(
      "SELECT event_id FROM sluice.raw_events WHERE source = $1 AND event_id LIKE 'mx%' ORDER BY seq",
      [ORDERS],
    );
    expect(rows.rows.map((r) => r.event_id)).toEqual(['mx0', 'mx2', 'mx3']);
    await recordHistoryIfAsked(stack.client, ingestWorkflowId(ORDERS), 'ingest.coalesced', mixed.runId);
  });

  it('continues as new before the history grows, after its update handlers finish, and keeps serving', async () => {
    const source = 'ingest_test_anon';
    const handle = stack.client.workflow.getHandle(ingestWorkflowId(source));
    await handle.terminate('restart with a small history limit').catch(() => undefined);
    await stack.client.workflow.start('ingest', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId: ingestWorkflowId(source),
      args: [{ source, continueAsNewAfterEvents: 50 }],
    });
    const firstRun = (await handle.describe()).runId;
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await client.ingest(source, [{ kind: `can${i}` }]));
    expect(results.map((r) => r.accepted)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    // the last batch may be the one that made the history long: it is answered before the run continues as new
    const latest = await pollUntil(
      'the ingest workflow to continue as new',
      async () => {
        const d = await stack.client.workflow.getHandle(ingestWorkflowId(source)).describe();
        return d.runId !== firstRun ? d : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    expect(latest.status.name).toBe('RUNNING');
    const status = await stack.client.workflow.getHandle(ingestWorkflowId(source)).query(ingestStatusQuery);
    expect(status.source).toBe(source);
  });
});
