/**
 * Ingest activities: append batches to the log (or quarantine), re-drive quarantine, and tell the
 * transforms that read a source that data landed.
 */
import { ErrorCodes } from '../../api/errors';
import type { DataLanded, IngestBatchRequest, IngestBatchResult } from '../../api/workflows/ingest';
import type { Contract } from '../../contracts/registry';
import { inGroups, SIGNALS_AT_ONCE } from '../concurrency';
import type { ActivityDeps } from '../deps';
import { SluiceError } from '../failures';
import { withHeartbeat } from '../heartbeat';
import { signalPipelineTriggers } from '../pipeline/triggers';
import { wakeTransform } from '../transform/wake';
import { RecordClassifier } from './classify';
import { appendBatch } from './logWriter';
import { arrowRecords, csvRecords, inlineRecords, ndjsonRecords, type OversizeSpill, type SourceRecord } from './readers';
import { resolveIngestPath } from './paths';
import { redriveQuarantine } from './redrive';

export type IngestDeps = Pick<ActivityDeps, 'pool' | 'temporal' | 'config' | 'artifacts' | 'contracts'>;

export interface DataLandedResult {
  /** Transforms that were signalled. */
  transforms: number;
  /** Pipeline triggers signalled (pipelines whose latest spec subscribes to the source). */
  pipelines: number;
}

function unknownSource(source: string, known: string[]): SluiceError {
  return new SluiceError(
    ErrorCodes.UnknownSource,
    `Unknown source ${JSON.stringify(source)}: no contract named so in contracts/sources` +
      (known.length ? ` (known: ${known.join(', ')})` : ''),
  );
}

