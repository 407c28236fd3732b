/**
 * Timeouts and retries of every activity call, one row per kind of work; each workflow picks its
 * rows here instead of keeping its own copies. A long step sets `heartbeatTimeout` so that a dead
 * worker is noticed in seconds, not at the end of `startToCloseTimeout`.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

export const ACTIVITY_OPTIONS = {
  /** The input check: a bad input is permanent, so one attempt. */
  inputCheck: { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } },
  /** Probes (health): short, a few retries. */
  probe: { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } },
  /** One short database transaction or lookup. */
  dbQuick: { startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', maximumAttempts: 10 } },
  /** Registration plans the SQL in PostgreSQL and creates tables. */
  register: { startToCloseTimeout: '2 minutes', retry: { maximumAttempts: 5 } },
  /** Signals to other workflows (dataLanded): cheap, retried for a while. */
  signalDownstream: { startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', maximumAttempts: 20 } },
  /** File batches stream for as long as they need; heartbeats every chunk. */
  fileIo: {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 20 },
  },
  /** One backfill chunk: one INSERT … SELECT of up to chunkRows rows; heartbeats every 2 s. */
  buildChunk: {
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  },
  /** Hashing streams the whole table (minutes for tens of millions of rows); heartbeats every 2 s. */
  hashAndSwitch: {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  },
  /**
   * One run of chunks (`runTransformChunks`): long enough that its server round trip (~100 ms) is
   * noise, short enough that a lost worker costs little (a retry goes on from the watermark) and the
   * status query is never far behind. It heartbeats every 2 s, so a dead worker is noticed within
   * the heartbeat timeout; a start-to-close of minutes leaves room for the last chunk's INSERT and
   * for a chunk that waits its turn behind a backfill switch.
   */
  transformRun: {
    startToCloseTimeout: '15 minutes',
    heartbeatTimeout: '15 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  },
  /**
   * Training: as long as it needs (a day at most), heartbeating at least every second (inside MLP
   * epochs too), so a dead worker is noticed within the heartbeat timeout (the input's
   * `heartbeatSeconds`, default a minute) and the retry resumes from the last checkpoint. The first
   * retry comes 200 ms after the timeout, not a second: after a crash each second is work lost,
   * and a failure that repeats still backs off (×2 up to 30 s, 10 attempts).
   */
  training: {
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds', maximumAttempts: 10 },
  },
  /** A suite scans the whole dataset: long, but it heartbeats. */
  suite: {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
  },
  /** Scoring a test split and timing inference (latency capped at a few seconds per batch size); heartbeats every batch. */
  evaluate: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
  },
  /**
   * A snapshot streams the whole table version (minutes for tens of millions of rows) and
   * heartbeats every batch; a retry starts over and stores the same bytes.
   */
  snapshot: {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
  },
  /**
   * A deploy step's transaction (promote, rollback, shadow session open/end): short; it
   * heartbeats, so a worker that dies inside it is noticed in seconds and the step retries
   * (each is idempotent).
   */
  deployStep: {
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  },
  /** Waiting out a shadow period (up to the policy's window, at most 30 days): a poll loop that heartbeats every second. */
  shadowWait: {
    startToCloseTimeout: '31 days',
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  },
  /**
   * A pipeline's catch-up waits (ingestion's queue drained, a transform past a log offset): as long
   * as the data takes, heartbeating while they poll.
   */
  pipelineWait: {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
  },
} as const satisfies Record<string, ActivityOptions>;

/**
 * Patch id of the quick calls of a pipeline's steps as local activities: the input check of
 * `validate`, `snapshot`, `train` and `pipeline`, and the pipeline's artifact links. Each was a
 * server round trip and a workflow task of its own (50 ms or more a call on the dev server here,
 * `npm run bench -- pipeline`); runs recorded before replay them as regular activities.
 */
export const LOCAL_QUICK_CALLS_PATCH = 'local-quick-calls';

export const LOCAL_ACTIVITY_OPTIONS = {
  /** The input check as a local activity: the first real step is scheduled in the first workflow task. */
  inputCheck: { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } },
  /** Signing artifact links: computation only, no I/O. */
  linkArtifacts: { startToCloseTimeout: '30 seconds', retry: { initialInterval: '1 second', maximumAttempts: 10 } },
  /**
   * Chunks as local activities, for runs recorded before `chunk-runs` (they replay with it). Chunks
   * that follow each other quickly share one workflow task, which then stays open for seconds
   * (TMPRL1104): why later runs use `transformRun`. If the worker dies, the workflow task times
   * out and the chunk runs again elsewhere; chunks are idempotent.
   */
  transformChunk: { startToCloseTimeout: '5 minutes', retry: { initialInterval: '1 second', maximumInterval: '30 seconds' } },
} as const satisfies Record<string, LocalActivityOptions>;
