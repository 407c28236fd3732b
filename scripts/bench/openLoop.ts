/**
 * An open-loop load schedule: batches sent on a timer whatever the answers do, so a slow system
 * sees the same offered rate (a closed loop would slow down with it and hide the lag).
 */

export interface OpenLoopBatch {
  /** Milliseconds after the start at which the batch is sent. */
  atMs: number;
  /** Events in the batch. */
  events: number;
  /** Index of the batch's first event (0-based, over the whole run). */
  firstEvent: number;
}

/**
 * The batches of `ratePerSecond` events per second for `seconds`, one every `intervalMs`: batch k
 * carries the events due between its tick and the next, rounded so that the events sent by any
 * tick are the rate times the time elapsed (no drift from rounding). Ticks with no event due are
 * left out.
 */
export function openLoopBatches(ratePerSecond: number, seconds: number, intervalMs: number): OpenLoopBatch[] {
  if (!(ratePerSecond > 0) || !(seconds > 0) || !(intervalMs > 0))
    throw new Error(
      `an open-loop schedule needs a positive rate, duration and interval (got ${ratePerSecond}/s, ${seconds} s, ${intervalMs} ms)`,
    );
  const total = Math.round(ratePerSecond * seconds);
  const ticks = Math.ceil((seconds * 1000) / intervalMs);
  const out: OpenLoopBatch[] = [];
  let sent = 0;
  for (let k = 0; k < ticks; k++) {
    const due = Math.min(total, Math.round((ratePerSecond * ((k + 1) * intervalMs)) / 1000));
    if (due > sent) out.push({ atMs: k * intervalMs, events: due - sent, firstEvent: sent });
    sent = due;
  }
  return out;
}

/** The p-th percentile (0–100) of values each weighted by a count (nearest rank). */
export function weightedPercentile(values: { value: number; weight: number }[], p: number): number {
  const sorted = values.filter((v) => v.weight > 0).sort((a, b) => a.value - b.value);
  const total = sorted.reduce((s, v) => s + v.weight, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const v of sorted) {
    seen += v.weight;
    if (seen >= rank) return v.value;
  }
  return (sorted[sorted.length - 1] as { value: number }).value;
}
