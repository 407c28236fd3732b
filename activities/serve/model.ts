/**
 * A model loaded for serving: its bytes read through the artifact store and checked against the
 * sha256 the registry recorded **before** an InferenceSession is created (a file changed on disk is
 * refused, never run), its signature read from the file, and one session kept open while any
 * endpoint serves it.
 */
import { InferenceSession } from 'onnxruntime-node';
import type { ModelClassLabel } from '../../api/models';
import type { ArtifactStore } from '../artifacts';
import { openInferenceSession, scoreRows } from '../evaluate/scoring';
import { readModelSignature } from '../onnx/signature';
import { readVerifiedArtifact } from '../verifiedArtifact';
import type { TestRows } from '../evaluate/testSplit';
import { objectRows, RowChecker, type RequestRows } from './rows';

/** What a model answers for one row: classification label and class probabilities, or a regression value. */
export type RowOutputs = { label: ModelClassLabel; probabilities: Record<string, number> } | { value: number };

export interface ModelRef {
  name: string;
  version: number;
  sha256: string;
}

/**
 * Requests with fewer rows than this are micro-batched: scored together with the other small
 * requests that reach the model in the same turn of the event loop, in one session.run (what
 * serving systems such as Triton or TF Serving do), each answered with its own rows.
 */
export const MICRO_BATCH_MAX_REQUEST_ROWS = 64;
/** A micro-batch is scored as soon as it holds this many rows, without waiting for the end of the turn. */
export const MICRO_BATCH_MAX_ROWS = 1024;

interface Waiting {
  data: TestRows;
  resolve: (outputs: RowOutputs[]) => void;
  reject: (err: unknown) => void;
}

/** Rows of several requests, one after the other (their feature order is the model's). */
function concatInputs(parts: readonly TestRows[], d: number): TestRows {
  const n = parts.reduce((a, p) => a + p.rows, 0);
  const numeric = new Float32Array(n * d);
  const categorical = new Map<string, string[]>();
  let at = 0;
  for (const p of parts) {
    numeric.set(p.numeric, at * d);
    for (const [f, col] of p.categorical) {
      let all = categorical.get(f);
      if (!all) categorical.set(f, (all = []));
      for (const v of col) all.push(v);
    }
    at += p.rows;
  }
  return { rows: n, numeric, categorical, fileRows: n };
}

export class LoadedModel {
  /** Requests scoring with it now (waiting in a micro-batch included); its session is released once it is retired and this is 0. */
  private users = 0;
  private retired = false;
  private waiting: Waiting[] = [];
  private waitingRows = 0;
  private scheduled = false;
  /** session.run calls and the requests they answered (tests and the bench read them). */
  readonly runs = { calls: 0, requests: 0 };

  constructor(
    readonly ref: ModelRef,
    readonly session: InferenceSession,
    readonly rows: RowChecker,
  ) {}

  get key(): string {
    return modelKey(this.ref);
  }

  /** Scores checked rows (see {@link RowChecker}); a small request joins a micro-batch. */
  async score(rows: RequestRows): Promise<RowOutputs[]> {
    return this.scoreInputs(this.rows.inputs(rows));
  }

  /** Scores model inputs built by {@link RowChecker.inputs} (for this model's signature, or one equal to it). */
  async scoreInputs(data: TestRows): Promise<RowOutputs[]> {
    this.users++;
    try {
      if (data.rows >= MICRO_BATCH_MAX_REQUEST_ROWS) {
        this.runs.requests++;
        return await this.run(data);
      }
      return await new Promise<RowOutputs[]>((resolve, reject) => {
        this.waiting.push({ data, resolve, reject });
        this.waitingRows += data.rows;
        if (this.waitingRows >= MICRO_BATCH_MAX_ROWS) this.runWaiting();
        else if (!this.scheduled) {
          this.scheduled = true;
          setImmediate(() => {
            this.scheduled = false;
            this.runWaiting();
          });
        }
      });
    } finally {
      this.users--;
      if (this.retired && this.users === 0) void this.session.release();
    }
  }

  /** Scores the micro-batch waiting now, in one session.run, and answers each request with its rows. */
  private runWaiting(): void {
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    this.waitingRows = 0;
    this.runs.requests += batch.length;
    const data =
      batch.length === 1
        ? (batch[0] as Waiting).data
        : concatInputs(
            batch.map((w) => w.data),
            this.rows.signature.numericFeatures.length,
          );
    this.run(data).then(
      (outputs) => {
        let at = 0;
        for (const w of batch) {
          w.resolve(batch.length === 1 ? outputs : outputs.slice(at, at + w.data.rows));
          at += w.data.rows;
        }
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }

  private async run(data: TestRows): Promise<RowOutputs[]> {
    this.runs.calls++;
    const sig = this.rows.signature;
    const k = sig.classes.length;
    const scores = await scoreRows(this.session, data, sig, {
      classCount: k,
      batchSize: Math.max(1, data.rows),
      onBatch: () => undefined,
    });
    const out: RowOutputs[] = new Array(data.rows);
    if (k === 0) {
      const value = scores.value as Float32Array;
      for (let r = 0; r < data.rows; r++) out[r] = { value: value[r] as number };
      return out;
    }
    const predicted = scores.predicted as Int32Array;
    const probs = scores.probabilities as Float32Array;
    const keys = sig.classes.map(String);
    for (let r = 0; r < data.rows; r++) {
      const probabilities: Record<string, number> = {};
      for (let c = 0; c < k; c++) probabilities[keys[c] as string] = probs[r * k + c] as number;
      out[r] = { label: sig.classes[predicted[r] as number] as ModelClassLabel, probabilities };
    }
    return out;
  }

  /** No endpoint serves it any more: its session is released when the last request using it ends. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.users === 0) void this.session.release();
  }
}

export const modelKey = (ref: ModelRef): string => `${ref.name}@${ref.version}:${ref.sha256}`;

/**
 * Reads `ref`'s ONNX file from the store, refuses bytes whose sha256 is not `ref.sha256`
 * (SLUICE_ARTIFACT_CORRUPT; absent: SLUICE_ARTIFACT_NOT_FOUND) before any session exists, reads
 * its signature (a file without sluice's metadata is refused) and opens a CPU session.
 */
export async function loadModel(artifacts: ArtifactStore, ref: ModelRef): Promise<LoadedModel> {
  const what = `ONNX model of ${ref.name}@${ref.version}`;
  const bytes = await readVerifiedArtifact(artifacts, ref.sha256, what);
  const signature = readModelSignature(bytes, `model ${ref.name}@${ref.version}`);
  // One intra-op thread per session: a request holds few rows, and the service scores many requests
  // at once; ONNX Runtime's default (a spinning thread per core) starves the event loop and PostgreSQL.
  const opened = await openInferenceSession(bytes, false, (m, o) =>
    InferenceSession.create(m, { ...o, intraOpNumThreads: 1, interOpNumThreads: 1 }),
  );
  const model = new LoadedModel(ref, opened.session, new RowChecker(signature));
  // One run before it serves: a model that loads but cannot score is refused here, and the first
  // request after a switch does not pay for the session's lazy set-up.
  const probe: Record<string, unknown> = {};
  for (const f of signature.numericFeatures) probe[f] = 0;
  for (const f of signature.categoricalFeatures) probe[f] = null;
  try {
    await model.score(objectRows([probe]));
  } catch (err) {
    await opened.session.release();
    throw err;
  }
  return model;
}
