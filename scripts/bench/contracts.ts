/**
 * Contracts benchmark (`npm run bench -- contracts`):
 *  - ingest_path_rows_per_s: sluice's ingest path on one core, from NDJSON bytes to the rows the log
 *    writer sends with COPY (readers, RecordClassifier, ChunkBuilder) over generated records of a
 *    20-field contract (strings with bounds, a date-time and an email format, ranges, enums; 1 in
 *    100 invalid); ajv_rows_per_s: the ajv-compiled validator alone in a loop over the same
 *    records, parsed beforehand; ingest_path_vs_ajv: their ratio, measured side by side. The
 *    same runs also give rows per CPU-second of the process (*_per_cpu_s, ingest_path_vs_ajv_cpu),
 *    which move less than wall time when other work shares the machine.
 *  - suite_vs_sql: a 12-expectation suite over 1,000,000 rows (runSuiteOnDataset: catalog lookup,
 *    probes, the combined aggregate, failing-row samples) ÷ one hand-written SELECT computing the same
 *    numbers with the same techniques (duplicates by GROUP BY), in the same transaction mode and
 *    session settings. Medians of alternating runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { Float64, Int32, Table, TimestampMillisecond, Utf8, vectorFromArray } from 'apache-arrow';
import addFormats from 'ajv-formats';
import type { Pool } from 'pg';
import { SUITE_TRANSACTION, runSuiteOnArrow, runSuiteOnDataset } from '../../activities/validate';
import { inTransaction } from '../../db/transaction';
import { RecordClassifier, stageLine } from '../../activities/ingest/classify';
import { CHUNK_RECORDS, ChunkBuilder } from '../../activities/ingest/logWriter';
import { ndjsonRecords } from '../../activities/ingest/readers';
import type { Expectation } from '../../contracts/expectations';
import { ContractRegistry, type Contract } from '../../contracts/registry';
import { createScratchDatabase } from '../../db/scratch';
import { timed, type BenchContext, type BenchResult, type BenchSuite } from './harness';

const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY'];
const COUNTRIES = ['DE', 'FR', 'GB', 'NL', 'US', 'JP', 'BR', 'IN'];
const DEVICES = ['desktop', 'mobile', 'tablet'];

/**
 * 20 fields: strings with bounds, a date-time and an email format, integers and numbers with ranges,
 * enums, booleans, nullable fields, an array.
 */
const recordSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'ts', 'user_id', 'sku', 'qty', 'price', 'currency', 'country'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 64 },
    ts: { type: 'string', format: 'date-time', maxLength: 40 },
    user_id: { type: 'integer', minimum: 0 },
    email: { type: 'string', format: 'email', maxLength: 254 },
    sku: { type: 'string', pattern: '^SKU-[0-9]{1,6}$', maxLength: 12 },
    qty: { type: 'integer', minimum: 1, maximum: 1000 },
    price: { type: 'number', minimum: 0 },
    currency: { type: 'string', enum: CURRENCIES },
    country: { type: 'string', enum: COUNTRIES },
    city: { type: 'string', maxLength: 100 },
    device: { type: 'string', enum: DEVICES },
    browser: { type: 'string', maxLength: 40 },
    referrer: { type: ['string', 'null'], maxLength: 2048 },
    campaign: { type: ['string', 'null'], maxLength: 64 },
    discount: { type: 'number', minimum: 0, maximum: 1 },
    gift: { type: 'boolean' },
    first_order: { type: 'boolean' },
    rating: { type: ['integer', 'null'], minimum: 1, maximum: 5 },
    latency_ms: { type: 'integer', minimum: 0 },
    tags: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 20 } },
  },
};

const benchContract: Contract = {
  contract: 'bench_orders',
  version: '1.0.0',
  owner: 'bench',
  eventId: '/id',
  eventTime: '/ts',
  schema: recordSchema,
  file: 'scripts/bench/contracts.ts',
};

