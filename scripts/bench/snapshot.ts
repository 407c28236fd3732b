/**
 * `npm run bench -- snapshot [--scale 0.1]`: snapshot_vs_copy, side by side in one run on one
 * derived table of 10M × scale rows (seq, user_id bigint, amount double, items int, country text,
 * label boolean, at timestamptz; generated with INSERT … SELECT generate_series in a scratch
 * database, indexed on seq and analysed, as a registered transform's table is):
 *  - copy: `COPY (SELECT <the same columns> FROM t WHERE seq BETWEEN … ORDER BY seq) TO STDOUT
 *    (FORMAT binary)` read by this Node process and discarded: what any export must at least pay.
 *    Run before and after the snapshot; the ratio uses their mean.
 *  - snapshot: sluice's snapshot activity body (buildDatasetSnapshot: the same COPY, decoded into
 *    Arrow record batches, split, statistics, .npy matrices, artifact store, dataset row), with
 *    a spec of two numeric features, one categorical, a boolean label and the split keyed by
 *    user_id.
 * snapshot_vs_copy = snapshot rows/s ÷ copy rows/s (goal ≥ 0.5); snapshot_peak_rss_mb = the
 * largest resident set of this process sampled after every batch of the snapshot (goal < 1,024).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import { LocalArtifactStore } from '../../activities/artifacts';
import { buildDatasetSnapshot } from '../../activities/snapshot';
import { createScratchDatabase } from '../../db/scratch';
import { timed, type BenchContext, type BenchResult, type BenchSuite } from './harness';

const COLUMNS = 'seq, user_id, amount, items, country, label, at';

export async function benchSnapshotVsCopy(ctx: BenchContext): Promise<Omit<BenchResult, 'suite'>> {
  const rows = Math.max(10_000, Math.round(10_000_000 * ctx.scale));
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_snapshot',
    applicationName: 'sluice-bench',
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-snapshot-'));
  try {
    const load0 = os.loadavg()[0];
    ctx.log(`snapshot: generating ${rows.toLocaleString('en-US')} rows`);
    await db.pool.query(
      'CREATE TABLE sluice_derived.bench_rows__v1 (seq bigint, user_id bigint, amount double precision, items int, country text, label boolean, at timestamptz)',
    );
    const step = 1_000_000;
    for (let from = 1; from <= rows; from += step) {
      await db.pool.query(
        `INSERT INTO sluice_derived.bench_rows__v1
         SELECT g, g % 100000, (g % 997) * 0.25, (g % 13)::int, (ARRAY['DE','FR','US','ES','IT','NL'])[1 + g % 6], g % 3 = 0, timestamptz '2026-01-01' + g * interval '1 second'
           FROM generate_series($1::bigint, $2::bigint) g`,
        [from, Math.min(rows, from + step - 1)],
      );
    }
    await db.pool.query('CREATE INDEX ON sluice_derived.bench_rows__v1 (seq)');
    await db.pool.query('VACUUM (ANALYZE) sluice_derived.bench_rows__v1');

    const copyOnce = async (): Promise<number> => {
      const client = await db.pool.connect();
      try {
        let bytes = 0;
        const [, s] = await timed(() =>
          pipeline(
            client.query(
              copyTo(
                `COPY (SELECT ${COLUMNS} FROM sluice_derived.bench_rows__v1 WHERE seq BETWEEN 1 AND 9223372036854775807 ORDER BY seq) TO STDOUT (FORMAT binary)`,
              ),
            ),
            new Writable({
              write(chunk: Buffer, _enc, done) {
                bytes += chunk.length;
                done();
              },
            }),
          ),
        );
        ctx.log(`copy: ${s.toFixed(2)} s, ${(bytes / 2 ** 20).toFixed(0)} MiB`);
        return s;
      } finally {
        client.release();
      }
    };

    const copy1 = await copyOnce();
    const store = new LocalArtifactStore(dir);
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const [snap, snapS] = await timed(() =>
      buildDatasetSnapshot(
        db.pool,
        store,
        {
          transform: 'bench_rows',
          version: 1,
          spec: {
            features: [
              { name: 'amount', kind: 'numeric' },
              { name: 'items', kind: 'numeric' },
              { name: 'country', kind: 'categorical' },
            ],
            label: 'label',
            task: 'binary',
            split: { key: 'user_id' },
          },
        },
        { workflowId: 'bench', runId: 'bench', onProgress: () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)) },
      ),
    );
    ctx.log(
      `snapshot: ${snapS.toFixed(2)} s, ${(snap.arrow.size / 2 ** 20).toFixed(0)} MiB Arrow, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
    );
    const copy2 = await copyOnce();
    const copyS = (copy1 + copy2) / 2;
    return {
      metrics: {
        snapshot_rows_per_s: { value: Math.round(rows / snapS), unit: 'rows/s' },
        copy_binary_rows_per_s: { value: Math.round(rows / copyS), unit: 'rows/s' },
        snapshot_s: { value: snapS, unit: 's' },
        copy_binary_s: { value: copyS, unit: 's' },
        snapshot_peak_rss_mb: { value: Math.round(peakRss / 2 ** 20), unit: 'MiB' },
        snapshot_arrow_mb: { value: Math.round(snap.arrow.size / 2 ** 20), unit: 'MiB' },
      },
      ratios: { snapshot_vs_copy: copyS / snapS },
      goals: { snapshot_vs_copy: { op: '>=', value: 0.5 }, snapshot_peak_rss_mb: { op: '<=', value: 1024 } },
      notes: {
        rows,
        copyRuns_s: [copy1, copy2],
        rssBeforeSnapshotMiB: Math.round(rssBefore / 2 ** 20),
        peakBatchMiB: Math.round(snap.peakBatchBytes / 2 ** 20),
        splitCounts: snap.splitCounts,
        loadAverage: { start: load0, end: os.loadavg()[0] },
      },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
}

export const snapshotSuite: BenchSuite = {
  name: 'snapshot',
  description: 'snapshot_vs_copy: a derived table to an Arrow dataset ÷ binary COPY of the same rows, discarded; snapshot_peak_rss_mb',
  run: benchSnapshotVsCopy,
};
