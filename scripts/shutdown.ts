/**
 * The orderly stop of the long-running scripts (`npm start`, `npm run dev`): the first SIGINT or
 * SIGTERM starts it, the parts stop one after the other (each with a bounded wait and a line that
 * says how it went), and a second Ctrl-C forces the exit.
 *
 * The servers these scripts start (the Temporal dev server, the embedded PostgreSQL) run in their
 * own process groups (scripts/provision), so a Ctrl-C in the terminal reaches this process only and
 * the servers are still there while the workers drain.
 */
import type { Logger } from './provision/process';

/**
 * One Ctrl-C can arrive more than once: npm forwards the signal to its child and tsx relays it to
 * node, on top of the terminal's. A signal within this long of the first is the same press.
 */
const SAME_PRESS_MS = 1_000;

export interface StopSignals {
  /** Resolves with the first signal. */
  requested: Promise<NodeJS.Signals>;
  /** The first signal, once one came. */
  received(): NodeJS.Signals | undefined;
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM. The first resolves `requested`; another one, a second or more
 * later, calls `force` (which should kill what is left) and exits with 130.
 */
export function watchStopSignals(options: { log: Logger; force: () => void }): StopSignals {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  let resolve: (s: NodeJS.Signals) => void = () => undefined;
  const requested = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!first) {
      first = { signal, at: Date.now() };
      options.log(`\n${signal} received: stopping in order (Ctrl-C again to force)`);
      resolve(signal);
      return;
    }
    if (Date.now() - first.at < SAME_PRESS_MS) return;
    options.log(`${signal} again: forcing the exit (servers killed, running activities abandoned)`);
    try {
      options.force();
    } finally {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    requested,
    received: () => first?.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export interface StopStep {
  /** What stops, as the line names it: `workers`, `PostgreSQL (pid 4242)`. */
  name: string;
  /** How long to wait for it; past that the stop goes on with the next part. */
  timeoutMs: number;
  /** Stops the part; what it returns is added to its line (`0 prediction events left`). */
  stop: () => Promise<string | void>;
}

const secondsOf = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Runs the steps in order, a line each (`✓ workers stopped in 0.4 s`); a step that fails or does not
 * finish within its time is reported and the next one runs. True when every step finished in time.
 */
export async function stopInOrder(steps: StopStep[], log: Logger): Promise<boolean> {
  let ok = true;
  for (const step of steps) {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), step.timeoutMs);
    });
    try {
      const outcome = await Promise.race([step.stop(), late]);
      if (outcome === 'late') {
        ok = false;
        log(`  ✗ ${step.name} did not stop within ${secondsOf(step.timeoutMs)}; going on`);
      } else {
        log(`  ✓ ${step.name} stopped in ${secondsOf(Date.now() - started)}${outcome ? ` (${outcome})` : ''}`);
      }
    } catch (err) {
      ok = false;
      log(`  ✗ ${step.name} failed to stop: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return ok;
}

/**
 * The step that stops a server the script may have started (Temporal, PostgreSQL): its line names
 * the pid, says when the server had exited already (stopped from outside, or crashed), and when it
 * was not the script's to stop (TEMPORAL_ADDRESS, DATABASE_URL, one reused from an earlier run).
 */
export function serverStopStep(
  what: string,
  server: { pid?: number; source: string; running?(): boolean; stop(): Promise<void> },
  timeoutMs: number,
): StopStep {
  return {
    name: server.pid ? `${what} (pid ${server.pid})` : `${what} (${server.source}: not started here, left running)`,
    timeoutMs,
    stop: async () => {
      const exitedBefore = server.running?.() === false;
      await server.stop();
      return exitedBefore ? 'it had exited already' : undefined;
    },
  };
}