export function createIngestActivities(deps: IngestDeps) {
  const { contracts } = deps;
  /** The source's contract (newest, or the version asked for); an unknown version is SLUICE_UNKNOWN_CONTRACT. */
  const contractOf = (source: string, version?: string): Contract => {
    if (!contracts.has(source)) throw unknownSource(source, contracts.names());
    return contracts.get(source, version);
  };
  // A record over the size limit is kept whole in the artifact store (quarantine holds its first MiB and the reference).
  const spill: OversizeSpill = () => deps.artifacts.openWriter({ mediaType: 'application/octet-stream', extension: '.bin' });
  const classifierOf = (c: Contract): RecordClassifier => new RecordClassifier(c, contracts.validator(c.contract, c.version));
  const ingestInline = (source: string, req: Extract<IngestBatchRequest, { kind: 'inline' }>): Promise<IngestBatchResult> => {
    const contract = contractOf(source, req.contractVersion);
    return appendBatch(
      { pool: deps.pool, source, batchId: req.batchId, contract, classifier: classifierOf(contract) },
      inlineRecords(req.events),
    );
  };

  return {
    /** Names the contract versions of a source. Read-only. Throws SLUICE_UNKNOWN_SOURCE when there is none. */
    async describeIngestSource(source: string): Promise<{ contract: string; versions: string[] }> {
      contractOf(source);
      return { contract: source, versions: contracts.versions(source) };
    },

    /**
     * Appends a small inline batch to sluice.raw_events, the invalid events to sluice.quarantine.
     * Idempotent per (source, batchId) and per (source, event_id). Throws SLUICE_UNKNOWN_SOURCE.
     */
    async ingestEvents(source: string, req: Extract<IngestBatchRequest, { kind: 'inline' }>): Promise<IngestBatchResult> {
      return ingestInline(source, req);
    },

    /**
     * Several queued inline batches of one source in one activity, one after the other in the
     * order given (each as {@link ingestEvents} appends it: its own chunks, counts and log range), so
     * that a burst of small batches costs one server round trip instead of one each. Answers each
     * batch's counts in order. A failure of any batch fails the whole call; the workflow then sends
     * the batches one by one (each idempotent per batch id: one that committed here answers the same
     * counts again), so every batch gets its own outcome as before.
     */
    async ingestEventBatches(
      source: string,
      reqs: Extract<IngestBatchRequest, { kind: 'inline' }>[],
    ): Promise<{ results: IngestBatchResult[]; runEventDetails: Record<string, unknown> }> {
      const results: IngestBatchResult[] = [];
      for (const req of reqs) results.push(await ingestInline(source, req));
      const seqs = results.flatMap((r) => (r.fromSeq !== null && r.toSeq !== null ? [BigInt(r.fromSeq), BigInt(r.toSeq)] : []));
      return {
        results,
        runEventDetails: {
          batches: reqs.map((r) => r.batchId),
          accepted: results.reduce((n, r) => n + r.accepted, 0),
          quarantined: results.reduce((n, r) => n + r.quarantined, 0),
          duplicates: results.reduce((n, r) => n + r.duplicates, 0),
          fromSeq: seqs.length ? seqs.reduce((a, b) => (a < b ? a : b)).toString() : null,
          toSeq: seqs.length ? seqs.reduce((a, b) => (a > b ? a : b)).toString() : null,
        },
      };
    },

    /**
     * Streams a file (NDJSON, CSV or Arrow IPC) into the log with COPY, in chunks of one
     * transaction each; heartbeats per chunk and resumes after the last committed chunk on retry.
     * Idempotent per (source, batchId). Reads only regular files under the ingest roots. Throws
     * SLUICE_UNKNOWN_SOURCE, SLUICE_INVALID_INPUT (a refused location, naming the rule), SLUICE_INGEST_FILE_UNREADABLE.
     */
    async ingestFile(source: string, req: Extract<IngestBatchRequest, { kind: 'file' }>): Promise<IngestBatchResult> {
      const contract = contractOf(source, req.contractVersion);
      // Only regular files under the ingest roots, by their real path (activities/ingest/paths.ts).
      const path = await resolveIngestPath(req.location.path, deps.config.ingestRoots);
      let records: AsyncIterable<SourceRecord>;
      switch (req.format) {
        case 'ndjson':
          records = ndjsonRecords(path, { spill });
          break;
        case 'csv':
          records = csvRecords(path, contract, { spill });
          break;
        case 'arrow':
          records = arrowRecords(path);
          break;
      }
      return withHeartbeat((hb) =>
        appendBatch(
          {
            pool: deps.pool,
            source,
            batchId: req.batchId,
            contract,
            classifier: classifierOf(contract),
            copyStreams: deps.config.ingestCopyStreams,
            progress: hb.progress,
            checkCancelled: hb.checkCancelled,
          },
          records,
        ),
      );
    },

    /**
     * Sends the source's unresolved quarantine through validation with the newest contract again;
     * passing events are appended and their resolution recorded. Idempotent. Throws SLUICE_UNKNOWN_SOURCE.
     */
    async redriveQuarantine(source: string, batchId: string): Promise<IngestBatchResult> {
      const contract = contractOf(source);
      return withHeartbeat((hb) =>
        redriveQuarantine({
          pool: deps.pool,
          source,
          batchId,
          contract,
          classifier: classifierOf(contract),
          progress: hb.progress,
          checkCancelled: hb.checkCancelled,
        }),
      );
    },

    /**
     * Signals `dataLanded` (signal-with-start) to the `transform` workflow of every transform whose
     * sources include `landed.source`, and to the trigger of every pipeline whose latest spec
     * subscribes to it (`triggers.dataLanded`). Safe to retry: transforms read from their
     * watermark, and a pipeline run is keyed by the log offset it covers.
     */
    async emitDataLanded(landed: DataLanded): Promise<DataLandedResult> {
      const { rows } = await deps.pool.query<{ name: string }>(
        'SELECT DISTINCT name FROM sluice.transforms WHERE $1 = ANY(sources) ORDER BY name',
        [landed.source],
      );
      // All at once (a source read by several transforms cost one server round trip each, in turn:
      // 80–130 ms of every HTTP batch's answer in the pipeline bench). A failed signal fails the
      // activity, whose retry signals them all again: each is only a wake-up.
      const [, pipelines] = await Promise.all([
        inGroups(rows, SIGNALS_AT_ONCE, ({ name }) =>
          wakeTransform(deps.temporal, deps.config.taskQueues.cpu, { transform: name }, landed),
        ),
        signalPipelineTriggers(deps, landed),
      ]);
      return { transforms: rows.length, pipelines };
    },
  };
}
