/**
 * The ingest API shared by the client, the `ingest` workflow and its activities (pure types and
 * checks, safe in the workflow sandbox). Batches carry events inline (small) or a reference to a
 * file; history never carries a file's rows.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export type IngestFormat = 'ndjson' | 'csv' | 'arrow';
export const INGEST_FORMATS: readonly IngestFormat[] = ['ndjson', 'csv', 'arrow'];

/** Where a batch's bytes are. A discriminated union so that object storage can be added as a new kind. */
export type IngestLocation = { kind: 'file'; path: string };

export type IngestBatchRequest =
  | {
      kind: 'inline';
      batchId: string;
      events: unknown[];
      /** Validate against this contract version instead of the newest. */
      contractVersion?: string;
    }
  | { kind: 'file'; batchId: string; location: IngestLocation; format: IngestFormat; contractVersion?: string }
  /** Sends the source's unresolved quarantine through the normal path again (after a contract fix). */
  | { kind: 'redrive'; batchId: string };

/** Counts of one batch. Invariant: received = accepted + quarantined + duplicates, exactly. */
export interface IngestBatchResult {
  source: string;
  batchId: string;
  contract: string;
  contractVersion: string;
  received: number;
  accepted: number;
  quarantined: number;
  duplicates: number;
  /** First and last log offset (inclusive, decimal strings) of the accepted rows; null when none. */
  fromSeq: string | null;
  toSeq: string | null;
}

export interface IngestInput {
  source: string;
  /** Batches received by signal but not yet processed when the previous run continued-as-new. */
  pending?: IngestBatchRequest[];
  /** Continue-as-new once history has this many events (default {@link INGEST_HISTORY_LIMIT}). */
  continueAsNewAfterEvents?: number;
}

/** Continue-as-new well before Temporal's 10,000-event warning (shared/DESIGN.md principle 5). */
export const INGEST_HISTORY_LIMIT = 2_000;
/** Inline batches above this (JSON bytes) are refused: send a file instead. Temporal's payload limit is 2 MB; sluice's target is 256 KB. */
export const INLINE_BATCH_MAX_BYTES = 192 * 1024;
export const INLINE_BATCH_MAX_EVENTS = 10_000;
export const BATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
export const SOURCE_PATTERN = /^[a-z][a-z0-9_]{0,99}$/;

/** Checks a batch request's shape (used by the update validator and the client); returns the problems. */
export function batchRequestProblems(req: unknown): string[] {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return ['batch must be an object'];
  const r = req as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof r.batchId !== 'string' || !BATCH_ID_PATTERN.test(r.batchId)) problems.push(`batchId must match ${String(BATCH_ID_PATTERN)}`);
  if (r.contractVersion !== undefined && (typeof r.contractVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(r.contractVersion))) {
    problems.push('contractVersion must look like 1.2.3');
  }
  switch (r.kind) {
    case 'inline':
      if (!Array.isArray(r.events)) problems.push('events must be an array');
      else if (r.events.length > INLINE_BATCH_MAX_EVENTS) problems.push(`at most ${INLINE_BATCH_MAX_EVENTS} inline events per batch; send a file instead`);
      break;
    case 'file': {
      const loc = r.location as Record<string, unknown> | undefined;
      if (!loc || loc.kind !== 'file' || typeof loc.path !== 'string' || loc.path.length === 0) problems.push('location must be { kind: "file", path }');
      if (!INGEST_FORMATS.includes(r.format as IngestFormat)) problems.push(`format must be one of ${INGEST_FORMATS.join(', ')}`);
      break;
    }
    case 'redrive':
      break;
    default:
      problems.push('kind must be inline, file or redrive');
  }
  return problems;
}

/** Sends one batch and returns its counts (the TS client uses update-with-start). */
export const ingestBatchUpdate = defineUpdate<IngestBatchResult, [IngestBatchRequest]>('ingestBatch');
/** Fire-and-forget form of {@link ingestBatchUpdate}, for signal-with-start from any SDK. */
export const ingestBatchSignal = defineSignal<[IngestBatchRequest]>('ingestBatchAsync');

export interface IngestStatus {
  source: string;
  batchesDone: number;
  batchesFailed: number;
  queued: number;
  lastResult: IngestBatchResult | null;
}
export const ingestStatusQuery = defineQuery<IngestStatus>('ingestStatus');
