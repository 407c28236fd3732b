// A transform that fails on a row value must not carry the value into workflow history (shown in
// the Temporal UI to everyone who may see workflows): the failure says SQLSTATE, position and
// column; the whole message stays in the run event and the worker log.
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { transformWorkflowId } from '../../api';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

const SECRET = 'tok_live_SECRET_4242';

describe('failures of user SQL keep row values out of workflow history', () => {
  let stack: TestStack;
  let client: SluiceClient;
  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await client?.close();
    await stack?.close();
  });

  it('a cast that fails on a secret value: the failure names SQLSTATE 22P02, not the value; the run event keeps the message', async () => {
    const landed = await client.ingest('ingest_test_orders', [{ id: 's1', ts: '2026-03-01T10:00:00Z', amount: 1, note: SECRET }]);
    expect(landed.accepted).toBe(1);
    await client.registerTransform({
      name: 'leaky',
      version: 1,
      sources: ['ingest_test_orders'],
      sql: "SELECT seq, (payload->>'note')::int AS n FROM sluice.raw_events WHERE source = 'ingest_test_orders' AND seq BETWEEN $1 AND $2",
    });
    const handle = stack.client.workflow.getHandle(transformWorkflowId('leaky'));
    await pollUntil('the transform to fail', async () => ((await handle.describe()).status.name === 'FAILED' ? true : undefined), {
      timeoutMs: 60_000,
    });
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history).not.toContain(SECRET);
    expect(history).toContain('SQLSTATE 22P02');
    const { rows } = await stack.db.pool.query<{ message: string; internal: string }>(
      "SELECT error->>'message' AS message, error->>'internal' AS internal FROM sluice.run_events WHERE workflow_id = $1 AND status = 'failed'",
      [transformWorkflowId('leaky')],
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]!.message).not.toContain(SECRET);
    expect(rows[0]!.internal).toContain(SECRET);
  });
});
