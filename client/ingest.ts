/**
 * Building ingest batch requests on the client side: inline batches are refused above the inline
 * limit before anything is sent, local file paths are made absolute for the workers.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { ErrorCodes } from '../api/errors';
import {
  INLINE_BATCH_MAX_BYTES,
  INLINE_BATCH_MAX_EVENTS,
  type IngestBatchRequest,
  type IngestFormat,
  type IngestLocation,
} from '../api/workflows/ingest';

export interface IngestOptions {
  /** Idempotency key of the batch: resending a batch with the same id returns its first counts. Default: a new UUID. */
  batchId?: string;
  /** Validate against this contract version instead of the newest. */
  contractVersion?: string;
  taskQueue?: string;
}

export interface IngestFileOptions extends IngestOptions {
  format: IngestFormat;
}

/** An inline batch over {@link INLINE_BATCH_MAX_BYTES}: refused before anything is sent. */
export class IngestBatchTooLargeError extends Error {
  readonly type = ErrorCodes.IngestBatchTooLarge;
  constructor(
    readonly bytes: number,
    readonly events: number,
  ) {
    super(
      `Inline batch of ${events} events (${bytes} bytes of JSON) is over the inline limit of ${INLINE_BATCH_MAX_BYTES} bytes / ${INLINE_BATCH_MAX_EVENTS} events. ` +
        "Write the events to an NDJSON file and use ingestFile(source, { kind: 'file', path }, { format: 'ndjson' }) instead: " +
        'files are streamed into the log with COPY and never pass through workflow history.',
    );
    this.name = 'IngestBatchTooLargeError';
  }
}

export function inlineBatch(events: unknown[], options: IngestOptions): IngestBatchRequest {
  if (!Array.isArray(events)) throw new TypeError('events must be an array');
  const bytes = Buffer.byteLength(JSON.stringify(events), 'utf8');
  if (bytes > INLINE_BATCH_MAX_BYTES || events.length > INLINE_BATCH_MAX_EVENTS) throw new IngestBatchTooLargeError(bytes, events.length);
  const req: IngestBatchRequest = { kind: 'inline', batchId: options.batchId ?? `inline-${randomUUID()}`, events };
  if (options.contractVersion) req.contractVersion = options.contractVersion;
  return req;
}

/** A file batch; a local path is resolved here and must be readable by the workers. */
export function fileBatch(location: IngestLocation, options: IngestFileOptions): IngestBatchRequest {
  if (location.kind !== 'file') throw new Error(`Unsupported location kind ${JSON.stringify((location as { kind?: unknown }).kind)}`);
  const req: IngestBatchRequest = {
    kind: 'file',
    batchId: options.batchId ?? `file-${randomUUID()}`,
    location: { kind: 'file', path: path.resolve(location.path) },
    format: options.format,
  };
  if (options.contractVersion) req.contractVersion = options.contractVersion;
  return req;
}
