/** Connecting to a service that may not be up yet (PostgreSQL, Temporal): backoff, then an error that names the variable. */

export interface RetryOptions {
  /** Total time to keep trying, in ms (default 60 s). */
  timeoutMs?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (attempt: number, delayMs: number, err: Error) => void;
}

/**
 * Calls `connect` until it succeeds or the time is up, with exponential backoff; the final error
 * names what could not be reached and the variable that points at it.
 */
export async function connectWithBackoff<T>(
  what: { service: string; address: string; variable: string },
  connect: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let delay = options.initialDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      const e = err as Error;
      if (Date.now() + delay > deadline) {
        throw new Error(
          `Cannot reach ${what.service} at ${what.address} after ${attempt} attempt(s): ${e.message}. ` +
            `Check that it is running, or set ${what.variable} to a reachable address.`,
          { cause: e },
        );
      }
      options.onRetry?.(attempt, delay, e);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(maxDelay, Math.round(delay * 1.8));
    }
  }
}
