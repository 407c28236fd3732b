/**
 * A worker as users run it: a separate process on workers/<entry>.ts, configured by environment
 * (used by the fault tests and by benchmarks that kill and restart workers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when it says a worker is ready; rejects if it exits first. */
  ready: Promise<void>;
  exit: Promise<number | null>;
}

export function startWorkerProcess(entry: string, env: NodeJS.ProcessEnv): WorkerProcess {
  // node itself with tsx as a loader (not the tsx CLI, which puts a process in between): the pid
  // a test signals (SIGTERM, SIGKILL) is the worker's.
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/worker ready on task queue/.test(out)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then((code) => reject(new Error(`${entry} exited with ${code} before it was ready:\n${out}`)));
  });
  ready.catch(() => undefined); // observed by the caller; keep an early exit from being unhandled
  return { child, output: () => out, ready, exit };
}

/** SIGTERM to each worker still running, and waits for it to exit. */
export async function stopWorkerProcesses(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGTERM');
      await w.exit;
    }
  }
}