function record(i: number): Record<string, unknown> {
  const k = (i * 2654435761) >>> 0;
  const r: Record<string, unknown> = {
    id: `ev-${i}`,
    ts: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    user_id: k % 100_000,
    email: `user${k % 100_000}@example.com`,
    sku: `SKU-${k % 5000}`,
    qty: 1 + (k % 5),
    price: Math.round((k % 100_000) / 7) / 100,
    currency: CURRENCIES[k % 4],
    country: COUNTRIES[(k >>> 3) % 8],
    city: 'Berlin',
    device: DEVICES[(k >>> 2) % 3],
    browser: 'firefox',
    referrer: k % 3 === 0 ? null : `https://example.com/r/${k % 977}`,
    campaign: k % 5 === 0 ? `spring-${k % 13}` : null,
    discount: (k % 50) / 100,
    gift: k % 11 === 0,
    first_order: k % 17 === 0,
    rating: k % 4 === 0 ? null : 1 + (k % 5),
    latency_ms: k % 2000,
    tags: [`t${k % 7}`, `t${k % 13}`],
  };
  if (i % 100 === 99) r.qty = 0; // 1% invalid
  return r;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function checkValid(n: number, valid: number): void {
  if (valid !== n - Math.floor(n / 100)) throw new Error(`expected ${n - Math.floor(n / 100)} valid records, counted ${valid}`);
}

/** Rows per second of wall time, and per CPU-second of this process (steadier on a shared machine). */
async function rate(n: number, loop: () => number | Promise<number>): Promise<{ wall: number; cpu: number }> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const valid = await loop();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  checkValid(n, valid);
  return { wall: n / s, cpu: n / ((c.user + c.system) / 1e6) };
}

/**
 * Rows/s of sluice's ingest path on one core against a bare ajv loop over the same records, parsed
 * beforehand. The ingest path is what ingestFile runs per record, up to the bytes handed to the
 * socket: the file's lines (ndjsonRecords), RecordClassifier.classify (JSON.parse, storable check,
 * validation, event id, event time) and the COPY text of the log writer's chunks (ChunkBuilder,
 * with seq values as the writer reserves them, and the staging lines of the invalid rows).
 */
async function ingestPathRates(
  file: string,
  n: number,
  reps: number,
): Promise<{ ajv: number; ingestPath: number; ajvCpu: number; ingestPathCpu: number; copyBytes: number }> {
  const records = Array.from({ length: n }, (_, i) => record(i));
  const ajv = new Ajv2020({ strict: true, allErrors: true, $data: false, validateFormats: true });
  addFormats(ajv);
  const bareFn = ajv.compile(recordSchema);
  const registry = new ContractRegistry([benchContract]);
  const classifier = new RecordClassifier(benchContract, registry.validator('bench_orders', '1.0.0'));
  const origin = { source: 'bench_orders', batchId: 'bench-batch', contract: benchContract };
  let copyBytes = 0;
  let nextSeq = 1;
  const copyText = (chunk: ChunkBuilder): void => {
    const seqs = Array.from({ length: chunk.logRows }, () => String(nextSeq++));
    for (const piece of chunk.logCopyText(seqs)) copyBytes += piece.length;
    chunk.invalid.forEach((row, i) => (copyBytes += stageLine(chunk.first + i, row).length));
  };
  const bare = (): number => {
    let ok = 0;
    for (const r of records) if (bareFn(r)) ok++;
    return ok;
  };
  const ingestPath = async (): Promise<number> => {
    let ok = 0;
    let ordinal = 0;
    let chunk = new ChunkBuilder(origin, 0);
    for await (const rec of ndjsonRecords(file)) {
      const row = classifier.classify(rec, ordinal++);
      if (row.valid) ok++;
      chunk.add(row);
      if (chunk.records === CHUNK_RECORDS) {
        copyText(chunk);
        chunk = new ChunkBuilder(origin, ordinal, chunk.takeBody());
      }
    }
    copyText(chunk);
    return ok;
  };
  // warm up (JIT, validator compilation, the file in the page cache), then alternate
  bare();
  await ingestPath();
  const b: { wall: number; cpu: number }[] = [];
  const p: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < reps; i++) {
    b.push(await rate(n, bare));
    copyBytes = 0;
    p.push(await rate(n, ingestPath));
  }
  return {
    ajv: median(b.map((x) => x.wall)),
    ingestPath: median(p.map((x) => x.wall)),
    ajvCpu: median(b.map((x) => x.cpu)),
    ingestPathCpu: median(p.map((x) => x.cpu)),
    copyBytes,
  };
}

