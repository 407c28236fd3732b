/**
 * The one heartbeat helper of long activities. Temporal notices a dead worker by missing
 * heartbeats, and delivers cancellation only to activities that heartbeat; a single SQL statement
 * can run for minutes without reporting progress, so the helper also heartbeats on a timer with
 * the latest progress.
 */
import { Context } from '@temporalio/activity';

export interface Heartbeat {
  /** Records progress (sent at once, throttled by the SDK, and repeated by the timer). */
  progress(details: unknown): void;
  /** Throws the cancellation reason when the activity was cancelled. */
  checkCancelled(): void;
  /** Aborted when the activity is cancelled (the workflow gave up, the worker shuts down). */
  readonly signal: AbortSignal;
  /** Details of the last heartbeat of the previous attempt: where a retry may resume. */
  readonly previous: unknown;
}

/** Runs `work` while heartbeating every `everyMs` (default 2 s) with the latest progress. */
export async function withHeartbeat<T>(work: (hb: Heartbeat) => Promise<T>, options: { everyMs?: number } = {}): Promise<T> {
  const ctx = Context.current();
  let last: unknown;
  const timer = setInterval(() => ctx.heartbeat(last), options.everyMs ?? 2_000);
  const hb: Heartbeat = {
    progress(details) {
      last = details;
      ctx.heartbeat(details);
    },
    checkCancelled() {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    },
    signal: ctx.cancellationSignal,
    previous: ctx.info.heartbeatDetails,
  };
  try {
    return await work(hb);
  } finally {
    clearInterval(timer);
  }
}

/**
 * Waits `ms`, or less when `signal` aborts first (then it resolves: the caller checks for
 * cancellation). Its abort listener goes when the wait ends, so a polling loop does not pile up
 * one listener per poll on the activity's signal.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}
