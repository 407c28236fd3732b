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
import { RowChecker } from './rows';

/** What a model answers for one row: classification label and class probabilities, or a regression value. */
export type RowOutputs = { label: ModelClassLabel; probabilities: Record<string, number> } | { value: number };

export interface ModelRef {
  name: string;
  version: number;
  sha256: string;
}

export class LoadedModel {
  /** Requests scoring with it now; its session is released once it is retired and this is 0. */
  private users = 0;
  private retired = false;

  constructor(
    readonly ref: ModelRef,
    readonly session: InferenceSession,
    readonly rows: RowChecker,
  ) {}

  get key(): string {
    return modelKey(this.ref);
  }

  /** Scores checked rows (see {@link RowChecker}); one session.run for all of them. */
  async score(rows: readonly Record<string, unknown>[]): Promise<RowOutputs[]> {
    this.users++;
    try {
      const sig = this.rows.signature;
      const data = this.rows.inputs(rows);
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
    } finally {
      this.users--;
      if (this.retired && this.users === 0) void this.session.release();
    }
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
    await model.score([probe]);
  } catch (err) {
    await opened.session.release();
    throw err;
  }
  return model;
}
