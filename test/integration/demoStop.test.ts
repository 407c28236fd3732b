// `npm start` (what it runs: tsx scripts/demo.ts) stopped as users stop it: Ctrl-C in a terminal
// (SIGINT to the whole foreground process group, tsx and node at once), and SIGTERM from a process
// manager. With its own Temporal dev server and embedded PostgreSQL, where a stop used to hang or
// leave servers behind. (Under npm itself the exit status after a Ctrl-C is npm's: sh re-raises the
// SIGINT it got, whatever the script's status, so the script's own status is checked here.)
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findFreePort } from '../../scripts/provision/process';

const root = path.resolve(__dirname, '../..');

/** Every running process: pid, process group, parent, state and command line (from /proc). */
function processes(): { pid: number; pgid: number; ppid: number; state: string; cmd: string }[] {
  const rows: { pid: number; pgid: number; ppid: number; state: string; cmd: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      rows.push({ pid: Number(entry), pgid: Number(pgid), ppid: Number(ppid), state: state ?? '', cmd });
    } catch {
      continue; // it exited while we read
    }
  }
  return rows;
}

/** Running (not zombie) processes among `pids`. */
function stillRunning(pids: number[]): string[] {
  const set = new Set(pids);
  return processes()
    .filter((p) => set.has(p.pid) && p.state !== 'Z')
    .map((p) => `${p.pid} ${p.cmd}`);
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function startDemo(env: NodeJS.ProcessEnv, args = ['--no-demo']): Started {
  // detached: it leads a process group of its own, as a shell's foreground job does
  const child = spawn(path.join(root, 'node_modules/.bin/tsx'), ['scripts/demo.ts', ...args], {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

async function waitFor(what: string, started: Started, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(started.output())) {
    if (started.child.exitCode !== null)
      throw new Error(`the demo exited (${started.child.exitCode}) before ${what}:\n${started.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s:\n${started.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The lines of the stop, in the order they must come. */
const STOP_LINES = [
  /✓ workers stopped in \d+\.\d s/,
  /✓ scoring service stopped in \d+\.\d s \(prediction log flushed, \d+ buffered events written\)/,
  /✓ HTTP service stopped/,
  /✓ client stopped/,
  /✓ Temporal dev server \(pid \d+\) stopped/,
  /✓ PostgreSQL \(pid \d+\) stopped/,
  /Stopped\. The history is kept in /,
];

function expectOrderlyStop(out: string, signalLine: RegExp): void {
  const at = [signalLine, ...STOP_LINES].map((re) => {
    const m = re.exec(out);
    if (!m) throw new Error(`missing ${re} in:\n${out}`);
    return m.index;
  });
  expect(at).toEqual([...at].sort((a, b) => a - b));
  // the servers were still up when their turn came: the signal reached the script only
  expect(out).not.toMatch(/✗|forcing the exit|did not stop|demo failed|exited already/);
}

describe('npm start: stopping', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let started: Started | undefined;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-stop-'));
    env = { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_LOG_LEVEL: 'WARN' };
    // its own servers: the dev server and the embedded PostgreSQL, on free ports, with their own role passwords
    for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SLUICE_ROLE_PASSWORDS_FILE', 'SLUICE_DATABASE_OWNER_URL', 'CI']) delete env[k];
    env.SLUICE_TEMPORAL_PORT = String(await findFreePort());
    env.SLUICE_TEMPORAL_UI_PORT = String(await findFreePort());
    env.SLUICE_PG_PORT = String(await findFreePort());
  });
  afterEach(() => {
    // a failed test leaves nothing running either
    const child = started?.child;
    if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    for (const p of processes()) if (p.cmd.includes(dataDir)) process.kill(p.pid, 'SIGKILL');
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Starts it, waits until it is up (`until` printed), and returns the pids of everything it runs. */
  async function startAndList(args?: string[], until: RegExp = /Ctrl-C to stop/): Promise<{ pids: number[]; node: number; tsx: number }> {
    started = startDemo(env, args);
    await waitFor(String(until), started, until, 75_000);
    const temporal = (JSON.parse(fs.readFileSync(path.join(dataDir, 'temporal', 'server.json'), 'utf8')) as { pid: number }).pid;
    const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    // npm's process group and both servers' groups, and every descendant (PostgreSQL's background
    // processes lead groups of their own)
    const groups = new Set([started.child.pid, temporal, postmaster]);
    const every = processes();
    const all = every.filter((p) => groups.has(p.pgid));
    for (let i = 0; i < all.length; i++)
      for (const p of every) if (p.ppid === all[i]!.pid && !all.some((a) => a.pid === p.pid)) all.push(p);
    const node = all.find((p) => p.cmd.includes('--import') && p.cmd.includes('scripts/demo.ts'));
    const tsx = all.find((p) => p.pid === started!.child.pid);
    // tsx and node; the dev server; the postmaster and its background processes
    expect(node && tsx).toBeTruthy();
    expect(all.find((p) => p.pid === temporal)?.cmd).toMatch(/temporal server start-dev/);
    expect(all.find((p) => p.pid === postmaster)?.cmd).toMatch(/postgres -D /);
    expect(all.filter((p) => p.ppid === postmaster).length).toBeGreaterThan(1);
    return { pids: all.map((p) => p.pid), node: node!.pid, tsx: tsx!.pid };
  }

  it('Ctrl-C (SIGINT to the whole process group): workers, scoring service, Temporal, PostgreSQL in order; exit 0; nothing left', async () => {
    const { pids } = await startAndList();
    process.kill(-started!.child.pid!, 'SIGINT');
    const code = await started!.exit;
    const out = started!.output();
    expect({ code, out: code === 0 ? '' : out }).toEqual({ code: 0, out: '' });
    expectOrderlyStop(out, /SIGINT received: stopping in order \(Ctrl-C again to force\)/);
    expect(stillRunning(pids)).toEqual([]);
    // PostgreSQL shut down cleanly (no recovery on the next start) and Temporal's state file is gone
    expect(fs.readFileSync(path.join(dataDir, 'postgres.log'), 'utf8')).toMatch(/database system is shut down\s*$/);
    expect(fs.existsSync(path.join(dataDir, 'temporal', 'server.json'))).toBe(false);
  }, 120_000);

  it('SIGTERM to the script (a process manager stopping it): the same orderly stop, exit 0, nothing left', async () => {
    const { pids, tsx } = await startAndList();
    process.kill(tsx, 'SIGTERM'); // to tsx only, which hands it to node
    const code = await started!.exit;
    const out = started!.output();
    expect({ code, out: code === 0 ? '' : out }).toEqual({ code: 0, out: '' });
    expectOrderlyStop(out, /SIGTERM received: stopping in order/);
    expect(out).not.toMatch(/initialising embedded PostgreSQL/); // the second start reused the cluster
    expect(stillRunning(pids)).toEqual([]);
  }, 120_000);

  it('Ctrl-C while the demo runs: its waits end first, then the same orderly stop; exit 0, nothing left', async () => {
    env.SLUICE_DEMO_EVENTS = '2000';
    const { pids } = await startAndList(['--exit'], /✓ transform /);
    process.kill(-started!.child.pid!, 'SIGINT');
    const code = await started!.exit;
    const out = started!.output();
    expect({ code, out: code === 0 ? '' : out }).toEqual({ code: 0, out: '' });
    // the demo's run stops first, before the workers (a worker's own log line may come in between)
    const demoStopped = /\n {2}✓ demo run stopped in \d+\.\d s \(interrupted\)\n/;
    expect(out).toMatch(demoStopped);
    expect(out.search(demoStopped)).toBeGreaterThan(out.search(/SIGINT received: stopping in order/));
    expect(out.search(demoStopped)).toBeLessThan(out.search(STOP_LINES[0]!));
    expectOrderlyStop(out, /SIGINT received: stopping in order/);
    expect(out).toMatch(/The demo run was interrupted by the stop\./);
    expect(out).not.toMatch(/Channel has been shut down|Summary/);
    expect(stillRunning(pids)).toEqual([]);
  }, 150_000);
});
