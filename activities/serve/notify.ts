/**
 * The change notification between whatever changes what an endpoint serves and the scoring
 * service. Whoever moves a model's `champion` alias, or opens or ends a shadow session, calls
 * {@link notifyEndpointChanged} inside the same transaction: PostgreSQL delivers a NOTIFY only when
 * the transaction commits, so the service never reloads before the change is visible, and never
 * hears of a change that was rolled back. The service also polls, so a lost notification (its
 * listening connection was down) delays a switch, never loses it.
 */
import type { Pool, PoolClient } from 'pg';

/** The channel the scoring service LISTENs on; the payload is the endpoint's name. */
export const ENDPOINTS_CHANNEL = 'sluice_endpoints';

/** Tells the scoring services that `endpoint` may serve something else now (delivered at commit). */
export async function notifyEndpointChanged(client: PoolClient | Pool, endpoint: string): Promise<void> {
  await client.query('SELECT pg_notify($1, $2)', [ENDPOINTS_CHANNEL, endpoint]);
}
