import { inGroups } from '../../activities/concurrency';

describe('inGroups', () => {
  it('runs every item, at most `limit` at once, a group at a time', async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    await inGroups([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      started.push(x);
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5 * (x % 3)));
      running--;
    });
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
  });

  it('rejects at the first failure and starts no later group', async () => {
    const started: number[] = [];
    const run = inGroups([1, 2, 3, 4], 2, async (x) => {
      started.push(x);
      if (x === 2) throw new Error('two failed');
    });
    await expect(run).rejects.toThrow('two failed');
    expect(started).toEqual([1, 2]);
  });

  it('does nothing for no items and treats a limit below 1 as 1', async () => {
    const seen: number[] = [];
    await inGroups([], 4, async () => void seen.push(0));
    await inGroups([1, 2], 0, async (x) => void seen.push(x));
    expect(seen).toEqual([1, 2]);
  });
});
