// A command trainer that outlived its SIGKILLed worker is stopped by the retry: only on the same
// host, only when the pid still runs with the previous attempt's manifest on its command line.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopStaleTrainer } from '../../activities/train/commandTrainer';
import { isProcessAlive } from '../../scripts/provision/process';

const onLinux = fs.existsSync('/proc/self/cmdline') ? it : it.skip;

describe('stopStaleTrainer', () => {
  const started: number[] = [];
  afterAll(() => {
    for (const pid of started)
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
  });

  /** A detached process group (a shell and its sleep) whose command line names `manifest`, like a trainer's. */
  const trainerLike = (manifest: string): number => {
    const child = spawn('sh', ['-c', 'sleep 60 & wait', 'trainer', '--manifest', manifest], { detached: true, stdio: 'ignore' });
    child.unref();
    started.push(child.pid!);
    return child.pid!;
  };

  onLinux('kills the whole group of the previous attempt and removes its working directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-command-trainer-'));
    const manifest = path.join(dir, 'manifest.json');
    fs.writeFileSync(manifest, '{}');
    const pid = trainerLike(manifest);
    await new Promise((r) => setTimeout(r, 200));
    expect(isProcessAlive(pid)).toBe(true);
    const logged: string[] = [];
    await stopStaleTrainer({ host: os.hostname(), pid, manifest }, (m) => logged.push(m));
    expect(isProcessAlive(pid)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    expect(logged.join('\n')).toMatch(/outlived its worker/);
  });

  onLinux('leaves alone a pid that runs something else, and anything on another host', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-other-'));
    const pid = trainerLike(path.join(dir, 'other.json'));
    await new Promise((r) => setTimeout(r, 200));
    await stopStaleTrainer({ host: os.hostname(), pid, manifest: path.join(dir, 'manifest.json') }, () => undefined);
    expect(isProcessAlive(pid)).toBe(true);
    await stopStaleTrainer({ host: `not-${os.hostname()}`, pid, manifest: path.join(dir, 'other.json') }, () => undefined);
    expect(isProcessAlive(pid)).toBe(true);
    expect(fs.existsSync(dir)).toBe(true); // not a sluice working directory
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
