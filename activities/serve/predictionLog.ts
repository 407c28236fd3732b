/**
 * The loop closes: every prediction becomes an event in the log, of the endpoint's own source
 * ({@link predictionSource}) under the `predictions` contract, written in batches off the request
 * path through the ingest log writer (appendBatch: contract check, quarantine, idempotent per
 * batch). Requests append to a buffer; a timer flushes it every `flushMs`, or sooner when
 * `flushEvents` wait. A failed write keeps its batch (same batch id, so a retry after a partial
 * commit neither loses nor duplicates rows) and is tried again at the next flush.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Pool } from 'pg';
import type { Contract, ContractRegistry } from '../../contracts/registry';
import { RecordClassifier } from '../ingest/classify';
import { appendBatch } from '../ingest/logWriter';
import type { SourceRecord } from '../ingest/readers';
import type { ModelRef, RowOutputs } from './model';

/** The contract of prediction events (contracts/sources/predictions.v*.json). */
export const PREDICTIONS_CONTRACT = 'predictions';

/**
 * The log source of an endpoint's predictions. Source names are contract-style identifiers
 * (`^[a-z][a-z0-9_]{0,62}$`, api/names.ts), so `predictions.<endpoint>` cannot be one: it is
 * `predictions_<endpoint>` with '-' written as '_' (two endpoints differing only there share a
 * source; every event names its endpoint).
 */
export function predictionSource(endpoint: string): string {
  return `predictions_${endpoint.replace(/-/g, '_')}`;
}

/** One prediction event's payload (the `predictions` contract). */
export interface PredictionEvent {
  event_id: string;
  request_id: string;
  endpoint: string;
  row: number;
  answered_at: string;
  model: ModelRef;
  inputs_digest: string;
  outputs: RowOutputs;
  latency_ms: number;
  shadow?: {
    session_id: number;
    version: number;
    sha256: string;
    outputs?: RowOutputs;
    latency_ms?: number;
    /** The candidate could not score the row (the champion's answer went out regardless). */
    error?: string;
  };
}

/** Events judged between two turns of the event loop while a batch is written (requests are answered in between). */
const EVENTS_PER_TURN = 256;

/** Whether every number in a value is finite (a model can answer NaN; jsonb cannot store it). */
function allFinite(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (v === null || typeof v !== 'object') return true;
  for (const x of Object.values(v)) if (!allFinite(x)) return false;
  return true;
}

/**
 * The batch's events as records, giving the event loop a turn every {@link EVENTS_PER_TURN}: a
 * large flush does not hold up answers. An event goes with its JSON text when its numbers are all
 * finite, which spares the log writer its walk for what jsonb cannot store (see SourceRecord); the
 * contract check is the same, and an event that fails it is quarantined as before.
 */
export async function* eventRecords(events: readonly PredictionEvent[]): AsyncGenerator<SourceRecord> {
  for (let i = 0; i < events.length; i++) {
    if (i > 0 && i % EVENTS_PER_TURN === 0) await nextTurn();
    const value = events[i];
    yield allFinite(value) ? { kind: 'value', value, text: JSON.stringify(value) } : { kind: 'value', value };
  }
}

interface Pending {
  source: string;
  events: PredictionEvent[];
  /** Date.now() when each event's answer went out (for the lag). */
  answeredAt: number[];
}

interface Batch extends Pending {
  batchId: string;
}

export interface PredictionLogOptions {
  pool: Pool;
  contracts: ContractRegistry;
  flushMs: number;
  flushEvents: number;
  /** A write failed (it is retried at the next flush). */
  onWriteFailure: (err: unknown, batch: { source: string; events: number }) => void;
  /** A batch is in the log: per event, ms from its answer to the commit. */
  onWritten?: (lagsMs: number[], result: { accepted: number; quarantined: number; duplicates: number; writeMs: number }) => void;
}

export class PredictionLog {
  private readonly pending = new Map<string, Pending>();
  /** Batches taken from `pending` that are not in the log yet (retried in order). */
  private readonly unwritten: Batch[] = [];
  private bufferedEvents = 0;
  private flushing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly contract: Contract;
  private readonly classifier: RecordClassifier;

  constructor(private readonly o: PredictionLogOptions) {
    this.contract = o.contracts.get(PREDICTIONS_CONTRACT);
    this.classifier = new RecordClassifier(this.contract, o.contracts.validator(PREDICTIONS_CONTRACT, this.contract.version));
  }

  /** Starts the flush timer. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.o.flushMs);
    this.timer.unref();
  }

  /** Events waiting to be written (buffered or being written). */
  get buffered(): number {
    return this.bufferedEvents;
  }

  /** Age of the oldest event not yet in the log, ms (0 when none). */
  oldestWaitMs(now = Date.now()): number {
    let oldest = Infinity;
    for (const b of this.unwritten) if (b.answeredAt.length > 0) oldest = Math.min(oldest, b.answeredAt[0] as number);
    for (const p of this.pending.values()) if (p.answeredAt.length > 0) oldest = Math.min(oldest, p.answeredAt[0] as number);
    return oldest === Infinity ? 0 : Math.max(0, now - oldest);
  }

  append(events: PredictionEvent[], answeredAt: number): void {
    if (events.length === 0) return;
    const source = predictionSource((events[0] as PredictionEvent).endpoint);
    let p = this.pending.get(source);
    if (!p) {
      p = { source, events: [], answeredAt: [] };
      this.pending.set(source, p);
    }
    for (const e of events) {
      p.events.push(e);
      p.answeredAt.push(answeredAt);
    }
    this.bufferedEvents += events.length;
    if (this.bufferedEvents >= this.o.flushEvents) void this.flush();
  }

  /** Writes everything buffered now (one flush at a time; a call during a flush waits for it and flushes again). */
  flush(): Promise<void> {
    const run = async (): Promise<void> => {
      for (const p of this.pending.values()) this.unwritten.push({ ...p, batchId: `serve-${randomUUID()}` });
      this.pending.clear();
      while (this.unwritten.length > 0) {
        const batch = this.unwritten[0] as Batch;
        const t0 = performance.now();
        try {
          const result = await appendBatch(
            { pool: this.o.pool, source: batch.source, batchId: batch.batchId, contract: this.contract, classifier: this.classifier },
            eventRecords(batch.events),
          );
          const now = Date.now();
          this.unwritten.shift();
          this.bufferedEvents -= batch.events.length;
          this.o.onWritten?.(
            batch.answeredAt.map((t) => now - t),
            { ...result, writeMs: performance.now() - t0 },
          );
        } catch (err) {
          this.o.onWriteFailure(err, { source: batch.source, events: batch.events.length });
          return; // kept, with its batch id, for the next flush
        }
      }
    };
    // At most one flush waits behind the running one: appends during a flush join it.
    if (!this.queued) {
      const queued: Promise<void> = (this.flushing ?? Promise.resolve()).then(async () => {
        this.queued = undefined;
        this.flushing = queued;
        try {
          await run();
        } finally {
          if (this.flushing === queued) this.flushing = undefined;
        }
      });
      this.queued = queued;
    }
    return this.queued;
  }

  /** Stops the timer and writes what is buffered; tries `attempts` times before giving up (the rest is reported). */
  async close(attempts = 5): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (let i = 0; i < attempts && this.bufferedEvents > 0; i++) {
      await this.flush();
      if (this.bufferedEvents > 0) await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
    return this.bufferedEvents;
  }
}
