/**
 * `transform`: the long-lived incremental workflow of one transform (id `transformWorkflowId(name)`).
 * It consumes the log from the live version's watermark in chunks, one activity per chunk, sleeps
 * when caught up, and wakes on `dataLanded` or after `idleSeconds` (a lost signal delays work,
 * never loses it: every chunk starts from the watermark in the database, not from the signal).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CpuActivities } from '../activities';
import { dataLandedSignal } from './events';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from './searchAttributes';

const INPUT_CHECK = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } } as const;
/**
 * A chunk is one transaction over tens of thousands of rows (about a second). It runs as a local
 * activity: no server round trip per chunk (which cost as much as the chunk itself), and chunks
 * that follow each other quickly share one workflow task. If the worker dies, the workflow task
 * times out and the chunk runs again elsewhere; the chunk is idempotent, so nothing is lost or doubled.
 */
const TRANSFORM_CHUNK = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
} as const;
export const DEFAULT_CHUNK_ROWS = 50_000;
const DEFAULT_IDLE_SECONDS = 60;
/** Continue-as-new well before the 10,000-event target (shared/DESIGN.md principle 5). */
const MAX_HISTORY_EVENTS = 4_000;

export interface TransformInput {
  transform: string;
  /** Log rows per source per chunk (default 50,000). */
  chunkRows?: number;
  /** Catch up from the watermark at least this often without a signal (default 60). */
  idleSeconds?: number;
  /** Continue-as-new once the history has this many events (default 4,000). */
  historyLimit?: number;
  /** Totals carried over continue-as-new. */
  totals?: TransformTotals;
}

export interface TransformTotals {
  chunks: number;
  rowsRead: number;
  rowsWritten: number;
  signals: number;
  runs: number;
}

export interface TransformStatus extends TransformTotals {
  transform: string;
  state: 'starting' | 'processing' | 'idle';
  /** Live version written by the last chunk, e.g. "v2". */
  version: string | null;
  /** Watermark after the last chunk (decimal string). */
  watermark: string | null;
  /** End of the latest dataLanded range seen. */
  lastLandedSeq: string | null;
}

export const statusQuery = defineQuery<TransformStatus>('status');

/**
 * Incremental transform (see the module comment). Side effects: rows in `<name>__v<N>`, the
 * watermark, run events. Never completes on its own; continues-as-new. Fails with
 * SLUICE_INVALID_INPUT, SLUICE_UNKNOWN_TRANSFORM, or SLUICE_INVALID_TRANSFORM when its SQL fails on the data.
 */
export async function transform(input: TransformInput): Promise<never> {
  await proxyActivities<CpuActivities>(INPUT_CHECK).checkWorkflowInput('transform', input);
  const { processTransformChunk } = proxyLocalActivities<CpuActivities>(TRANSFORM_CHUNK);
  const chunkRows = input.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const idleMs = (input.idleSeconds ?? DEFAULT_IDLE_SECONDS) * 1000;
  const totals: TransformTotals = { chunks: 0, rowsRead: 0, rowsWritten: 0, signals: 0, runs: 0, ...input.totals };
  totals.runs += 1;
  const status: TransformStatus = { ...totals, transform: input.transform, state: 'starting', version: null, watermark: null, lastLandedSeq: null };
  let woken = false;
  setHandler(dataLandedSignal, (e) => {
    woken = true;
    status.signals += 1;
    if (status.lastLandedSeq === null || BigInt(e.toSeq) > BigInt(status.lastLandedSeq)) status.lastLandedSeq = e.toSeq;
  });
  setHandler(statusQuery, () => status);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.transform },
    { key: SluiceStep, value: 'transform' },
    { key: SluiceStatus, value: 'running' },
  ]);

  for (;;) {
    status.state = 'processing';
    const r = await processTransformChunk({ transform: input.transform, maxRows: chunkRows });
    status.chunks += 1;
    status.rowsRead += r.rowsRead;
    status.rowsWritten += r.rowsWritten;
    status.watermark = r.toSeq;
    if (status.version !== r.version) {
      status.version = r.version;
      upsertSearchAttributes([{ key: SluiceDataset, value: `${input.transform}__${r.version}` }]);
    }
    if (r.caughtUp) {
      status.state = 'idle';
      await condition(() => woken, idleMs);
      woken = false;
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > (input.historyLimit ?? MAX_HISTORY_EVENTS)) {
      await condition(allHandlersFinished);
      const { chunks, rowsRead, rowsWritten, signals, runs } = status;
      await continueAsNew<typeof transform>({ ...input, totals: { chunks, rowsRead, rowsWritten, signals, runs } });
    }
  }
}