const suite: Expectation[] = [
  { type: 'row_count', min: 1 },
  { type: 'not_null', column: 'customer_id' },
  { type: 'not_null', column: 'email', maxNullRate: 0.01 },
  { type: 'unique', columns: ['id'] },
  { type: 'unique', columns: ['customer_id', 'order_no'], name: 'customer_order' },
  { type: 'accepted_values', column: 'status', values: ['new', 'paid', 'shipped', 'returned'] },
  { type: 'range', column: 'amount', min: 0, max: 10_000 },
  { type: 'regex', column: 'sku', pattern: '^SKU-[0-9]{1,6}$' },
  { type: 'format', column: 'email', format: 'email', minRate: 0.99 },
  { type: 'freshness', column: 'created_at', maxAgeSeconds: 86_400 * 365 },
  { type: 'custom_sql', name: 'shipped_has_amount', failingRowsWhere: "status = 'shipped' AND amount <= 0" },
  { type: 'range', column: 'qty', min: 1, max: 100, minRate: 0.999, severity: 'warn' },
];

/**
 * The same numbers, written by hand as one query. Duplicates are counted by hash aggregation
 * (GROUP BY), as the suite counts them, not by count(DISTINCT ...), whose sort the suite avoids.
 */
const HAND_WRITTEN = `
SELECT count(*) AS n,
  count(*) FILTER (WHERE customer_id IS NULL) AS customer_nulls,
  count(*) FILTER (WHERE email IS NULL) AS email_nulls,
  (SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c FROM sluice_reference.bench_quality WHERE id IS NOT NULL GROUP BY id) g) AS dup_ids,
  (SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c FROM sluice_reference.bench_quality WHERE customer_id IS NOT NULL AND order_no IS NOT NULL GROUP BY customer_id, order_no) g) AS dup_orders,
  count(status) AS statuses, count(*) FILTER (WHERE status NOT IN ('new', 'paid', 'shipped', 'returned')) AS bad_status,
  count(amount) AS amounts, count(*) FILTER (WHERE amount < 0 OR amount > 10000) AS bad_amount, min(amount), max(amount),
  count(sku) AS skus, count(*) FILTER (WHERE sku !~ '^SKU-[0-9]{1,6}$') AS bad_sku,
  count(email) AS emails, count(*) FILTER (WHERE email !~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$') AS bad_email,
  extract(epoch FROM now() - max(created_at)) AS age,
  count(*) FILTER (WHERE status = 'shipped' AND amount <= 0) AS shipped_free,
  count(qty) AS qtys, count(*) FILTER (WHERE qty < 1 OR qty > 100) AS bad_qty, min(qty), max(qty)
FROM sluice_reference.bench_quality`;

/** The hand-written query in the session the suite runs in (runSuiteOnDataset): the same transaction mode and settings. */
async function runHandWritten(pool: Pool): Promise<void> {
  await inTransaction(pool, (db) => db.query(HAND_WRITTEN), SUITE_TRANSACTION);
}

