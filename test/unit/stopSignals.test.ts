// The stop signals of `npm start` / `npm run dev` (scripts/shutdown.ts), in a process of their own:
// one Ctrl-C that arrives twice at once (npm and tsx relay it) is one; a second one later forces the exit.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

/** A script that stops in three steps: the second takes STEP_MS (its bound TIMEOUT_MS), the third fails with FAIL_THIRD. */
const SCRIPT = `
const { watchStopSignals, stopInOrder } = require('./scripts/shutdown');
const log = (m) => process.stdout.write(m + '\\n');
const signals = watchStopSignals({ log, force: () => log('force called') });
log('ready');
signals.requested.then(async () => {
  const ok = await stopInOrder([
    { name: 'first', timeoutMs: 1000, stop: async () => 'quick' },
    { name: 'second', timeoutMs: Number(process.env.TIMEOUT_MS), stop: () => new Promise((r) => setTimeout(r, Number(process.env.STEP_MS))) },
    { name: 'third', timeoutMs: 1000, stop: async () => { if (process.env.FAIL_THIRD) throw new Error('refused'); } },
  ], log);
  process.exit(ok ? 0 : 1);
});
setInterval(() => undefined, 1000);
`;

async function run(env: Record<string, string>, signal: (pid: number) => Promise<void>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', SCRIPT], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 50));
  await signal(child.pid!);
  return { code: await exit, out };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('stop signals', () => {
  it('steps run in order, a line each; one past its time or failing is reported and the next runs', async () => {
    const r = await run({ STEP_MS: '60000', TIMEOUT_MS: '500', FAIL_THIRD: '1' }, async (pid) => {
      process.kill(pid, 'SIGTERM');
      await sleep(100);
      process.kill(pid, 'SIGTERM'); // the same press, relayed: ignored
    });
    expect(r.out).toMatch(
      /SIGTERM received: stopping in order[^\n]*\n {2}✓ first stopped in \d\.\d s \(quick\)\n {2}✗ second did not stop within 0\.5 s; going on\n {2}✗ third failed to stop: refused\n$/,
    );
    expect(r.code).toBe(1);
  }, 30_000);

  it('a second Ctrl-C a moment later forces the exit (130) while a step still waits', async () => {
    const r = await run({ STEP_MS: '60000', TIMEOUT_MS: '60000' }, async (pid) => {
      process.kill(pid, 'SIGINT');
      await sleep(1_300);
      process.kill(pid, 'SIGINT');
    });
    expect(r.out).toMatch(/✓ first stopped[\s\S]*SIGINT again: forcing the exit[^\n]*\nforce called\n$/);
    expect(r.code).toBe(130);
  }, 30_000);

  it('every step in time: exit 0', async () => {
    const r = await run({ STEP_MS: '10', TIMEOUT_MS: '5000' }, async (pid) => {
      process.kill(pid, 'SIGINT');
    });
    expect(r.out).toMatch(/✓ first stopped in \d\.\d s \(quick\)\n {2}✓ second stopped in 0\.\d s\n {2}✓ third stopped in 0\.\d s\n$/);
    expect(r.code).toBe(0);
  }, 30_000);
});
