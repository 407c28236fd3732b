/** Signals one activity sends to other workflows at once (each is one server round trip). */
export const SIGNALS_AT_ONCE = 16;

/**
 * Runs `fn` on every item, `limit` at a time: the items in groups of `limit`, each group at once,
 * one group after the other. Rejects at the first failure (the rest of that group still runs to its
 * end; later groups do not start).
 */
export async function inGroups<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const size = Math.max(1, limit);
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}
