/**
 * Transform benchmarks (`npm run bench -- transform [--scale 0.05]`), in a database of their own:
 *  - transform_vs_sql: rows/s of the incremental `transform` workflow (chunks of 50,000 log rows,
 *    one activity each, watermark advanced per chunk, default parallelism) ÷ rows/s of the same SQL
 *    run directly as one INSERT ... SELECT into an identical table; 1,000,000 events of 20 fields ×
 *    scale. transform_serial_vs_sql: the same with one chunk at a time. The direct run is timed
 *    before and after the workflows and averaged (this machine is noisy); a CHECKPOINT precedes each.
 *  - replay_rows_per_s: full rebuild by the `backfill` workflow of a 10,000,000-event log × scale
 *    (child workflows, hash, switch), with the number of workflow histories it made and the
 *    largest history length, both read back from Temporal.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import { registerTransformVersion } from '../../activities/transform/registry';
import { pollUntil } from '../../client/poll';
import { DERIVED_SCHEMA, derivedTable, quoteIdent } from '../../activities/transform/sqlText';
import { createScratchDatabase, type ScratchDatabase } from '../../db/scratch';
import { createWorkerSet, type WorkerSet } from '../../workers/bootstrap';
import type { BackfillResult } from '../../api';
import { dataLandedSignal, transformWorkflowId } from '../../api';
import { DEFAULT_PARALLELISM } from '../../workflows/transform';
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
async function loadLog(pool: Pool, total: number, log: (m: string) => void): Promise<void> {
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
  await pool.query('VACUUM (ANALYZE) sluice.raw_events');
}

interface Harness {
  db: ScratchDatabase;
  workers: WorkerSet;
  running: Promise<void>;
  client: Client;
  connection: Connection;
  taskQueue: string;
  close(): Promise<void>;
}

async function startHarness(ctx: BenchContext): Promise<Harness> {
  const db = await createScratchDatabase(ctx.stack.postgres.url, { prefix: 'sluice_bench_transform', applicationName: 'sluice-bench' });
  const taskQueue = `bench-transform-${randomBytes(4).toString('hex')}`;
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
    db, workers, running, client, connection, taskQueue,
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

async function directInsert(pool: Pool, name: string, table: string, maxSeq: string): Promise<[number, number]> {
  const target = `${quoteIdent(DERIVED_SCHEMA)}.${quoteIdent(table)}`;
  await pool.query(`DROP TABLE IF EXISTS ${target}`);
  await pool.query(`CREATE TABLE ${target} (LIKE ${derivedTable(name, 1)} INCLUDING DEFAULTS INCLUDING INDEXES)`);
  await pool.query('CHECKPOINT'); // each contender starts with no dirty pages of the one before
  const [r, seconds] = await timed(() => pool.query(`INSERT INTO ${target} SELECT * FROM (${TRANSFORM_SQL}) q`, ['1', maxSeq]));
  await pool.query(`DROP TABLE ${target}`);
  return [r.rowCount ?? 0, seconds];
}

async function watermarkOf(pool: Pool, name: string): Promise<string> {
  return (await pool.query<{ s: string }>('SELECT min(last_seq)::text AS s FROM sluice.watermarks WHERE name = $1 AND version = 1', [name])).rows[0]?.s ?? '0';
}

interface WorkflowRun {
  rows: number;
  seconds: number;
  chunks: number;
  deferred: number;
  /** Time inside chunk activities, summed (more than `seconds` when chunks overlap). */
  inActivities: number;
  /** From the start to the first chunk (workflow start, input check, plan). */
  toFirstChunk: number;
}

