/** One transaction on a pooled connection. */
import type { Pool, PoolClient } from 'pg';

export interface TransactionOptions {
  /** READ ONLY: the database refuses any write inside (checks, plans, reads of a consistent snapshot). */
  readOnly?: boolean;
  /** Default READ COMMITTED; REPEATABLE READ gives every statement the same snapshot. */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** Settings of the transaction (`SET LOCAL`), set right after BEGIN with bound names and values (`set_config(…, true)`). */
  settings?: Record<string, string | number>;
  /**
   * For transactions that run user SQL (transforms, custom expectations): afterwards, undo what
   * it may have changed for the rest of the session (`set_config(…, false)`, session advisory
   * locks) before the connection goes back to the pool; a connection that cannot be reset is
   * destroyed.
   */
  resetSession?: boolean;
}

/** Session state a SELECT can change and keep past its transaction: every setting, and session advisory locks. */
const RESET_SESSION = 'RESET ALL; SELECT pg_advisory_unlock_all()';

const ISOLATION_LEVELS = {
  'read committed': ' ISOLATION LEVEL READ COMMITTED',
  'repeatable read': ' ISOLATION LEVEL REPEATABLE READ',
  serializable: ' ISOLATION LEVEL SERIALIZABLE',
} as const;
/** SET LOCAL of each (name, value): bound, so no setting can become SQL text. */
const SET_LOCAL = 'SELECT set_config(s.name, s.value, true) FROM unnest($1::text[], $2::text[]) AS s(name, value)';

function beginStatement(options: TransactionOptions): string {
  return `BEGIN${options.isolation ? ISOLATION_LEVELS[options.isolation] : ''}${options.readOnly ? ' READ ONLY' : ''}`;
}

/**
 * BEGIN ... COMMIT around `fn`; ROLLBACK when it throws, and always for a read-only transaction
 * (nothing to keep). A connection that fails to roll back (often the reason for the error: it is
 * gone) is destroyed, not returned to the pool, and the rollback failure is added to the error's message.
 */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(beginStatement(options));
    try {
      const settings = Object.entries(options.settings ?? {});
      if (settings.length > 0) await client.query(SET_LOCAL, [settings.map(([name]) => name), settings.map(([, value]) => String(value))]);
      const out = await fn(client);
      await client.query(options.readOnly ? 'ROLLBACK' : 'COMMIT');
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
        if (err instanceof Error) err.message += ` (rollback also failed: ${broken.message})`;
      }
      throw err;
    }
  } finally {
    if (options.resetSession && !broken) {
      try {
        await client.query(RESET_SESSION);
      } catch (resetErr) {
        broken = resetErr as Error; // destroyed below rather than pooled with unknown session state
      }
    }
    client.release(broken);
  }
}
