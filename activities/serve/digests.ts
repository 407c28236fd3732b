/**
 * The inputs digests of large requests, computed off the main thread. A digest is the sha256 of a
 * row's canonical JSON ({@link RowChecker.digest}); writing a row's numbers as JSON text costs
 * more than scoring it, so for a request of {@link OFF_THREAD_MIN_ROWS} rows or more the values go
 * to a worker thread (one Float64Array, transferred, plus the text columns) and the digests come
 * back, while the main thread answers other requests. Smaller requests are digested in place (a
 * message costs more than their digests). When the worker fails, the digests are computed in place:
 * a prediction event is never lost for want of its digest.
 */
import { Worker } from 'node:worker_threads';
import type { RequestRows, RowChecker } from './rows';

/** Requests with at least this many rows are digested on the worker thread. */
export const OFF_THREAD_MIN_ROWS = 64;

/** Plain JavaScript (the worker has no TypeScript loader): the same text as RowChecker.canonicalText. */
const DIGEST_WORKER = `
const { hash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  try {
    const { id, count, keys, numeric, width: d, numericAt, text, textAt } = m;
    const out = new Array(count);
    for (let r = 0; r < count; r++) {
      let s = '{';
      for (let i = 0; i < keys.length; i++) {
        const j = numericAt[i];
        const v = j >= 0 ? numeric[r * d + j] : text[textAt[i]][r];
        s += (i === 0 ? '' : ',') + keys[i] + JSON.stringify(v === undefined ? null : v);
      }
      out[r] = hash('sha256', s + '}', 'hex');
    }
    parentPort.postMessage({ id, digests: out });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message) });
  }
});
`;

interface Job {
  resolve: (digests: string[]) => void;
  reject: (err: Error) => void;
}

export class DigestWorker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private next = 0;
  /** Requests digested on the worker thread and in place (tests read them). */
  readonly counts = { offThread: 0, inPlace: 0 };

  /** The digests of every row of a checked request, in row order. */
  async digests(checker: RowChecker, rows: RequestRows): Promise<string[]> {
    if (rows.count >= OFF_THREAD_MIN_ROWS) {
      try {
        const digests = await this.offThread(checker, rows);
        this.counts.offThread++;
        return digests;
      } catch {
        // the worker failed: digest here (the next large request starts a new worker)
        this.stopWorker();
      }
    }
    this.counts.inPlace++;
    const out = new Array<string>(rows.count);
    for (let r = 0; r < rows.count; r++) out[r] = checker.digest(rows, r);
    return out;
  }

  private offThread(checker: RowChecker, rows: RequestRows): Promise<string[]> {
    const { numericFeatures, categoricalFeatures } = checker.signature;
    const keys = [...numericFeatures, ...categoricalFeatures].sort();
    const d = numericFeatures.length;
    const n = rows.count;
    const numeric = rows.numericRowMajor ? rows.numericRowMajor.slice() : new Float64Array(n * d);
    for (let j = 0; j < d && !rows.numericRowMajor; j++) {
      const f = numericFeatures[j] as string;
      const column = rows.numericColumn?.(f);
      if (column) for (let r = 0; r < n; r++) numeric[r * d + j] = column[r] as number;
      else for (let r = 0; r < n; r++) numeric[r * d + j] = rows.value(r, f) as number;
    }
    const text = categoricalFeatures.map((f) =>
      Array.from({ length: n }, (_, r) => (rows.value(r, f) as string | null | undefined) ?? null),
    );
    const message = {
      id: this.next++,
      count: n,
      keys: keys.map((k) => `${JSON.stringify(k)}:`),
      numeric,
      width: d,
      numericAt: keys.map((k) => numericFeatures.indexOf(k)),
      text,
      textAt: keys.map((k) => categoricalFeatures.indexOf(k)),
    };
    return new Promise<string[]>((resolve, reject) => {
      const worker = this.start();
      this.jobs.set(message.id, { resolve, reject });
      worker.postMessage(message, [numeric.buffer]);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(DIGEST_WORKER, { eval: true });
    worker.unref();
    worker.on('message', (m: { id: number; digests?: string[]; error?: string }) => {
      const job = this.jobs.get(m.id);
      this.jobs.delete(m.id);
      if (!job) return;
      if (m.digests) job.resolve(m.digests);
      else job.reject(new Error(m.error ?? 'the digest worker answered nothing'));
    });
    const failAll = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const job of this.jobs.values()) job.reject(err);
      this.jobs.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the digest worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private stopWorker(): void {
    const w = this.worker;
    this.worker = undefined;
    if (w) void w.terminate();
  }

  /** Stops the worker (requests still waiting are digested in place). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
