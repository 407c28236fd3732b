/**
 * What activities are built from. A worker builds one {@link ActivityDeps} at start (one pool, one
 * artifact store, one contract registry, one Temporal client) and hands it to every activity
 * factory; factories build nothing of their own, so tests and workers decide what is shared.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { SluiceConfig } from '../config';
import type { ContractRegistry } from '../contracts/registry';
import type { ArtifactStore } from './artifacts';
import { stderrLog } from './log';
import type { WorkerMetrics } from './workerMetrics';

export type ActivityLogger = (message: string, fields?: Record<string, unknown>) => void;

export interface ActivityDeps {
  pool: Pool;
  /** Content-addressed files: reports, oversized records, datasets, models. */
  artifacts: ArtifactStore;
  /** The data contracts of the sources (contracts/sources by default). */
  contracts: ContractRegistry;
  /** For activities that start or signal other workflows (dataLanded events). */
  temporal: Client;
  config: SluiceConfig;
  log: ActivityLogger;
  /** Wall-clock time, replaceable in tests. */
  now: () => Date;
  /** The worker's metrics (SLUICE_METRICS_PORT); absent: nothing is counted. */
  metrics?: WorkerMetrics;
}

/** Writes one line to stderr with the fields as JSON: the worker's log, in text format. */
export const stderrLogger: ActivityLogger = (message, fields) => stderrLog('text', 'INFO', message, fields);
