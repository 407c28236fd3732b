/** `backfill` and its child `backfillRange`: rebuild a transform version from a log range. */
import { Type, type Static } from '@sinclair/typebox';
import { BuildId, Count, Seq, SeqOrZero, Sha256, TransformName, TransformVersion } from '../names';
import { defineWorkflow, returns } from './define';

export const BackfillResumeSchema = Type.Object(
  {
    buildId: BuildId,
    version: Type.Integer({ minimum: 1 }),
    fromSeq: Seq,
    toSeq: Seq,
    nextRange: Count,
    rowsRead: Count,
    rowsWritten: Count,
    runs: Count,
  },
  { additionalProperties: false },
);
export type BackfillResume = Static<typeof BackfillResumeSchema>;

export const BackfillInputSchema = Type.Object(
  {
    transform: TransformName,
    /** Default: the latest registered version. */
    version: Type.Optional(TransformVersion),
    /** Inclusive log range as decimal strings; default: the whole committed log. */
    fromSeq: Type.Optional(Seq),
    toSeq: Type.Optional(SeqOrZero),
    /** Width (in seq) of the range each child builds (default 500,000). */
    rangeSeqs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000000 })),
    /** Log rows per source per chunk activity (default 50,000). */
    chunkRows: Type.Optional(Type.Integer({ minimum: 1, maximum: 200000 })),
    /** Child workflows at a time (default 4). */
    parallelism: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    /** Refuse to switch unless the rebuilt content has this sha256. */
    expectedSha256: Type.Optional(Sha256),
    /** Point the view at the rebuilt version (default true). */
    switchView: Type.Optional(Type.Boolean()),
    /** Child workflows per run before continuing as new (default 250; about 10 history events each). */
    childrenPerRun: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    /** Set by continue-as-new only. */
    resume: Type.Optional(BackfillResumeSchema),
  },
  { additionalProperties: false },
);
export type BackfillInput = Static<typeof BackfillInputSchema>;

export interface BackfillProgress {
  /** `failed`: the run failed (its build was discarded); set before the failure leaves the workflow. */
  phase: 'preparing' | 'building' | 'hashing' | 'done' | 'failed';
  transform: string;
  version: number | null;
  buildId: string | null;
  fromSeq: string | null;
  toSeq: string | null;
  rangesTotal: number;
  rangesDone: number;
  rangesRunning: number;
  rowsRead: number;
  rowsWritten: number;
  /** Runs of this workflow so far (continue-as-new), this one included. */
  runs: number;
}

/** The hash and switch step's result. */
export interface FinishBackfillResult {
  sha256: string;
  rows: number;
  switched: boolean;
}

export interface BackfillResult extends FinishBackfillResult {
  transform: string;
  version: number;
  buildId: string;
  fromSeq: string;
  toSeq: string;
  ranges: number;
  rowsRead: number;
  rowsWritten: number;
  runs: number;
}

export const BackfillRangeInputSchema = Type.Object(
  {
    buildId: BuildId,
    transform: TransformName,
    version: TransformVersion,
    fromSeq: Seq,
    toSeq: Seq,
    chunkRows: Type.Integer({ minimum: 1, maximum: 200000 }),
    /** Totals carried over continue-as-new. */
    rowsRead: Type.Optional(Count),
    rowsWritten: Type.Optional(Count),
    chunks: Type.Optional(Count),
  },
  { additionalProperties: false },
);
export type BackfillRangeInput = Static<typeof BackfillRangeInputSchema>;

export interface BackfillRangeResult {
  rowsRead: number;
  rowsWritten: number;
  chunks: number;
}

export const backfill = defineWorkflow({
  name: 'backfill',
  description: 'Rebuild a transform version from a log range, hash it, switch the view.',
  input: BackfillInputSchema,
  result: returns<BackfillResult>(),
});

export const backfillRange = defineWorkflow({
  name: 'backfillRange',
  description: 'One range of a backfill (started by backfill as a child workflow).',
  input: BackfillRangeInputSchema,
  result: returns<BackfillRangeResult>(),
});
