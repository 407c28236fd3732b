/**
 * The build lock of the Temporal CLI cache (a fake `go` stands in for the real build): a lock left
 * by a dead process, or by one that died before writing its pid, is removed and the build goes on.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildTemporalCli, cachedCliPath } from '../../scripts/provision/temporal';

describe('Temporal CLI build lock', () => {
  let dir: string;
  let savedPath: string | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-build-lock-'));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    // `go install` that "builds" the CLI into $GOBIN at once.
    fs.writeFileSync(path.join(bin, 'go'), '#!/bin/sh\nprintf "#!/bin/sh\\n" > "$GOBIN/temporal"\nchmod +x "$GOBIN/temporal"\n', {
      mode: 0o755,
    });
    savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lockOf = (cache: string): string => `${cachedCliPath(cache)}.lock`;
  const quiet = (): void => undefined;

  it('removes the lock of a process that is gone', async () => {
    const cache = path.join(dir, 'dead');
    fs.mkdirSync(lockOf(cache), { recursive: true });
    fs.writeFileSync(path.join(lockOf(cache), 'pid'), '999999999');
    await expect(buildTemporalCli(cache, quiet)).resolves.toBe(cachedCliPath(cache));
    expect(fs.existsSync(lockOf(cache))).toBe(false);
  });

  it('removes a lock without a pid once it is a minute old, and waits for a fresh one', async () => {
    const cache = path.join(dir, 'nopid');
    fs.mkdirSync(lockOf(cache), { recursive: true });
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(lockOf(cache), old, old);
    await expect(buildTemporalCli(cache, quiet)).resolves.toBe(cachedCliPath(cache));
    expect(fs.existsSync(lockOf(cache))).toBe(false);

    // A fresh lock without a pid (its owner is between mkdir and writing it): waited for, not removed.
    const busy = path.join(dir, 'busy');
    fs.mkdirSync(lockOf(busy), { recursive: true });
    const building = buildTemporalCli(busy, quiet);
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(lockOf(busy))).toBe(true);
    fs.rmSync(lockOf(busy), { recursive: true }); // the owner finishes
    await expect(building).resolves.toBe(cachedCliPath(busy));
  });
});
