/**
 * Failing rows of every failed row-level expectation of a PostgreSQL suite run, in ONE more scan
 * that stops as soon as each expectation has its sample.
 */
import type { PoolClient } from 'pg';
import { POSITION_COLUMN, type ResolvedDataset } from './dataset';
import { col, type SqlPlan } from './postgresSql';
import { maskSampleRow, type ExpectationResult } from './results';

const SAMPLE_FETCH = 1000;

/** Renumbers the `$n` a SQL fragment uses (numbered for the combined SELECT) to follow the dataset's own parameters. */
function compactParams(sql: string, ds: ResolvedDataset, all: unknown[], values: unknown[], renumbered: Map<number, number>): string {
  return sql.replace(/\$(\d+)/g, (m, k: string) => {
    const i = Number(k);
    if (i <= ds.params.length) return m;
    if (!renumbered.has(i)) {
      values.push(all[i - 1]);
      renumbered.set(i, values.length);
    }
    return `$${renumbered.get(i)}`;
  });
}

/** Position (tid `(page,item)` or seq) as a sortable pair. */
function positionKey(p: string): [bigint, bigint] {
  const m = /^\((\d+),(\d+)\)$/.exec(p);
  return m ? [BigInt(m[1] ?? 0), BigInt(m[2] ?? 0)] : [BigInt(p), 0n];
}

export interface SampleRequest {
  dataset: ResolvedDataset;
  failed: { plan: SqlPlan; result: ExpectationResult }[];
  size: number;
  pii: Set<string>;
  /** The combined SELECT's parameters (the failing-row predicates refer to them). */
  params: unknown[];
  /** Per failed expectation, the position of its first failing row when the scan found it. */
  firstFailing: unknown[];
}

/** Fills `result.sample` of each failed expectation with up to `size` masked rows. */
export async function sampleFailingRows(db: PoolClient, req: SampleRequest): Promise<void> {
  const { dataset: ds, failed, size, pii } = req;
  const values = [...ds.params];
  const renumbered = new Map<number, number>();
  const preds = failed.map((f) => `coalesce((${compactParams(f.plan.failWhere ?? 'false', ds, req.params, values, renumbered)}), false)`);
  // Start at the earliest first-failing row of them all (a TID range scan on a table, the seq index on the log).
  const starts = req.firstFailing.filter((x): x is string => typeof x === 'string');
  let from = '';
  if (ds.position && starts.length === failed.length) {
    const earliest = starts.reduce((x, y) => {
      const [a1, a2] = positionKey(x);
      const [b1, b2] = positionKey(y);
      return a1 < b1 || (a1 === b1 && a2 <= b2) ? x : y;
    });
    values.push(earliest);
    from = ` AND d.${POSITION_COLUMN} >= $${values.length}::${ds.position}`;
  }
  const columns = [...new Set(failed.flatMap((f) => f.plan.planned.sampleColumns))];
  const select = [...columns.map(col), ...preds.map((p, i) => `${p} AS "f${i}"`)].join(', ');
  const where = preds.join(' OR ');
  // A cursor inside the suite's read-only transaction: rows stream in pages, and the scan stops as soon as every sample is full.
  await db.query(`DECLARE sluice_samples NO SCROLL CURSOR FOR SELECT ${select} FROM ${ds.sql} d WHERE (${where})${from}`, values);
  try {
    for (;;) {
      const { rows } = await db.query<Record<string, unknown>>(`FETCH ${SAMPLE_FETCH} FROM sluice_samples`);
      for (const r of rows) {
        failed.forEach((f, i) => {
          if (r[`f${i}`] !== true || f.result.sample.length >= size) return;
          f.result.sample.push(maskSampleRow(Object.fromEntries(f.plan.planned.sampleColumns.map((c) => [c, r[c]])), pii));
        });
      }
      if (rows.length < SAMPLE_FETCH || failed.every((f) => f.result.sample.length >= size)) break;
    }
  } finally {
    await db.query('CLOSE sluice_samples');
  }
}