/** The incremental `transform` workflow of a fresh transform over the whole log, from the start until the watermark reaches `maxSeq`. */
async function transformWorkflow(h: Harness, name: string, maxSeq: string, parallelism: number): Promise<WorkflowRun> {
  await register(h.db.pool, name);
  await h.db.pool.query('CHECKPOINT');
  const t0 = (await h.db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]?.t as Date;
  const [, seconds] = await timed(async () => {
    await h.client.workflow.signalWithStart('transform', {
      taskQueue: h.taskQueue,
      workflowId: transformWorkflowId(name),
      args: [{ transform: name, chunkRows: CHUNK_ROWS, parallelism }],
      signal: dataLandedSignal,
      signalArgs: [{ source: SOURCE, fromSeq: '1', toSeq: maxSeq, batchId: 'bench-load' }],
    });
    await pollUntil(`the watermark of ${name} to reach ${maxSeq}`, async () => ((await watermarkOf(h.db.pool, name)) === maxSeq ? true : undefined), {
      timeoutMs: 30 * 60_000,
      intervalMs: 20,
    });
  });
  await h.client.workflow.getHandle(transformWorkflowId(name)).terminate('benchmark done');
  const rows = Number((await h.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${derivedTable(name, 1)}`)).rows[0]?.n);
  const ev = (await h.db.pool.query<{ chunks: string; deferred: string; ms: string; first: Date }>(
    `SELECT count(*) FILTER (WHERE status = 'completed' AND details->>'outcome' = 'committed')::text AS chunks,
            count(*) FILTER (WHERE status = 'completed' AND details->>'outcome' = 'deferred')::text AS deferred,
            coalesce(sum(duration_ms) FILTER (WHERE status = 'completed'), 0)::text AS ms,
            min(occurred_at) FILTER (WHERE status = 'started') AS first
     FROM sluice.run_events WHERE step = 'runTransformChunk' AND workflow_id = $1`,
    [transformWorkflowId(name)],
  )).rows[0];
  return {
    rows,
    seconds,
    chunks: Number(ev?.chunks ?? 0),
    deferred: Number(ev?.deferred ?? 0),
    inActivities: Number(ev?.ms ?? 0) / 1000,
    toFirstChunk: ev?.first ? (ev.first.getTime() - t0.getTime()) / 1000 : Number.NaN,
  };
}

const CHUNK_ROWS = 50_000;
/** The workflow's default (workflows/transform.ts DEFAULT_PARALLELISM). */
const PARALLELISM = DEFAULT_PARALLELISM;

/**
 * transform_vs_sql (see the module comment): direct, workflow with the default parallelism,
 * workflow one chunk at a time, direct again; the ratios use the mean of the two direct runs.
 */
export async function benchTransformVsSql(ctx: BenchContext): Promise<Omit<BenchResult, 'suite'>> {
  const events = Math.max(10_000, Math.round(1_000_000 * ctx.scale));
  const h = await startHarness(ctx);
  try {
    await loadLog(h.db.pool, events, ctx.log);
    const maxSeq = String(events);
    await register(h.db.pool, 'bench_orders_direct'); // the table definition the direct runs copy
    await h.db.pool.query('SELECT count(*) FROM sluice.raw_events'); // warm the cache for every contender
    const [directRows1, direct1] = await directInsert(h.db.pool, 'bench_orders_direct', 'direct_a', maxSeq);
    ctx.log(`direct INSERT ... SELECT: ${directRows1} rows in ${direct1.toFixed(2)} s`);
    const runs: Record<string, WorkflowRun> = {};
    for (const [label, parallelism] of [['parallel', PARALLELISM], ['serial', 1]] as const) {
      const r = await transformWorkflow(h, `bench_orders_${label}`, maxSeq, parallelism);
      runs[label] = r;
      ctx.log(`transform workflow (parallelism ${parallelism}): ${r.rows} rows in ${r.seconds.toFixed(2)} s ` +
        `(${r.chunks} chunks, ${r.deferred} deferred, ${r.inActivities.toFixed(2)} s inside chunk activities, first chunk after ${r.toFirstChunk.toFixed(3)} s)`);
      if (r.rows !== directRows1) throw new Error(`row counts differ: workflow (parallelism ${parallelism}) ${r.rows}, direct ${directRows1}`);
    }
    const [directRows2, direct2] = await directInsert(h.db.pool, 'bench_orders_direct', 'direct_b', maxSeq);
    ctx.log(`direct INSERT ... SELECT again: ${directRows2} rows in ${direct2.toFixed(2)} s`);
    if (directRows2 !== directRows1) throw new Error(`row counts differ: direct ${directRows1}/${directRows2}`);
    const parallel = runs.parallel as WorkflowRun;
    const serial = runs.serial as WorkflowRun;
    const directRate = directRows1 / ((direct1 + direct2) / 2);
    return {
      metrics: {
        transform_workflow_rows_per_s: { value: parallel.rows / parallel.seconds, unit: 'rows/s' },
        transform_workflow_serial_rows_per_s: { value: serial.rows / serial.seconds, unit: 'rows/s' },
        transform_direct_sql_rows_per_s: { value: directRate, unit: 'rows/s' },
        transform_workflow_s: { value: parallel.seconds, unit: 's' },
        transform_workflow_serial_s: { value: serial.seconds, unit: 's' },
        transform_chunks: { value: parallel.chunks, unit: 'chunks' },
        transform_deferred_chunks: { value: parallel.deferred + serial.deferred, unit: 'chunks' },
        transform_chunk_activities_s: { value: parallel.inActivities, unit: 's' },
        transform_to_first_chunk_s: { value: parallel.toFirstChunk, unit: 's' },
      },
      ratios: {
        transform_vs_sql: parallel.rows / parallel.seconds / directRate,
        transform_serial_vs_sql: serial.rows / serial.seconds / directRate,
      },
      notes: { events, rows: directRows1, chunkRows: CHUNK_ROWS, parallelism: PARALLELISM, directSeconds: [direct1, direct2] },
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
    await loadLog(h.db.pool, events, ctx.log);
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
    ctx.log(`backfill: ${result.rowsRead} rows, ${result.ranges} ranges, ${result.runs} run(s), sha256 ${result.sha256.slice(0, 16)}… in ${seconds.toFixed(2)} s`);
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
  description: 'transform_vs_sql (incremental workflow vs one INSERT ... SELECT) and replay_rows_per_s (full backfill)',
  async run(ctx) {
    const a = await benchTransformVsSql(ctx);
    const b = await benchReplay(ctx);
    return { metrics: { ...a.metrics, ...b.metrics }, ratios: { ...a.ratios, ...b.ratios }, notes: { transformVsSql: a.notes, replay: b.notes } };
  },
};

/** The two halves alone, for runs at different scales (the replay log is ten times larger). */
export const transformVsSqlSuite: BenchSuite = {
  name: 'transform-vs-sql',
  description: 'transform_vs_sql only',
  run: benchTransformVsSql,
};
export const replaySuite: BenchSuite = {
  name: 'transform-replay',
  description: 'replay_rows_per_s only (full backfill of 10M events × scale)',
  run: benchReplay,
};
