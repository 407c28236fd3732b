/**
 * Ingest activities: append batches to the log (or quarantine), re-drive quarantine, and tell the
 * transforms that read a source that data landed.
 */
import * as fs from 'node:fs';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Client } from '@temporalio/client';
import { ContractRegistry, UnknownContractError, type Contract } from '../../contracts/registry';
import { ErrorCodes } from '../../workflows/errors';
import { dataLandedSignal, transformWorkflowId, type DataLanded } from '../../workflows/events';
import type { IngestBatchRequest, IngestBatchResult } from '../../workflows/ingestTypes';
import { RecordClassifier } from './classify';
import { appendBatch } from './logWriter';
import { LocalArtifactStore } from '../artifacts';
import { arrowRecords, csvRecords, inlineRecords, ndjsonRecords, type OversizeSpill, type SourceRecord } from './readers';
import { redriveQuarantine } from './redrive';

export interface IngestDeps {
  pool: Pool;
  temporal: Client;
  config: { taskQueues: { cpu: string }; ingestCopyStreams?: number | undefined };
  /** The artifact store's directory: oversized records are kept there whole. */
  artifactsDir: string;
  /** Contracts of the sources (default: contracts/sources, loaded on first use). */
  contracts?: ContractRegistry;
}

export interface DataLandedResult {
  /** Transforms that were signalled. */
  transforms: number;
}

function unknownSource(source: string, known: string[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorCodes.UnknownSource,
    nonRetryable: true,
    message: `Unknown source ${JSON.stringify(source)}: no contract named so in contracts/sources` + (known.length ? ` (known: ${known.join(', ')})` : ''),
  });
}

function heartbeatProgress(): { progress: (p: object) => void; checkCancelled: () => void } {
  const ctx = Context.current();
  return {
    progress: (p) => ctx.heartbeat(p),
    checkCancelled: () => {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    },
  };
}

export function createIngestActivities(deps: IngestDeps) {
  let registry = deps.contracts;
  const contracts = (): ContractRegistry => (registry ??= ContractRegistry.fromDirectory());

  const contractOf = (source: string, version?: string): Contract => {
    const reg = contracts();
    if (!reg.has(source)) throw unknownSource(source, reg.names());
    try {
      return reg.get(source, version);
    } catch (err) {
      if (err instanceof UnknownContractError) {
        throw ApplicationFailure.create({ type: ErrorCodes.InvalidInput, nonRetryable: true, message: err.message });
      }
      throw err;
    }
  };
  // A record over the size limit is kept whole in the artifact store (quarantine holds its first MiB and the reference).
  const artifacts = new LocalArtifactStore(deps.artifactsDir);
  const spill: OversizeSpill = () => artifacts.openWriter({ mediaType: 'application/octet-stream', extension: '.bin' });
  const classifierOf = (c: Contract): RecordClassifier => new RecordClassifier(c, contracts().validator(c.contract, c.version));

  return {
    /** Names the contract versions of a source. Read-only. Throws SLUICE_UNKNOWN_SOURCE when there is none. */
    async describeIngestSource(source: string): Promise<{ contract: string; versions: string[] }> {
      contractOf(source);
      return { contract: source, versions: contracts().versions(source) };
    },

    /**
     * Appends a small inline batch to sluice.raw_events, the invalid events to sluice.quarantine.
     * Idempotent per (source, batchId) and per (source, event_id). Throws SLUICE_UNKNOWN_SOURCE.
     */
    async ingestEvents(source: string, req: Extract<IngestBatchRequest, { kind: 'inline' }>): Promise<IngestBatchResult> {
      const contract = contractOf(source, req.contractVersion);
      return appendBatch({ pool: deps.pool, source, batchId: req.batchId, contract, classifier: classifierOf(contract) }, inlineRecords(req.events));
    },

    /**
     * Streams a file (NDJSON, CSV or Arrow IPC) into the log with COPY, in chunks of one
     * transaction each; heartbeats per chunk and resumes after the last committed chunk on retry.
     * Idempotent per (source, batchId). Throws SLUICE_UNKNOWN_SOURCE, SLUICE_INGEST_FILE_UNREADABLE.
     */
    async ingestFile(source: string, req: Extract<IngestBatchRequest, { kind: 'file' }>): Promise<IngestBatchResult> {
      const contract = contractOf(source, req.contractVersion);
      const { path } = req.location;
      try {
        await fs.promises.access(path, fs.constants.R_OK);
      } catch (err) {
        throw ApplicationFailure.create({ type: ErrorCodes.IngestFileUnreadable, nonRetryable: true, message: `Cannot read ${path}: ${(err as Error).message}` });
      }
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
      return appendBatch(
        { pool: deps.pool, source, batchId: req.batchId, contract, classifier: classifierOf(contract), copyStreams: deps.config.ingestCopyStreams, ...heartbeatProgress() },
        records,
      );
    },

    /**
     * Sends the source's unresolved quarantine through validation with the newest contract again;
     * passing events are appended and their resolution recorded. Idempotent. Throws SLUICE_UNKNOWN_SOURCE.
     */
    async redriveQuarantine(source: string, batchId: string): Promise<IngestBatchResult> {
      const contract = contractOf(source);
      return redriveQuarantine({ pool: deps.pool, source, batchId, contract, classifier: classifierOf(contract), ...heartbeatProgress() });
    },

    /**
     * Signals `dataLanded` (signal-with-start) to the `transform` workflow of every transform whose
     * sources include `landed.source`. Safe to retry: transforms read from their watermark.
     */
    async emitDataLanded(landed: DataLanded): Promise<DataLandedResult> {
      const { rows } = await deps.pool.query<{ name: string }>(
        'SELECT DISTINCT name FROM sluice.transforms WHERE $1 = ANY(sources) ORDER BY name',
        [landed.source],
      );
      for (const { name } of rows) {
        await deps.temporal.workflow.signalWithStart('transform', {
          workflowId: transformWorkflowId(name),
          taskQueue: deps.config.taskQueues.cpu,
          args: [{ transform: name }],
          signal: dataLandedSignal,
          signalArgs: [landed],
        });
      }
      return { transforms: rows.length };
    },
  };
}
