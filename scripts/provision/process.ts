/** Small process and port helpers for provisioning local services. */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export type Logger = (message: string) => void;

/** Absolute path of an executable on PATH, or undefined. */
export function findOnPath(name: string, envPath: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      continue; // not in this directory
    }
  }
  return undefined;
}

/** True when nothing listens on 127.0.0.1:port. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port the OS considers free right now. */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a child process has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Sends `signal` to the process group a detached child leads (the server and anything it forked),
 * or to the child alone when it has no group of its own. No error when it is gone.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals, group = true): void {
  try {
    process.kill(group && process.platform !== 'win32' ? -pid : pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * When this process exits without having stopped a server it started (an error path that calls
 * process.exit), `signal` goes to the server (to its process group with `group`: one started in its
 * own group does not hear the terminal's Ctrl-C either). Returns the remover.
 */
export function stopOnExit(child: ChildProcess, signal: NodeJS.Signals, group: boolean): () => void {
  const onExit = (): void => {
    if (child.pid && !hasExited(child)) signalGroup(child.pid, signal, group);
  };
  process.on('exit', onExit);
  return () => process.off('exit', onExit);
}

/** Resolves when the child has exited, at once when it already has. */
export function childExited(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/**
 * `signal` (default SIGTERM), then SIGKILL after `graceMs` if the child has not exited; to its
 * whole process group when it leads one (`group`, for children spawned detached).
 */
export async function stopChild(
  child: ChildProcess,
  graceMs = 10_000,
  options: { group?: boolean; signal?: NodeJS.Signals } = {},
): Promise<void> {
  if (hasExited(child) || !child.pid) return;
  const pid = child.pid;
  const exited = childExited(child);
  signalGroup(pid, options.signal ?? 'SIGTERM', options.group ?? false);
  const timer = setTimeout(() => signalGroup(pid, 'SIGKILL', options.group ?? false), graceMs);
  await exited;
  clearTimeout(timer);
}
