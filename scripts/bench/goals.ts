/** What each figure must reach, by suite: the goals of the issues that asked for them, in one table. */
import type { Goal } from './harness';

const atLeast = (value: number): Goal => ({ op: '>=', value });
const atMost = (value: number): Goal => ({ op: '<=', value });

export const GOALS: Record<string, Record<string, Goal>> = {
  ingest: {
    ingest_vs_copy: atLeast(1.0),
    transform_serial_vs_sql: atLeast(0.95),
    transform_parallel_vs_split_sql: atLeast(0.9),
  },
  contracts: {
    ingest_path_rows_per_s: atLeast(300_000),
    ingest_path_vs_ajv: atLeast(0.5),
    suite_vs_sql: atMost(1.5),
  },
  ml: {
    train_accuracy_vs_sklearn: atLeast(-0.005),
    mlp_accuracy_vs_sklearn: atLeast(-0.005),
    train_time_vs_sklearn: atMost(2),
    ort_rows_per_s_10k: atLeast(1_000_000),
  },
  'train-resume': {
    resume_overhead: atMost(1.1),
  },
  serve: {
    serve_p99_ms: atMost(10),
    serve_vs_direct: atLeast(0.5),
    shadow_overhead: atMost(1.3),
    prediction_log_lag_ms: atMost(2_000),
  },
  snapshot: {
    snapshot_vs_copy: atLeast(0.5),
    snapshot_peak_rss_mb: atMost(1024),
  },
  pipeline: {
    step_overhead_ms: atMost(25),
    step_overhead_inline_ms: atMost(25),
    pipeline_vs_sum: atMost(1.3),
    event_to_table_p99_ms: atMost(2_000),
  },
};
