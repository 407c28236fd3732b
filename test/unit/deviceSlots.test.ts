// The GPU worker's device slots: indexes 0..N-1, one per running training, never shared.
import { DeviceSlots } from '../../activities/train/deviceSlots';

describe('DeviceSlots', () => {
  it('hands out 0..N-1, lowest free first, and takes each back once', async () => {
    const slots = new DeviceSlots(3);
    const a = await slots.acquire();
    const b = await slots.acquire();
    const c = await slots.acquire();
    expect([a.index, b.index, c.index]).toEqual([0, 1, 2]);
    expect(slots.available).toEqual([]);
    b.release();
    b.release(); // a second release does not free the index twice
    expect(slots.available).toEqual([1]);
    a.release();
    expect(slots.available).toEqual([0, 1]);
    expect((await slots.acquire()).index).toBe(0);
  });

  it('a caller that finds none waits for the next release, in arrival order; a cancelled one stops waiting', async () => {
    const slots = new DeviceSlots(1);
    const first = await slots.acquire();
    const order: string[] = [];
    const cancel = new AbortController();
    const second = slots.acquire().then((s) => (order.push(`second:${s.index}`), s));
    const cancelled = slots.acquire(cancel.signal).catch((err: Error) => (order.push(`cancelled:${err.message}`), undefined));
    const third = slots.acquire().then((s) => (order.push(`third:${s.index}`), s));
    cancel.abort(new Error('activity cancelled'));
    await cancelled;
    first.release();
    (await second).release();
    (await third).release();
    expect(order).toEqual(['cancelled:activity cancelled', 'second:0', 'third:0']);
    expect(slots.available).toEqual([0]);
    await expect(slots.acquire(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => new DeviceSlots(0)).toThrow(/positive integer, got 0/);
    expect(() => new DeviceSlots(1.5)).toThrow(RangeError);
  });
});
