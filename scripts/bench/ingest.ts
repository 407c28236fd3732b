/**
 * Ingest benchmark: rows/s of file ingestion through the `ingest` workflow (validation on, chunked
 * COPY, dedup, quarantine), with the default parallel COPY streams and with one stream, against
 * rows/s of a raw `psql \copy` of the same rows into a table with the same definition as
 * sluice.raw_events (same constraints and indexes), measured in one run on one server, in
 * alternating rounds (medians).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SluiceClient } from '../../client';
import { createScratchDatabase } from '../../db/scratch';
import { quoteIdent } from '../../db/sql';
import { createWorkerSet } from '../../workers/bootstrap';
import { ingestWorkflowId } from '../../api';
import { copyText } from '../../activities/ingest/classify';
import { COPY_STREAMS } from '../../activities/ingest/logWriter';
import type { SluiceConfig } from '../../config';
import { timed, type BenchContext, type BenchResult, type BenchSuite } from './harness';

const SOURCE = 'ingest_bench_events';
const BASE_EVENTS = 1_000_000;
const ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const COUNTRIES = ['DE', 'FR', 'GB', 'NL', 'US', 'JP', 'BR', 'IN'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY'];
const DEVICES = ['desktop', 'mobile', 'tablet'];
const BROWSERS = ['firefox', 'chrome', 'safari', 'edge'];
const CITIES = ['Berlin', 'Paris', 'London', 'Amsterdam', 'New York', 'Tokyo', 'São Paulo', 'Mumbai'];

/** A deterministic 20-field event (no Math.random: the same scale gives the same file). */
export function benchEvent(i: number): Record<string, unknown> {
  const k = (i * 2654435761) >>> 0;
  return {
    id: `ev-${i}`,
    ts: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    user_id: k % 100_000,
    session: `s-${(k >>> 7) % 1_000_000}`,
    sku: `SKU-${k % 5000}`,
    qty: 1 + (k % 5),
    price: Math.round((k % 100_000) / 7) / 100,
    currency: CURRENCIES[k % CURRENCIES.length],
    country: COUNTRIES[(k >>> 3) % COUNTRIES.length],
    city: CITIES[(k >>> 5) % CITIES.length],
    device: DEVICES[(k >>> 2) % DEVICES.length],
    browser: BROWSERS[(k >>> 4) % BROWSERS.length],
    referrer: k % 3 === 0 ? null : `https://example.com/r/${k % 977}`,
    campaign: k % 5 === 0 ? `spring-${k % 13}` : null,
    discount: (k % 50) / 100,
    gift: k % 11 === 0,
    first_order: k % 17 === 0,
    rating: k % 4 === 0 ? null : 1 + (k % 5),
    latency_ms: k % 2000,
    tags: [`t${k % 7}`, `t${k % 13}`],
  };
}

async function writeStreamed(file: string, lines: (i: number) => string, n: number): Promise<number> {
  const out = fs.createWriteStream(file);
  let buf = '';
  for (let i = 0; i < n; i++) {
    buf += lines(i);
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise<void>((resolve, reject) => out.on('finish', () => resolve()).on('error', reject));
  return fs.statSync(file).size;
}

function runPsql(url: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', command], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited with ${code}: ${err}`))));
  });
}

/**
 * Ingests the file through the `ingest` workflow, on a worker of its own over a database of its own
 * (an empty log, as the baseline COPY gets an empty table), and returns the seconds it took.
 */
async function ingestThroughWorkflow(ctx: BenchContext, config: SluiceConfig, ndjson: string, n: number, label: string): Promise<number> {
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: `sluice_bench_ingest_${label}`,
    applicationName: 'sluice-bench-ingest',
  });
  try {
    const workers = await createWorkerSet({ config, databaseUrl: db.url, queues: ['cpu'], migrate: false, log: () => undefined });
    const running = workers.run();
    const client = await SluiceClient.connect({ config, address: ctx.stack.temporal.address, namespace: ctx.stack.temporal.namespace });
    try {
      const [result, seconds] = await timed(() => client.ingestFile(SOURCE, { kind: 'file', path: ndjson }, { format: 'ndjson' }));
      if (result.accepted !== n || result.received !== n)
        throw new Error(`ingest (${label}) accepted ${result.accepted} of ${result.received} (expected ${n})`);
      const order = await db.pool.query<{ out_of_order: number }>(
        `SELECT count(*)::int AS out_of_order FROM (
           SELECT substr(event_id, 4)::int - lag(substr(event_id, 4)::int) OVER (ORDER BY seq) AS step FROM sluice.raw_events WHERE source = $1) s
         WHERE step <> 1`,
        [SOURCE],
      );
      if (order.rows[0]?.out_of_order !== 0) throw new Error(`ingest (${label}): the log does not keep the file's order`);
      const activity = await db.pool.query<{ ms: number | null }>(
        "SELECT max(duration_ms) AS ms FROM sluice.run_events WHERE step = 'ingestFile' AND status = 'completed'",
      );
      ctx.log(
        `ingest through the workflow (${label}, copy streams ${config.ingestCopyStreams ?? 'default'}): ${seconds.toFixed(2)} s, of which the ingestFile activity ${((activity.rows[0]?.ms ?? Number.NaN) / 1000).toFixed(2)} s`,
      );
      await client.temporal.workflow.getHandle(ingestWorkflowId(SOURCE)).terminate('benchmark over');
      return seconds;
    } finally {
      await client.close();
      workers.shutdown();
      await running;
    }
  } finally {
    await db.drop();
  }
}

