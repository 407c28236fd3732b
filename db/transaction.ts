/** One transaction on a pooled connection. */
import type { Pool, PoolClient } from 'pg';

/**
 * `begin` (default BEGIN) ... COMMIT around `fn`; ROLLBACK when it throws. A connection that fails to
 * roll back (often the reason for the error: it is gone) is destroyed, not returned to the pool,
 * and the rollback failure is added to the error's message.
 */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    try {
      const out = await fn(client);
      await client.query('COMMIT');
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
    client.release(broken);
  }
}
