/**
 * `ingest`: one long-lived workflow per source. Batches arrive inline (small) or by reference (a
 * file); history never carries a file's rows.
 */
import { Type, type Static } from '@sinclair/typebox';
import { BatchId, SemVer, SourceName } from '../names';
import { defineWorkflow, returns } from './define';

export const INGEST_FORMATS = ['ndjson', 'csv', 'arrow'] as const;
/** Inline batches above this (JSON bytes) are refused: send a file instead. Temporal's payload limit is 2 MB; sluice's target is 256 KB. */
export const INLINE_BATCH_MAX_BYTES = 192 * 1024;
export const INLINE_BATCH_MAX_EVENTS = 10_000;
/** Continue-as-new well before Temporal's 10,000-event warning (docs/architecture.md, principle 5). */
export const INGEST_HISTORY_LIMIT = 2_000;

export const IngestFormatSchema = Type.Union([Type.Literal('ndjson'), Type.Literal('csv'), Type.Literal('arrow')]);
export type IngestFormat = (typeof INGEST_FORMATS)[number];

/** Where a batch's bytes are. A discriminated union so that object storage can be added as a new kind. */
export const IngestLocationSchema = Type.Object(
  { kind: Type.Literal('file'), path: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);
export type IngestLocation = Static<typeof IngestLocationSchema>;

/** Validate against this contract version instead of the newest. */
const contractVersion = Type.Optional(SemVer);

export const IngestBatchRequestSchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('inline'),
      batchId: BatchId,
      events: Type.Array(Type.Unknown(), { maxItems: INLINE_BATCH_MAX_EVENTS }),
      contractVersion,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal('file'), batchId: BatchId, location: IngestLocationSchema, format: IngestFormatSchema, contractVersion },
    { additionalProperties: false },
  ),
  /** Sends the source's unresolved quarantine through the normal path again (after a contract fix). */
  Type.Object({ kind: Type.Literal('redrive'), batchId: BatchId }, { additionalProperties: false }),
]);
export type IngestBatchRequest = Static<typeof IngestBatchRequestSchema>;

export const IngestInputSchema = Type.Object(
  {
    source: SourceName,
    /** Batches received by signal but not yet processed when the previous run continued-as-new. */
    pending: Type.Optional(Type.Array(IngestBatchRequestSchema, { maxItems: 1000 })),
    /** Continue-as-new once history has this many events (default {@link INGEST_HISTORY_LIMIT}). */
    continueAsNewAfterEvents: Type.Optional(Type.Integer({ minimum: 50, maximum: 9000 })),
  },
  { additionalProperties: false },
);
export type IngestInput = Static<typeof IngestInputSchema>;

/**
 * Counts of one batch. Invariant: received = accepted + quarantined + duplicates, exactly. A
 * duplicate is an event id the log already holds with the same payload; one with another payload
 * is quarantined (reason code `conflicting_duplicate`) and counted in `conflicting` as well.
 */
export interface IngestBatchResult {
  source: string;
  batchId: string;
  contract: string;
  contractVersion: string;
  received: number;
  accepted: number;
  quarantined: number;
  /** The quarantined events whose id was received before with another payload: part of `quarantined`. */
  conflicting: number;
  duplicates: number;
  /** First and last log offset (inclusive, decimal strings) of the accepted rows; null when none. */
  fromSeq: string | null;
  toSeq: string | null;
}

export interface IngestStatus {
  source: string;
  batchesDone: number;
  batchesFailed: number;
  queued: number;
  lastResult: IngestBatchResult | null;
  /**
   * Batches whose `dataLanded` could not be sent after all retries (their rows are in the log and
   * were answered; readers catch up on their next wake-up). Absent from runs before the patch.
   */
  signalsFailed?: number;
  lastSignalFailure?: { batchId: string; fromSeq: string; toSeq: string; error: string } | null;
}

/** Payload of `dataLandedSignal`: offsets, never rows. Offsets are decimal strings (`seq` is a bigint). */
export interface DataLanded {
  source: string;
  /** First and last log offset (inclusive) of the rows that just landed in sluice.raw_events. */
  fromSeq: string;
  toSeq: string;
  batchId: string;
}

export const ingest = defineWorkflow({
  name: 'ingest',
  description:
    'The long-lived ingest workflow of one source (workflow id ingest-<source>). Batches arrive by the update ingestBatch or the signal ingestBatchAsync.',
  input: IngestInputSchema,
  result: returns<void>(),
});