async function suiteVsSql(
  ctx: BenchContext,
  rows: number,
  reps: number,
): Promise<{ suite: number; sql: number; profiled: number; failed: string[]; queries: number }> {
  // A database of its own: nothing is left in the user's database, even when the run fails.
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_contracts',
    poolMax: 2,
    applicationName: 'sluice-bench-contracts',
  });
  const { pool } = db;
  try {
    ctx.log(`creating sluice_reference.bench_quality with ${rows} rows`);
    await db.ownerPool().query(
      `CREATE TABLE sluice_reference.bench_quality AS
      SELECT g AS id, 1 + g % 50000 AS customer_id, g / 50000 AS order_no,
             CASE WHEN g % 1000 = 0 THEN NULL ELSE 'user' || (g % 50000) || '@example.com' END AS email,
             (ARRAY['new','paid','shipped','returned'])[1 + g % 4] AS status,
             ((g::bigint * 7919) % 100000) / 100.0 AS amount, 'SKU-' || (g % 5000) AS sku, 1 + g % 5 AS qty,
             now() - (g || ' seconds')::interval AS created_at
        FROM generate_series(1, $1::int) g`,
      [rows],
    );
    // a few defects, so the suite also samples failing rows
    await db.ownerPool().query(`INSERT INTO sluice_reference.bench_quality VALUES (1, 1, 0, 'nope', 'lost', -1, 'sku?', 0, now())`);
    await db.ownerPool().query('ANALYZE sluice_reference.bench_quality');
    const contract: Contract = {
      contract: 'bench_quality',
      version: '1.0.0',
      owner: 'bench',
      schema: {
        type: 'object',
        properties: Object.fromEntries(
          ['id', 'customer_id', 'order_no', 'email', 'status', 'amount', 'sku', 'qty', 'created_at'].map((c) => [c, {}]),
        ),
      },
      expectations: suite,
      file: 'scripts/bench/contracts.ts',
    };
    const dataset = { kind: 'table' as const, table: 'bench_quality', schema: 'sluice_reference' as const };
    const runSuite = (profile: boolean) => runSuiteOnDataset(pool, contract, { dataset, profile, sampleSize: 5 });
    await runHandWritten(pool); // warm the cache
    const first = await runSuite(false);
    const s: number[] = [];
    const h: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < reps; i++) {
      h.push((await timed(() => runHandWritten(pool)))[1]);
      s.push((await timed(() => runSuite(false)))[1]);
      p.push((await timed(() => runSuite(true)))[1]);
    }
    return {
      suite: median(s),
      sql: median(h),
      profiled: median(p),
      failed: first.run.results.filter((r) => !r.passed).map((r) => r.name),
      queries: first.run.queries,
    };
  } finally {
    await db.drop();
  }
}

