/**
 * Transform benchmarks (`npm run bench -- transform [--scale 0.05]`), in a database of their own,
 * over a log of 1,000,000 events of 20 fields × scale, each contender timed to the watermark (or
 * the last statement) reaching the end of the log, with a CHECKPOINT before each:
 *  - transform_serial_vs_sql: rows/s of the incremental `transform` workflow with parallelism 1
 *    (default chunk size) ÷ rows/s of the same SQL as one INSERT ... SELECT into an identical table.
 *  - transform_parallel_vs_split_sql: rows/s of the workflow with the default parallelism ÷ rows/s
 *    of the same SQL split by hand into the same ranges (the workflow's own planner makes them, and
 *    the run checks that the workflow committed exactly those) and run as one INSERT ... SELECT per
 *    range on as many connections, each connection taking the next range.
 *    Every contender runs several times, interleaved (the SQL ones before, between and after the
 *    workflow rounds); each ratio compares medians.
 *  - replay_rows_per_s: full rebuild by the `backfill` workflow of a 10,000,000-event log × scale
 *    (child workflows, hash, switch), with the number of workflow histories it made and the
 *    largest history length, both read back from Temporal.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient, type Pool } from 'pg';
import { planIncrementalChunks, type PlannedChunk } from '../../activities/transform/chunks';
import { registerTransformVersion } from '../../activities/transform/registry';
import { pollUntil } from '../../client/poll';
import { DERIVED_SCHEMA, derivedTable, quoteIdent } from '../../activities/transform/sqlText';
import { createScratchDatabase, type ScratchDatabase } from '../../db/scratch';
import { createWorkerSet, type WorkerSet } from '../../workers/bootstrap';
import { dataLandedSignal, transformWorkflowId, type BackfillResult } from '../../api';
import { DEFAULT_CHUNK_ROWS, DEFAULT_PARALLELISM } from '../../workflows/transform';
import { timed, type BenchContext, type BenchResult, type BenchSuite } from './harness';

const SOURCE = 'bench_orders';
/** 20 typed fields out of a 20-field JSON payload, plus the log offset and the event time. */
const TRANSFORM_SQL = `
  SELECT seq, event_time,
    payload->>'id' AS id, (payload->>'user_id')::int AS user_id, payload->>'email' AS email, payload->>'sku' AS sku,
    (payload->>'qty')::int AS qty, (payload->>'price')::numeric AS price, payload->>'currency' AS currency,
    payload->>'country' AS country, payload->>'city' AS city, payload->>'device' AS device, payload->>'browser' AS browser,
    payload->>'referrer' AS referrer, payload->>'campaign' AS campaign, (payload->>'discount')::numeric AS discount,
    (payload->>'gift')::boolean AS gift, (payload->>'first_order')::boolean AS first_order, (payload->>'rating')::int AS rating,
    (payload->>'latency_ms')::int AS latency_ms, (payload->>'qty')::int * (payload->>'price')::numeric AS amount
  FROM sluice.raw_events
  WHERE source = '${SOURCE}' AND seq BETWEEN $1 AND $2`;
const LOAD_BATCH = 500_000;

