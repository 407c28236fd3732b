/** `transform`: the long-lived incremental workflow of one transform (workflow id transform-<name>). */
import { Type, type Static } from '@sinclair/typebox';
import { Count, TransformName } from '../names';
import { defineWorkflow, returns } from './define';

export const TransformTotalsSchema = Type.Object(
  { chunks: Count, rowsRead: Count, rowsWritten: Count, signals: Count, runs: Count },
  { additionalProperties: false },
);
export type TransformTotals = Static<typeof TransformTotalsSchema>;

export const TransformInputSchema = Type.Object(
  {
    transform: TransformName,
    /** Log rows per source per chunk (default 200,000). */
    chunkRows: Type.Optional(Type.Integer({ minimum: 1, maximum: 200000 })),
    /** Chunks running at once (default 2); 1 runs them one after the other. */
    parallelism: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
    /** Seconds one run of chunks (one activity) keeps starting chunks (default 20). */
    runSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    /** Catch up from the watermark at least this often without a signal (default 60). */
    idleSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
    /** Continue-as-new once the history has this many events (default 4,000). */
    historyLimit: Type.Optional(Type.Integer({ minimum: 20, maximum: 9000 })),
    /** Totals carried over continue-as-new. */
    totals: Type.Optional(TransformTotalsSchema),
  },
  { additionalProperties: false },
);
export type TransformInput = Static<typeof TransformInputSchema>;

export interface TransformStatus extends TransformTotals {
  transform: string;
  /** `failed`: the workflow failed (its SQL failed on the data…); set before the failure leaves it. */
  state: 'starting' | 'processing' | 'idle' | 'failed';
  /** Live version written by the last chunk, e.g. "v2". */
  version: string | null;
  /** Watermark after the last chunk (decimal string). */
  watermark: string | null;
  /** End of the latest dataLanded range seen. */
  lastLandedSeq: string | null;
  /**
   * Chunks running now. Since `chunk-runs` the workflow sees a run of chunks only when it returns:
   * while one runs this is the most it runs at once (`parallelism`), and the counts above are
   * those of the runs before it (the running one heartbeats its own totals: the pending
   * activity's heartbeat details in `describe()` and the UI).
   */
  chunksInFlight: number;
  /** Runs of chunks (activities) finished in this workflow run; 0 for runs recorded before `chunk-runs`. */
  chunkRuns: number;
  /** Chunks rolled back as `deferred` in this run (planned again). */
  deferred: number;
}

export const transform = defineWorkflow({
  name: 'transform',
  description: 'The long-lived incremental workflow of one transform (workflow id transform-<name>).',
  input: TransformInputSchema,
  result: returns<never>(),
});
