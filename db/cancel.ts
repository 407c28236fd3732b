/** Stopping a running statement in the server when the activity that runs it is cancelled. */
import type { Pool } from 'pg';

/**
 * While `signal` is live, aborting it cancels the statement running on backend `pid`
 * (pg_cancel_backend); the returned function detaches it. Detach before the connection goes
 * back to the pool, so a late abort never cancels someone else's statement. `what` names the
 * statement in the log line written when the cancel itself fails (the statement then runs to its
 * end or its statement_timeout, and rolls back with its transaction).
 */
export function cancelStatementOnAbort(pool: Pool, pid: number | undefined, signal: AbortSignal | undefined, what: string): () => void {
  if (!signal || pid === undefined) return () => undefined;
  const cancel = (): void => {
    pool.query('SELECT pg_cancel_backend($1)', [pid]).catch((err: Error) => {
      process.stderr.write(`[sluice] could not cancel ${what} on backend ${pid}: ${err.message}\n`);
    });
  };
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}
