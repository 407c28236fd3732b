/** Waiting for a condition that another process brings about (a watermark, a running step). */

export interface PollOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Pause between probes (default 200 ms). */
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than undefined, and returns that. Throws
 * "timed out waiting for <what>" (with `lastSeen()` when given) once `timeoutMs` has passed.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: PollOptions & { lastSeen?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${options.lastSeen ? `; ${options.lastSeen()}` : ''}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
}
