/** Registered benchmark suites (one module per area in scripts/bench/). */
import { contractsSuite } from './contracts';
import type { BenchSuite } from './harness';
import { benchIngestVsCopy, ingestFileSuite } from './ingest';
import { mlSuite } from './ml';
import { pipelineSuite } from './pipeline';
import { serveSuite } from './serve';
import { trainResumeSuite } from './resume';
import { snapshotSuite } from './snapshot';
import { benchReplay, benchTransformVsSql, replaySuite, transformSuite, transformVsSqlSuite } from './transform';

/**
 * Issue #3's suite: ingest_vs_copy (file ingestion through the workflow vs psql \copy),
 * transform_serial_vs_sql (the transform workflow one chunk at a time vs one INSERT ... SELECT),
 * transform_parallel_vs_split_sql (parallel chunks vs the same SQL split into the same ranges on as
 * many connections) and replay_rows_per_s (full rebuild of a 10M-event log), each pair measured
 * side by side in this one run.
 */
export const ingestSuite: BenchSuite = {
  name: 'ingest',
  description:
    'ingest_vs_copy, transform_serial_vs_sql, transform_parallel_vs_split_sql and replay_rows_per_s (the log-then-transform figures)',
  async run(ctx) {
    const parts = [await benchIngestVsCopy(ctx), await benchTransformVsSql(ctx), await benchReplay(ctx)];
    return {
      metrics: Object.assign({}, ...parts.map((p) => p.metrics)),
      ratios: Object.assign({}, ...parts.map((p) => p.ratios)),
      notes: { ingest: parts[0]?.notes, transformVsSql: parts[1]?.notes, replay: parts[2]?.notes },
    };
  },
};

export const SUITES: BenchSuite[] = [
  ingestSuite,
  contractsSuite,
  ingestFileSuite,
  transformSuite,
  transformVsSqlSuite,
  replaySuite,
  mlSuite,
  snapshotSuite,
  trainResumeSuite,
  serveSuite,
  pipelineSuite,
];