/** Appends events until the log holds `total` events of the bench source (INSERT ... SELECT generate_series). */
async function loadLog(db: ScratchDatabase, total: number, log: (m: string) => void): Promise<void> {
  const pool = db.pool;
  const have = Number((await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM sluice.raw_events')).rows[0]?.n ?? 0);
  for (let from = have + 1; from <= total; from += LOAD_BATCH) {
    const to = Math.min(total, from + LOAD_BATCH - 1);
    await pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
       SELECT $3, 'o' || g, timestamptz '2026-01-01' + g * interval '1 second', 'bench_orders', '1.0.0',
         jsonb_build_object(
           'id', 'ev-' || g, 'user_id', g % 100000, 'email', 'user' || (g % 100000) || '@example.com', 'sku', 'SKU-' || (g % 5000),
           'qty', 1 + g % 5, 'price', round((g % 100000) / 7.0, 2), 'currency', (ARRAY['EUR','USD','GBP','JPY'])[1 + g % 4],
           'country', (ARRAY['DE','FR','GB','NL','US','JP','BR','IN'])[1 + g % 8], 'city', 'city-' || (g % 300),
           'device', (ARRAY['desktop','mobile','tablet'])[1 + g % 3], 'browser', 'browser-' || (g % 12),
           'referrer', CASE WHEN g % 3 = 0 THEN NULL ELSE 'https://example.com/' || (g % 1000) END,
           'campaign', CASE WHEN g % 5 = 0 THEN 'spring-' || (g % 9) ELSE NULL END, 'discount', (g % 100) / 100.0,
           'gift', g % 7 = 0, 'first_order', g % 11 = 0, 'rating', 1 + g % 5, 'latency_ms', g % 2000,
           'tags', jsonb_build_array('t' || (g % 10), 't' || (g % 17))),
         'bench-load'
       FROM generate_series($1::bigint, $2::bigint) g`,
      [from, to, SOURCE],
    );
    log(`log: ${to.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} events`);
  }
  // as the log's owner: the worker may not vacuum it (a VACUUM it asks for is skipped with a warning,
  // leaving the planner without statistics for the freshly loaded log)
  await db.ownerPool().query('VACUUM (ANALYZE) sluice.raw_events');
}

interface Harness {
  db: ScratchDatabase;
  workers: WorkerSet;
  running: Promise<void>;
  client: Client;
  connection: Connection;
  taskQueue: string;
  /**
   * Part of every workflow's name: the dev server keeps its workflows between runs, and a
   * `transform` workflow left running by an aborted run would take the signal of the next one.
   */
  runTag: string;
  close(): Promise<void>;
}

async function startHarness(ctx: BenchContext): Promise<Harness> {
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_transform',
    applicationName: 'sluice-bench',
  });
  const runTag = randomBytes(4).toString('hex');
  const taskQueue = `bench-transform-${runTag}`;
  let workers: WorkerSet;
  try {
    workers = await createWorkerSet({
      config: { ...ctx.config, taskQueues: { cpu: taskQueue, gpu: `${taskQueue}-gpu` } },
      address: ctx.stack.temporal.address,
      databaseUrl: db.url,
      queues: ['cpu'],
      migrate: false,
      log: ctx.log,
    });
  } catch (err) {
    await db.drop();
    throw err;
  }
  const running = workers.run();
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: ctx.stack.temporal.address });
  } catch (err) {
    workers.shutdown();
    await running;
    await db.drop();
    throw err;
  }
  const client = new Client({ connection, namespace: ctx.stack.temporal.namespace });
  return {
    db,
    workers,
    running,
    client,
    connection,
    taskQueue,
    runTag,
    async close() {
      workers.shutdown();
      await running;
      await connection.close();
      await db.drop();
    },
  };
}

async function register(pool: Pool, name: string): Promise<void> {
  await registerTransformVersion(pool, { name, version: 1, sources: [SOURCE], sql: TRANSFORM_SQL, description: 'bench: 20 typed fields' });
}

/** CHECKPOINT, as the superuser the scratch database was made with (sluice's roles may not run it). */
async function checkpoint(db: ScratchDatabase): Promise<void> {
  const c = new PgClient({ connectionString: db.adminUrl });
  await c.connect();
  try {
    await c.query('CHECKPOINT');
  } finally {
    await c.end();
  }
}

/** A fresh table shaped like the transform's, after a CHECKPOINT (each contender starts with no dirty pages of the one before). */
async function freshTarget(db: ScratchDatabase, name: string, table: string): Promise<string> {
  const target = `${quoteIdent(DERIVED_SCHEMA)}.${quoteIdent(table)}`;
  await db.pool.query(`DROP TABLE IF EXISTS ${target}`);
  await db.pool.query(`CREATE TABLE ${target} (LIKE ${derivedTable(name, 1)} INCLUDING DEFAULTS INCLUDING INDEXES)`);
  await checkpoint(db);
  return target;
}

/** The SQL over the whole log as one INSERT ... SELECT (one backend): rows and seconds. */
async function directInsert(db: ScratchDatabase, name: string, table: string, maxSeq: string): Promise<[number, number]> {
  const pool = db.pool;
  const target = await freshTarget(db, name, table);
  const [r, seconds] = await timed(() => pool.query(`INSERT INTO ${target} SELECT * FROM (${TRANSFORM_SQL}) q`, ['1', maxSeq]));
  await pool.query(`DROP TABLE ${target}`);
  return [r.rowCount ?? 0, seconds];
}

/**
 * The SQL split by hand: one INSERT ... SELECT per range (autocommit), on `connections`
 * connections opened beforehand, each taking the next range when its last one is done.
 */
async function splitInsert(
  db: ScratchDatabase,
  name: string,
  table: string,
  ranges: PlannedChunk[],
  connections: number,
): Promise<[number, number]> {
  const pool = db.pool;
  const target = await freshTarget(db, name, table);
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  let rows = 0;
  try {
    const [, seconds] = await timed(async () => {
      let next = 0;
      await Promise.all(
        clients.map(async (client) => {
          for (let i = next++; i < ranges.length; i = next++) {
            const range = ranges[i] as PlannedChunk;
            const r = await client.query(`INSERT INTO ${target} SELECT * FROM (${TRANSFORM_SQL}) q`, [range.fromSeq, range.toSeq]);
            rows += r.rowCount ?? 0;
          }
        }),
      );
    });
    await pool.query(`DROP TABLE ${target}`);
    return [rows, seconds];
  } finally {
    for (const c of clients) c.release();
  }
}

async function watermarkOf(pool: Pool, name: string): Promise<string> {
  return (
    (await pool.query<{ s: string }>('SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = $1 AND version = 1', [name]))
      .rows[0]?.s ?? '0'
  );
}

interface WorkflowRun {
  rows: number;
  seconds: number;
  /** Chunks committed, from the chunk log, in log order. */
  chunks: { fromSeq: string; toSeq: string }[];
  /** Runs of chunks (activities) that completed, and chunks they deferred. */
  runs: number;
  deferred: number;
  /** Time inside the runs of chunks, summed. */
  inActivities: number;
  /** From the start to the first run of chunks (workflow start, input check). */
  toFirstRun: number;
}

/** The incremental `transform` workflow of a fresh transform over the whole log, from the start until the watermark reaches `maxSeq`. */
async function transformWorkflow(h: Harness, name: string, maxSeq: string, parallelism: number): Promise<WorkflowRun> {
  await register(h.db.pool, name);
  await checkpoint(h.db);
  const t0 = (await h.db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]?.t as Date;
  const [, seconds] = await timed(async () => {
    await h.client.workflow.signalWithStart('transform', {
      taskQueue: h.taskQueue,
      workflowId: transformWorkflowId(name),
      args: [{ transform: name, parallelism }], // the default chunk size
      signal: dataLandedSignal,
      signalArgs: [{ source: SOURCE, fromSeq: '1', toSeq: maxSeq, batchId: 'bench-load' }],
    });
    await pollUntil(
      `the watermark of ${name} to reach ${maxSeq}`,
      async () => ((await watermarkOf(h.db.pool, name)) === maxSeq ? true : undefined),
      {
        timeoutMs: 30 * 60_000,
        intervalMs: 20,
      },
    );
  });
  // The run of chunks returns once caught up; terminate only then, so that its run event is complete.
  let lastRuns = '';
  await pollUntil(
    `the run of chunks of ${name} that reached ${maxSeq} to complete`,
    async () => {
      lastRuns = JSON.stringify(
        (
          await h.db.pool.query('SELECT step, status, details, error FROM sluice.run_events WHERE workflow_id = $1 ORDER BY id', [
            transformWorkflowId(name),
          ])
        ).rows,
      );
      const done = await h.db.pool.query(
        "SELECT 1 FROM sluice.run_events WHERE step = 'runTransformChunks' AND workflow_id = $1 AND status = 'completed' AND details->>'toSeq' = $2",
        [transformWorkflowId(name), maxSeq],
      );
      return done.rows.length > 0 ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 20, lastSeen: () => lastRuns },
  );
  await h.client.workflow.getHandle(transformWorkflowId(name)).terminate('benchmark done');
  const rows = Number((await h.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${derivedTable(name, 1)}`)).rows[0]?.n);
  const chunks = (
    await h.db.pool.query<{ fromSeq: string; toSeq: string }>(
      'SELECT from_seq::text AS "fromSeq", to_seq::text AS "toSeq" FROM sluice.transform_chunks WHERE name = $1 AND version = 1 ORDER BY id',
      [name],
    )
  ).rows;
  const ev = (
    await h.db.pool.query<{ runs: string; deferred: string; ms: string; first: Date }>(
      `SELECT count(*) FILTER (WHERE status = 'completed')::text AS runs,
            coalesce(sum((counts->>'deferred')::int) FILTER (WHERE status = 'completed'), 0)::text AS deferred,
            coalesce(sum(duration_ms) FILTER (WHERE status = 'completed'), 0)::text AS ms,
            min(occurred_at) FILTER (WHERE status = 'started') AS first
     FROM sluice.run_events WHERE step = 'runTransformChunks' AND workflow_id = $1`,
      [transformWorkflowId(name)],
    )
  ).rows[0];
  return {
    rows,
    seconds,
    chunks,
    runs: Number(ev?.runs ?? 0),
    deferred: Number(ev?.deferred ?? 0),
    inActivities: Number(ev?.ms ?? 0) / 1000,
    toFirstRun: ev?.first ? (ev.first.getTime() - t0.getTime()) / 1000 : Number.NaN,
  };
}

