/**
 * Scoring with onnxruntime-node: the execution provider (CUDA only when the worker is configured
 * for a GPU and the provider loads, CPU otherwise, and always said which), batched inference over
 * the test rows, and inference latency.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ExecutionProviderName } from '../../api/models';
import { percentile } from './metrics';
import type { ModelInputs, TestRows } from './testSplit';

const NUMERIC_INPUT = 'numeric';

export type CreateSession = (model: Uint8Array, options: InferenceSession.SessionOptions) => Promise<InferenceSession>;

export interface OpenedSession {
  session: InferenceSession;
  provider: ExecutionProviderName;
  /** Why CUDA was not used although it was asked for. */
  note?: string;
}

/**
 * A session on CUDA when `wantCuda` and the provider loads (the CPU build of onnxruntime-node
 * throws "Failed to load shared library" here), otherwise on the CPU. A CPU failure is the
 * model's own problem and is thrown.
 */
export async function openInferenceSession(
  model: Uint8Array,
  wantCuda: boolean,
  create: CreateSession = (m, o) => InferenceSession.create(m, o),
): Promise<OpenedSession> {
  if (wantCuda) {
    try {
      return { session: await create(model, { executionProviders: ['cuda'] }), provider: 'cuda' };
    } catch (err) {
      const note = `CUDA was asked for but did not load (${(err as Error).message.split('\n')[0]}); scoring on the CPU`;
      return { session: await create(model, { executionProviders: ['cpu'] }), provider: 'cpu', note };
    }
  }
  return { session: await create(model, { executionProviders: ['cpu'] }), provider: 'cpu' };
}

/** Input tensors for rows `rowIndex(0..count-1)` of the test rows. */
export function feedsFor(data: TestRows, inputs: ModelInputs, count: number, rowIndex: (r: number) => number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  const d = inputs.numericFeatures.length;
  if (d > 0) {
    // every row in order (a serving request, a one-batch evaluation): the rows' own array, not a copy
    let all = count * d === data.numeric.length;
    for (let r = 0; all && r < count; r++) all = rowIndex(r) === r;
    let m = data.numeric;
    if (!all) {
      m = new Float32Array(count * d);
      for (let r = 0; r < count; r++) {
        const src = rowIndex(r) * d;
        m.set(data.numeric.subarray(src, src + d), r * d);
      }
    }
    feeds[NUMERIC_INPUT] = new Tensor('float32', m, [count, d]);
  }
  for (const name of inputs.categoricalFeatures) {
    const col = data.categorical.get(name) ?? [];
    feeds[name] = new Tensor(
      'string',
      Array.from({ length: count }, (_, r) => col[rowIndex(r)] ?? ''),
      [count, 1],
    );
  }
  return feeds;
}

export interface Scores {
  /** Classification: ArgMax class per row; regression: undefined. */
  predicted?: Int32Array;
  /** Row-major [rows × classes]. */
  probabilities?: Float32Array;
  /** Regression prediction per row. */
  value?: Float32Array;
}

/** Scores every test row, `batchSize` rows per call; `onBatch` after each (heartbeats, cancellation). */
export async function scoreRows(
  session: InferenceSession,
  data: TestRows,
  inputs: ModelInputs,
  options: { classCount: number; batchSize: number; onBatch: (done: number) => void },
): Promise<Scores> {
  const n = data.rows;
  const k = options.classCount;
  const out: Scores = k > 0 ? { predicted: new Int32Array(n), probabilities: new Float32Array(n * k) } : { value: new Float32Array(n) };
  for (let from = 0; from < n; from += options.batchSize) {
    const count = Math.min(options.batchSize, n - from);
    const result = await session.run(feedsFor(data, inputs, count, (r) => from + r));
    const label = result.label;
    if (!label) throw new Error('the model has no "label" output');
    if (k > 0) {
      const probs = result.probabilities;
      if (!probs) throw new Error('the classification model has no "probabilities" output');
      out.probabilities?.set(probs.data as Float32Array, from * k);
      const labels = label.data as BigInt64Array;
      for (let r = 0; r < count; r++) (out.predicted as Int32Array)[from + r] = Number(labels[r]);
    } else {
      out.value?.set(label.data as Float32Array, from);
    }
    options.onBatch(from + count);
  }
  return out;
}

/**
 * Latency of one `session.run` at `batchSize` rows (the test rows, repeated when there are fewer):
 * a few untimed warm-up runs, then up to `runs` timed runs or `budgetMs`, whichever comes first.
 */
export async function measureLatency(
  session: InferenceSession,
  data: TestRows,
  inputs: ModelInputs,
  options: { batchSize: number; runs: number; budgetMs: number; warmup?: number },
): Promise<{ batchSize: number; runs: number; p50Ms: number; p99Ms: number }> {
  const feeds = feedsFor(data, inputs, options.batchSize, (r) => r % data.rows);
  for (let i = 0; i < (options.warmup ?? 5); i++) await session.run(feeds);
  const times: number[] = [];
  const deadline = performance.now() + options.budgetMs;
  // at least one timed run, so a tiny budget still gives a number
  while (times.length < Math.max(1, options.runs) && (times.length === 0 || performance.now() < deadline)) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  return { batchSize: options.batchSize, runs: times.length, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99) };
}
