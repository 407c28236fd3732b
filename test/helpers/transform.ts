/** Helpers for the transform and backfill tests: the `clicks` transform's versions, landing its events, waiting on watermarks. */
import type { WorkflowHandle } from '@temporalio/client';
import { pollUntil } from '../../client/poll';
import type { BackfillInput, RegisterTransformInput, RegisterTransformResult } from '../../api';
import type { TestStack } from './env';

/** Row-level transform: one output row per `clicks` event. */
export const CLICKS_V1 = `
  SELECT seq, payload->>'user' AS user_id, (payload->>'n')::int AS n, event_time
  FROM sluice.raw_events
  WHERE source = 'clicks' AND seq BETWEEN $1 AND $2`;
/** Flattening transform: one row per tag, so several rows share a seq (the hash must not depend on their order). */
export const CLICKS_V2 = `
  SELECT e.seq, e.payload->>'user' AS user_id, t.tag, (e.payload->>'n')::int * 10 AS n10
  FROM sluice.raw_events e CROSS JOIN LATERAL jsonb_array_elements_text(e.payload->'tags') AS t(tag)
  WHERE e.source = 'clicks' AND e.seq BETWEEN $1 AND $2`;

/** The failure and its causes, outermost first. */
export function failureChain(err: unknown): { type?: string; nonRetryable?: boolean; message?: string }[] {
  const chain: { type?: string; nonRetryable?: boolean; message?: string }[] = [];
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as { cause?: unknown } | undefined) chain.push(e as never);
  return chain;
}

/** Helpers bound to a test file's stack (read when called: the stack starts in beforeAll). */
export function transformTestHelpers(current: () => TestStack) {
  let n = 0;

  /** Appends `count` events of `source` to the log (interleaved with a noise source) and returns the last seq. */
  async function land(source: string, count: number): Promise<string> {
    const r = await current().db.pool.query<{ max: string }>(
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
    return pollUntil(
      what,
      async () => {
        last = await probe();
        return ok(last) ? last : undefined;
      },
      { timeoutMs, lastSeen: () => `last value ${JSON.stringify(last)}` },
    );
  }

  const watermark = async (name: string, version: number): Promise<string> =>
    (
      await current().db.pool.query<{ s: string }>(
        'SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = $1 AND version = $2',
        [name, version],
      )
    ).rows[0]?.s ?? '';

  const count = async (sql: string): Promise<number> => Number((await current().db.pool.query<{ c: string }>(sql)).rows[0]?.c);

  const register = (
    input: RegisterTransformInput,
    id = `reg-${input.name}-${input.version}-${Date.now()}`,
  ): Promise<RegisterTransformResult> =>
    current().client.workflow.execute('registerTransform', { taskQueue: current().config.taskQueues.cpu, workflowId: id, args: [input] });

  const runBackfill = (input: BackfillInput, workflowId = `backfill-${input.transform}-${Date.now()}`): Promise<WorkflowHandle> =>
    current().client.workflow.start('backfill', { taskQueue: current().config.taskQueues.cpu, workflowId, args: [input] });

  return { land, waitFor, watermark, count, register, runBackfill };
}