/** The workflow's defaults (workflows/transform.ts): the contenders run what a user gets without settings. */
const CHUNK_ROWS = DEFAULT_CHUNK_ROWS;
const PARALLELISM = DEFAULT_PARALLELISM;
/** Runs of each workflow contender; the SQL contenders run before, between and after them (one more). */
const ROUNDS = 3;

/**
 * transform_serial_vs_sql and transform_parallel_vs_split_sql (see the module comment): one
 * statement and the split statements, then in each of {@link ROUNDS} rounds the workflow with the
 * default parallelism and the workflow one chunk at a time (in alternating order), then the two
 * SQL contenders again; each ratio compares medians.
 */
export async function benchTransformVsSql(ctx: BenchContext): Promise<Omit<BenchResult, 'suite'>> {
  const events = Math.max(10_000, Math.round(1_000_000 * ctx.scale));
  const h = await startHarness(ctx);
  try {
    // A first transform workflow on the empty log: the worker's first workflow and activity
    // (workflow sandbox, code paths, connections) are set up before anything is timed.
    await transformWorkflow(h, `bench_orders_warmup_${h.runTag}`, '0', PARALLELISM);
    await loadLog(h.db, events, ctx.log);
    const maxSeq = String(events);
    await register(h.db.pool, 'bench_orders_direct'); // the table definition the SQL contenders copy
    // The ranges the workflow will commit, from its own planner (checked against its chunk log below).
    const ranges = (
      await planIncrementalChunks(h.db.pool, { transform: 'bench_orders_direct', maxRows: CHUNK_ROWS, count: Number.MAX_SAFE_INTEGER })
    ).chunks;
    await h.db.pool.query('SELECT count(*) FROM sluice.raw_events'); // warm the cache for every contender
    const direct: number[] = [];
    const split: number[] = [];
    const runSql = async (pass: string): Promise<void> => {
      const [directRows, directSeconds] = await directInsert(h.db, 'bench_orders_direct', `direct_${pass}`, maxSeq);
      ctx.log(`one INSERT ... SELECT (pass ${pass}): ${directRows} rows in ${directSeconds.toFixed(2)} s`);
      const [splitRows, splitSeconds] = await splitInsert(h.db, 'bench_orders_direct', `split_${pass}`, ranges, PARALLELISM);
      ctx.log(
        `${ranges.length} INSERT ... SELECT on ${PARALLELISM} connections (pass ${pass}): ${splitRows} rows in ${splitSeconds.toFixed(2)} s`,
      );
      if (directRows !== events || splitRows !== events)
        throw new Error(`row counts differ: ${events} events, one statement ${directRows}, split ${splitRows}`);
      direct.push(directSeconds);
      split.push(splitSeconds);
    };
    // Rounds of every contender, interleaved (this machine is shared and noisy); each figure is the median of its runs.
    const workflowRuns: Record<'parallel' | 'serial', WorkflowRun[]> = { parallel: [], serial: [] };
    await runSql('0');
    for (let round = 0; round < ROUNDS; round++) {
      const order = [
        ['parallel', PARALLELISM],
        ['serial', 1],
      ] as const;
      for (const [label, parallelism] of round % 2 === 0 ? order : [...order].reverse()) {
        const r = await transformWorkflow(h, `bench_orders_${label}_${round}_${h.runTag}`, maxSeq, parallelism);
        workflowRuns[label].push(r);
        ctx.log(
          `transform workflow (parallelism ${parallelism}, round ${round}): ${r.rows} rows in ${r.seconds.toFixed(2)} s ` +
            `(${r.chunks.length} chunks in ${r.runs} run(s), ${r.deferred} deferred, ${r.inActivities.toFixed(2)} s inside runs of chunks, first run after ${r.toFirstRun.toFixed(3)} s)`,
        );
        if (r.rows !== events) throw new Error(`row counts differ: workflow (parallelism ${parallelism}) ${r.rows}, events ${events}`);
        const same = JSON.stringify(r.chunks) === JSON.stringify(ranges.map(({ fromSeq, toSeq }) => ({ fromSeq, toSeq })));
        if (!same)
          throw new Error(
            `the workflow (parallelism ${parallelism}) committed other ranges than the split SQL ran: ${JSON.stringify(r.chunks)}`,
          );
      }
      await runSql(String(round + 1));
    }
    const median = (xs: number[]): number => {
      const sorted = [...xs].sort((x, y) => x - y);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
    };
    const medianRun = (rs: WorkflowRun[]): WorkflowRun =>
      [...rs].sort((x, y) => x.seconds - y.seconds)[Math.floor((rs.length - 1) / 2)] as WorkflowRun;
    const parallel = medianRun(workflowRuns.parallel);
    const serial = medianRun(workflowRuns.serial);
    const directRate = events / median(direct);
    const splitRate = events / median(split);
    return {
      metrics: {
        transform_workflow_rows_per_s: { value: parallel.rows / parallel.seconds, unit: 'rows/s' },
        transform_workflow_serial_rows_per_s: { value: serial.rows / serial.seconds, unit: 'rows/s' },
        transform_direct_sql_rows_per_s: { value: directRate, unit: 'rows/s' },
        transform_split_sql_rows_per_s: { value: splitRate, unit: 'rows/s' },
        transform_workflow_s: { value: parallel.seconds, unit: 's' },
        transform_workflow_serial_s: { value: serial.seconds, unit: 's' },
        transform_chunks: { value: parallel.chunks.length, unit: 'chunks' },
        transform_chunk_runs: { value: parallel.runs + serial.runs, unit: 'activities' },
        transform_deferred_chunks: { value: parallel.deferred + serial.deferred, unit: 'chunks' },
        transform_chunk_runs_s: { value: parallel.inActivities, unit: 's' },
        transform_to_first_run_s: { value: parallel.toFirstRun, unit: 's' },
      },
      ratios: {
        transform_serial_vs_sql: serial.rows / serial.seconds / directRate,
        transform_parallel_vs_split_sql: parallel.rows / parallel.seconds / splitRate,
      },
      notes: {
        events,
        rows: events,
        chunkRows: CHUNK_ROWS,
        parallelism: PARALLELISM,
        ranges: ranges.length,
        rounds: ROUNDS,
        directSeconds: direct,
        splitSeconds: split,
        workflowSeconds: workflowRuns.parallel.map((r) => r.seconds),
        workflowSerialSeconds: workflowRuns.serial.map((r) => r.seconds),
      },
    };
  } finally {
    await h.close();
  }
}

