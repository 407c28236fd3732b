/**
 * GPU device slots of one worker: indexes 0..count−1 (SLUICE_GPU_COUNT), one per running training
 * activity, so that two trainings never share a device. The GPU worker runs at most `count`
 * activities at once (maxConcurrentActivityTaskExecutions), so a slot is normally free at once;
 * an acquire that finds none waits in arrival order (or until its activity is cancelled).
 */

/** A held device index; release it exactly once (later calls do nothing). */
export interface DeviceSlot {
  readonly index: number;
  release(): void;
}

export class DeviceSlots {
  private readonly free: number[];
  private readonly waiting: { resolve: (slot: DeviceSlot) => void; reject: (err: unknown) => void; signal?: AbortSignal }[] = [];

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`a device count must be a positive integer, got ${count}`);
    this.free = Array.from({ length: count }, (_, i) => i);
  }

  /** Indexes not held now, lowest first. */
  get available(): readonly number[] {
    return [...this.free];
  }

  /** The lowest free index, or the next one released; rejects with the signal's reason when it aborts first. */
  acquire(signal?: AbortSignal): Promise<DeviceSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('cancelled'));
    const index = this.free.shift();
    if (index !== undefined) return Promise.resolve(this.slot(index));
    return new Promise<DeviceSlot>((resolve, reject) => {
      const waiter = { resolve, reject, signal };
      this.waiting.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) {
            this.waiting.splice(at, 1);
            reject(signal.reason ?? new Error('cancelled'));
          }
        },
        { once: true },
      );
    });
  }

  private slot(index: number): DeviceSlot {
    let held = true;
    return {
      index,
      release: () => {
        if (!held) return;
        held = false;
        const next = this.waiting.shift();
        if (next) next.resolve(this.slot(index));
        else {
          this.free.push(index);
          this.free.sort((a, b) => a - b);
        }
      },
    };
  }
}
