/**
 * Sending data to sluice: small batches inline, large ones by reference (a file the workers can
 * read), and quarantine re-drive. Each call is an update-with-start on the source's long-lived
 * `ingest` workflow, so it starts the workflow when needed and answers with the batch's counts.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { ErrorCodes } from '../workflows/errors';
import { ingestWorkflowId } from '../workflows/events';
import {
  INLINE_BATCH_MAX_BYTES,
  INLINE_BATCH_MAX_EVENTS,
  SOURCE_PATTERN,
  batchRequestProblems,
  ingestBatchUpdate,
  type IngestBatchRequest,
  type IngestBatchResult,
  type IngestFormat,
  type IngestLocation,
} from '../workflows/ingestTypes';

export type { IngestBatchRequest, IngestBatchResult, IngestFormat, IngestLocation } from '../workflows/ingestTypes';
export { INLINE_BATCH_MAX_BYTES, INLINE_BATCH_MAX_EVENTS } from '../workflows/ingestTypes';

/** What the ingest calls need from a client (a {@link SluiceClient} has it). */
export interface IngestClientContext {
  temporal: Client;
  taskQueue: string;
  assertValidInput(workflowType: string, input: unknown): void;
}

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
  constructor(readonly bytes: number, readonly events: number) {
    super(
      `Inline batch of ${events} events (${bytes} bytes of JSON) is over the inline limit of ${INLINE_BATCH_MAX_BYTES} bytes / ${INLINE_BATCH_MAX_EVENTS} events. ` +
        "Write the events to an NDJSON file and use ingestFile(source, { kind: 'file', path }, { format: 'ndjson' }) instead: " +
        'files are streamed into the log with COPY and never pass through workflow history.',
    );
    this.name = 'IngestBatchTooLargeError';
  }
}

function checkSource(source: string): void {
  if (!SOURCE_PATTERN.test(source)) throw new Error(`Not a source name: ${JSON.stringify(source)} (expected ${String(SOURCE_PATTERN)})`);
}

/** Sends one batch request to the source's ingest workflow (starting it if needed) and waits for its counts. */
export async function sendIngestBatch(ctx: IngestClientContext, source: string, req: IngestBatchRequest, taskQueue?: string): Promise<IngestBatchResult> {
  checkSource(source);
  const problems = batchRequestProblems(req);
  if (problems.length) throw new Error(`Invalid ingest batch: ${problems.join('; ')}`);
  const input = { source };
  ctx.assertValidInput('ingest', input);
  const startWorkflowOperation = new WithStartWorkflowOperation('ingest', {
    workflowId: ingestWorkflowId(source),
    taskQueue: taskQueue ?? ctx.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return ctx.temporal.workflow.executeUpdateWithStart(ingestBatchUpdate, { args: [req], updateId: req.batchId, startWorkflowOperation });
}

/** Sends a small batch of events inline; refuses batches over the inline limit with {@link IngestBatchTooLargeError}. */
export async function ingestEvents(ctx: IngestClientContext, source: string, events: unknown[], options: IngestOptions = {}): Promise<IngestBatchResult> {
  if (!Array.isArray(events)) throw new TypeError('events must be an array');
  const bytes = Buffer.byteLength(JSON.stringify(events), 'utf8');
  if (bytes > INLINE_BATCH_MAX_BYTES || events.length > INLINE_BATCH_MAX_EVENTS) throw new IngestBatchTooLargeError(bytes, events.length);
  const req: IngestBatchRequest = { kind: 'inline', batchId: options.batchId ?? `inline-${randomUUID()}`, events };
  if (options.contractVersion) req.contractVersion = options.contractVersion;
  return sendIngestBatch(ctx, source, req, options.taskQueue);
}

/**
 * Ingests a file by reference (NDJSON, CSV with a header row, or Arrow IPC). A local path is
 * resolved here and must be readable by the workers.
 */
export async function ingestFile(ctx: IngestClientContext, source: string, location: IngestLocation, options: IngestFileOptions): Promise<IngestBatchResult> {
  let loc: IngestLocation;
  switch (location.kind) {
    case 'file':
      loc = { kind: 'file', path: path.resolve(location.path) };
      break;
    default:
      throw new Error(`Unsupported location kind ${JSON.stringify((location as { kind?: unknown }).kind)}`);
  }
  const req: IngestBatchRequest = { kind: 'file', batchId: options.batchId ?? `file-${randomUUID()}`, location: loc, format: options.format };
  if (options.contractVersion) req.contractVersion = options.contractVersion;
  return sendIngestBatch(ctx, source, req, options.taskQueue);
}

/** Re-drives the source's unresolved quarantine through the newest contract (after a contract fix). */
export async function redriveQuarantine(ctx: IngestClientContext, source: string, options: { batchId?: string; taskQueue?: string } = {}): Promise<IngestBatchResult> {
  return sendIngestBatch(ctx, source, { kind: 'redrive', batchId: options.batchId ?? `redrive-${randomUUID()}` }, options.taskQueue);
}