/** replay_rows_per_s (see the module comment). */
export async function benchReplay(ctx: BenchContext): Promise<Omit<BenchResult, 'suite'>> {
  const events = Math.max(20_000, Math.round(10_000_000 * ctx.scale));
  const h = await startHarness(ctx);
  try {
    await loadLog(h.db, events, ctx.log);
    const name = 'bench_orders_replay';
    await register(h.db.pool, name);
    const workflowId = `bench-replay-${randomBytes(4).toString('hex')}`;
    const [result, seconds] = await timed(async () => {
      const handle = await h.client.workflow.start('backfill', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [{ transform: name, fromSeq: '1', toSeq: String(events) }],
      });
      return (await handle.result()) as BackfillResult;
    });
    ctx.log(
      `backfill: ${result.rowsRead} rows, ${result.ranges} ranges, ${result.runs} run(s), sha256 ${result.sha256.slice(0, 16)}… in ${seconds.toFixed(2)} s`,
    );
    const hash = await h.db.pool.query<{ ms: number }>(
      "SELECT duration_ms AS ms FROM sluice.run_events WHERE step = 'finishBackfill' AND status = 'completed' AND workflow_id = $1",
      [workflowId],
    );

    // Every history the rebuild made (the parent's runs and each child's runs), from Temporal.
    const lengths: number[] = [];
    for await (const wf of h.client.workflow.list({ query: `WorkflowId STARTS_WITH "${workflowId}"` })) {
      const history = await h.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      lengths.push(history.events?.length ?? 0);
    }
    const expected = result.runs + result.ranges;
    if (lengths.length < expected) ctx.log(`warning: visibility lists ${lengths.length} histories, expected at least ${expected}`);
    return {
      metrics: {
        replay_rows_per_s: { value: result.rowsRead / seconds, unit: 'rows/s' },
        replay_s: { value: seconds, unit: 's' },
        replay_hash_and_switch_s: { value: (hash.rows[0]?.ms ?? 0) / 1000, unit: 's' },
        replay_histories: { value: lengths.length, unit: 'histories' },
        replay_max_history_events: { value: Math.max(...lengths), unit: 'events' },
      },
      ratios: {},
      notes: { events, rows: result.rows, ranges: result.ranges, parentRuns: result.runs, sha256: result.sha256 },
    };
  } finally {
    await h.close();
  }
}

/** Temporary suite to run both (the lead composes the final `ingest` suite). */
export const transformSuite: BenchSuite = {
  name: 'transform',
  description:
    'transform_serial_vs_sql, transform_parallel_vs_split_sql (incremental workflow vs the same SQL by hand) and replay_rows_per_s (full backfill)',
  async run(ctx) {
    const a = await benchTransformVsSql(ctx);
    const b = await benchReplay(ctx);
    return {
      metrics: { ...a.metrics, ...b.metrics },
      ratios: { ...a.ratios, ...b.ratios },
      notes: { transformVsSql: a.notes, replay: b.notes },
    };
  },
};

/** The two halves alone, for runs at different scales (the replay log is ten times larger). */
export const transformVsSqlSuite: BenchSuite = {
  name: 'transform-vs-sql',
  description: 'transform_serial_vs_sql and transform_parallel_vs_split_sql only',
  run: benchTransformVsSql,
};
export const replaySuite: BenchSuite = {
  name: 'transform-replay',
  description: 'replay_rows_per_s only (full backfill of 10M events × scale)',
  run: benchReplay,
};