/** The bench table's rows as an Arrow snapshot, and the seconds the in-worker engine takes for the same suite. */
function arrowSuiteSeconds(rows: number): number {
  const now = Date.now();
  const ids = Array.from({ length: rows }, (_, i) => i + 1);
  const table = new Table({
    id: vectorFromArray(ids, new Int32()),
    customer_id: vectorFromArray(
      ids.map((g) => 1 + (g % 50000)),
      new Int32(),
    ),
    order_no: vectorFromArray(
      ids.map((g) => Math.floor(g / 50000)),
      new Int32(),
    ),
    email: vectorFromArray(
      ids.map((g) => (g % 1000 === 0 ? null : `user${g % 50000}@example.com`)),
      new Utf8(),
    ),
    status: vectorFromArray(
      ids.map((g) => ['new', 'paid', 'shipped', 'returned'][g % 4] ?? null),
      new Utf8(),
    ),
    amount: vectorFromArray(
      ids.map((g) => ((g * 7919) % 100000) / 100),
      new Float64(),
    ),
    sku: vectorFromArray(
      ids.map((g) => `SKU-${g % 5000}`),
      new Utf8(),
    ),
    qty: vectorFromArray(
      ids.map((g) => 1 + (g % 5)),
      new Int32(),
    ),
    created_at: vectorFromArray(
      ids.map((g) => new Date(now - g * 1000)),
      new TimestampMillisecond(),
    ),
  });
  const contract: Contract = {
    contract: 'bench_quality',
    version: '1.0.0',
    owner: 'bench',
    schema: { type: 'object' },
    expectations: suite,
    file: 'scripts/bench/contracts.ts',
  };
  const t0 = process.hrtime.bigint();
  runSuiteOnArrow(contract, { table, describe: 'bench' }, { profile: false });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export const contractsSuite: BenchSuite = {
  name: 'contracts',
  description: 'the ingest path (NDJSON bytes to COPY rows) vs bare ajv rows/s, and an expectation suite vs hand-written SQL',
  async run(ctx: BenchContext): Promise<Omit<BenchResult, 'suite'>> {
    const n = Math.max(10_000, Math.round(200_000 * ctx.scale));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-contracts-'));
    let v: Awaited<ReturnType<typeof ingestPathRates>>;
    let ndjsonBytes: number;
    try {
      const file = path.join(dir, 'records.ndjson');
      fs.writeFileSync(file, Array.from({ length: n }, (_, i) => `${JSON.stringify(record(i))}\n`).join(''));
      ndjsonBytes = fs.statSync(file).size;
      ctx.log(`ingest path over ${n} records (${(ndjsonBytes / 1e6).toFixed(1)} MB of NDJSON) x 5, bare ajv beside it`);
      v = await ingestPathRates(file, n, 5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const rows = Math.max(10_000, Math.round(1_000_000 * ctx.scale));
    const q = await suiteVsSql(ctx, rows, 3);
    ctx.log(`arrow snapshot suite over ${rows} rows`);
    const arrowS = arrowSuiteSeconds(rows);
    return {
      metrics: {
        ingest_path_rows_per_s: { value: Math.round(v.ingestPath), unit: 'rows/s' },
        ajv_rows_per_s: { value: Math.round(v.ajv), unit: 'rows/s' },
        ingest_path_rows_per_cpu_s: { value: Math.round(v.ingestPathCpu), unit: 'rows/CPU-s' },
        ajv_rows_per_cpu_s: { value: Math.round(v.ajvCpu), unit: 'rows/CPU-s' },
        suite_s: { value: q.suite, unit: 's' },
        hand_written_sql_s: { value: q.sql, unit: 's' },
        suite_with_profiles_s: { value: q.profiled, unit: 's' },
        suite_arrow_s: { value: arrowS, unit: 's' },
        suite_arrow_rows_per_s: { value: Math.round(rows / arrowS), unit: 'rows/s' },
      },
      ratios: {
        ingest_path_vs_ajv: v.ingestPath / v.ajv,
        ingest_path_vs_ajv_cpu: v.ingestPathCpu / v.ajvCpu,
        suite_vs_sql: q.suite / q.sql,
        suite_with_profiles_vs_sql: q.profiled / q.sql,
      },
      notes: {
        records: n,
        invalidShare: 0.01,
        ndjsonBytes,
        copyBytes: v.copyBytes,
        suiteRows: rows + 1,
        expectations: suite.length,
        suiteQueries: q.queries,
        failedExpectations: q.failed,
        validation:
          'ingest_path = one core from NDJSON bytes in a file (page cache) to the COPY text of the log writer: activities/ingest readers.ndjsonRecords, RecordClassifier.classify (parse, storable check, validation, event id, event time), logWriter ChunkBuilder (log rows with their seq, staging rows of the invalid ones); ajv = the ajv-compiled validator in a bare loop over the same records parsed beforehand; medians of 5 alternating runs; *_per_s by wall time, *_per_cpu_s by the CPU time of this process (the same runs; on a shared machine the wall figures move with the load)',
        suite:
          'runSuiteOnDataset without profiles (catalog, regex and custom-SQL probes, ONE combined aggregate, a GROUP BY per unique key, failing-row samples) vs one hand-written SELECT of the same numbers (aggregates, duplicates by GROUP BY like the suite), both in a READ ONLY REPEATABLE READ transaction with the same statement_timeout; medians of 3 alternating runs',
        arrow:
          'runSuiteOnArrow over the same rows built in memory (one run; regex and custom_sql report error there, so it does less work than the PostgreSQL suite)',
      },
    };
  },
};