export async function benchIngestVsCopy(ctx: BenchContext): Promise<Pick<BenchResult, 'metrics' | 'ratios' | 'notes'>> {
  const n = Math.max(1000, Math.round(BASE_EVENTS * ctx.scale));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-ingest-'));
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_ingest',
    applicationName: 'sluice-bench-ingest',
  });
  const queues = { cpu: `bench-ingest-${randomBytes(3).toString('hex')}`, gpu: `bench-ingest-gpu-${randomBytes(3).toString('hex')}` };
  // The generated file is the workers' one ingest root here.
  const config: SluiceConfig = { ...ctx.config, taskQueues: queues, cpuActivityConcurrency: 4, ingestRoots: [dir] };
  try {
    ctx.log(`generating ${n.toLocaleString('en-US')} events of 20 fields`);
    const ndjson = path.join(dir, 'events.ndjson');
    const tsv = path.join(dir, 'events.tsv');
    const batchId = 'bench-copy';
    const bytes = await writeStreamed(ndjson, (i) => `${JSON.stringify(benchEvent(i))}\n`, n);
    // The same rows in COPY text form, for the baseline (prepared outside the timing, like any COPY input).
    await writeStreamed(
      tsv,
      (i) => {
        const e = benchEvent(i);
        return `${SOURCE}\t${e.id as string}\t${e.ts as string}\t${SOURCE}\t1.0.0\t${copyText(JSON.stringify(e))}\t${batchId}\n`;
      },
      n,
    );
    ctx.log(`NDJSON file: ${(bytes / 1e6).toFixed(1)} MB`);

    // Baseline: the same table definition as the log (identity, unique (source, event_id), indexes),
    // a fresh table each time, dropped once counted: a table of the user's own (sluice_owner's, in
    // sluice_reference), filled by psql \copy as that role.
    const copyOnce = async (table: string): Promise<number> => {
      const owner = db.ownerPool();
      await owner.query(`CREATE TABLE sluice_reference.${quoteIdent(table)} (LIKE sluice.raw_events INCLUDING ALL)`);
      const [, seconds] = await timed(() =>
        runPsql(
          db.ownerUrl,
          `\\copy sluice_reference.${quoteIdent(table)} (source, event_id, event_time, contract, contract_version, payload, batch_id) FROM '${tsv}'`,
        ),
      );
      const copied = Number(
        (await owner.query<{ n: string }>(`SELECT count(*)::text AS n FROM sluice_reference.${quoteIdent(table)}`)).rows[0]?.n,
      );
      if (copied !== n) throw new Error(`baseline copied ${copied} rows, expected ${n}`);
      await owner.query(`DROP TABLE sluice_reference.${quoteIdent(table)}`);
      ctx.log(`psql \\copy into ${table}: ${seconds.toFixed(2)} s`);
      return seconds;
    };
    // The load on a shared machine drifts within a run: rounds of baseline, parallel streams (the
    // default) and one stream, with the baseline again at the end. A round's ratios take the mean of
    // the baselines around it; the figures are the medians over the rounds.
    const copies = [await copyOnce('bench_copy_0')];
    const parallel: number[] = [];
    const single: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      parallel.push(await ingestThroughWorkflow(ctx, config, ndjson, n, 'parallel'));
      single.push(await ingestThroughWorkflow(ctx, { ...config, ingestCopyStreams: 1 }, ndjson, n, 'single'));
      copies.push(await copyOnce(`bench_copy_${round}`));
    }
    const copyAround = parallel.map((_, r) => ((copies[r] ?? Number.NaN) + (copies[r + 1] ?? Number.NaN)) / 2);
    const parallelSeconds = median(parallel);
    const singleSeconds = median(single);
    const copySeconds = median(copies);
    return {
      metrics: {
        ingest_file_rows_per_s: { value: Math.round(n / parallelSeconds), unit: 'rows/s' },
        ingest_single_stream_rows_per_s: { value: Math.round(n / singleSeconds), unit: 'rows/s' },
        psql_copy_rows_per_s: { value: Math.round(n / copySeconds), unit: 'rows/s' },
        ingest_file_seconds: { value: parallelSeconds, unit: 's' },
        ingest_single_stream_seconds: { value: singleSeconds, unit: 's' },
        psql_copy_seconds: { value: copySeconds, unit: 's' },
        ingest_file_mb_per_s: { value: bytes / 1e6 / parallelSeconds, unit: 'MB/s' },
      },
      ratios: {
        ingest_vs_copy: median(parallel.map((s, r) => (copyAround[r] ?? Number.NaN) / s)),
        ingest_single_stream_vs_copy: median(single.map((s, r) => (copyAround[r] ?? Number.NaN) / s)),
      },
      notes: {
        events: n,
        fields: 20,
        ndjsonBytes: bytes,
        cpus: os.cpus().length,
        validation: 'on (cached ajv validator)',
        copyStreams: { ingest_file: config.ingestCopyStreams ?? `default (${COPY_STREAMS})`, ingest_single_stream: 1 },
        rounds: { psqlCopySeconds: copies, ingestFileSeconds: parallel, ingestSingleStreamSeconds: single },
      },
    };
  } finally {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Temporary suite to run the ingest half alone; the lead composes suite `ingest` with the transform figures. */
export const ingestFileSuite: BenchSuite = {
  name: 'ingest-file',
  description: 'file ingestion through the ingest workflow vs raw psql \\copy (rows/s, ratio ingest_vs_copy)',
  run: benchIngestVsCopy,
};
