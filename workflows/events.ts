/**
 * Events between workflows ("everything starts and ends with an event", shared/DESIGN.md).
 * Payloads carry log offsets, never rows. Offsets are decimal strings: `seq` is a bigint.
 */
import { defineSignal } from '@temporalio/workflow';

export interface DataLanded {
  source: string;
  /** First and last log offset (inclusive) of the rows that just landed in sluice.raw_events. */
  fromSeq: string;
  toSeq: string;
  batchId: string;
}

/** Sent to each `transform` workflow that reads `source`, by signal-with-start. */
export const dataLandedSignal = defineSignal<[DataLanded]>('dataLanded');

/** Workflow id of the long-lived incremental transform workflow of a transform. */
export function transformWorkflowId(transform: string): string {
  return `transform-${transform}`;
}

/** Workflow id of the long-lived ingest workflow of a source. */
export function ingestWorkflowId(source: string): string {
  return `ingest-${source}`;
}
