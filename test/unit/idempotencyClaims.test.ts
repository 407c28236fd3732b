// Expiry of the HTTP endpoint's Idempotency-Key claims (workers/httpIngest.ts): claims older than
// the retention go, recent ones stay, a crash's stale drafts go, anything else is left alone.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expireIdempotencyClaims } from '../../workers/httpIngest';

const DAY = 86_400_000;

describe('expireIdempotencyClaims', () => {
  it('removes claims older than the retention and stale drafts, and nothing else', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-keys-'));
    const now = Date.now();
    const write = (name: string, ageMs: number): void => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, '{}');
      const t = new Date(now - ageMs);
      fs.utimesSync(file, t, t);
    };
    const hex = (c: string) => c.repeat(64);
    write(`${hex('a')}.json`, 31 * DAY); // expired
    write(`${hex('b')}.json`, 29 * DAY); // kept
    write(`${hex('c')}.json`, 1000); // kept
    write(`.${hex('d')}.0b5e7a2c-1f.tmp`, 2 * 3_600_000); // a crash's draft: gone
    write(`.${hex('e')}.9a1c.tmp`, 60_000); // a draft being linked now: stays
    write('notes.txt', 400 * DAY); // not ours: stays
    try {
      expect(await expireIdempotencyClaims(dir, 30 * DAY, now)).toEqual({ removed: 2, kept: 2 });
      expect(fs.readdirSync(dir).sort()).toEqual([`.${hex('e')}.9a1c.tmp`, `${hex('b')}.json`, `${hex('c')}.json`, 'notes.txt'].sort());
      // again: nothing more to do
      expect(await expireIdempotencyClaims(dir, 30 * DAY, now)).toEqual({ removed: 0, kept: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers nothing removed when no claim was ever written', async () => {
    expect(await expireIdempotencyClaims(path.join(os.tmpdir(), `sluice-no-keys-${process.pid}-${Date.now()}`), DAY)).toEqual({
      removed: 0,
      kept: 0,
    });
  });
});
