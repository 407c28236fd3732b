// pause(): the polling loops' wait (ingest and transform catch-up, shadow window) leaves no abort
// listener behind, so a long wait does not pile them up on the activity's cancellation signal.
import { getEventListeners } from 'node:events';
import { pause } from '../../activities/heartbeat';

describe('pause', () => {
  it('waits, and removes its abort listener when the time is up', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) await pause(2, ac.signal);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(20);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('ends early when the signal aborts, and at once when it already has', async () => {
    const ac = new AbortController();
    const waiting = pause(60_000, ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    ac.abort();
    await waiting;
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const t0 = Date.now();
    await pause(60_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
