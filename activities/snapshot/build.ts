/**
 * buildDatasetSnapshot: one pass of `COPY (SELECT … ORDER BY seq) TO STDOUT (FORMAT binary)` over
 * a derived table version, decoded into Arrow record batches of {@link BATCH_ROWS} rows that are
 * written to the artifact store as they come (memory: one batch, whatever the table's size),
 * with the split column, the column statistics and the .npy matrices computed on the way.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncByteQueue, Int8, RecordBatch, RecordBatchFileWriter, Struct, makeData, type Schema } from 'apache-arrow';
import type { Pool, PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { ErrorCodes } from '../../api/errors';
import type { DatasetFile, DatasetNpyFiles, SnapshotInput, SplitName } from '../../api/workflows/snapshot';
import { canonicalJson } from '../../contracts/canonical';
import type { ArtifactRef, ArtifactStore, ArtifactWriter } from '../artifacts';
import { SluiceError } from '../failures';
import { derivedTable, SEQ_COLUMN } from '../transform/sqlText';
import {
  arrowSchema,
  arrowType,
  ColumnBuilder,
  makeRowDecoder,
  planColumn,
  SPLIT_COLUMN,
  type ColumnKind,
  type ColumnPlan,
} from './columns';
import { BinaryCopyReader } from './copyBinary';
import { DatasetInvalidError } from './errors';
import { npyHeader } from './npy';
import { murmur3, murmur3OfInteger, SPLIT_NAMES, splitOf, splitRule } from './split';
import { ColumnAccumulator, isNumericKind, RowSample, type ColumnStats } from './stats';

/** Rows per Arrow record batch: fixed, because batch boundaries are part of the file's bytes. */
export const BATCH_ROWS = 65_536;
/** Classes a classification label may have. */
export const MAX_CLASSES = 1_000;
/** Version of the file layout recorded in the Arrow metadata (`sluice.dataset`). */
export const DATASET_FORMAT = 1;

const INTEGER_KINDS: ReadonlySet<ColumnKind> = new Set(['int64', 'int32', 'int16']);
type ClassKey = string | number;

export interface SnapshotOutcome {
  datasetId: string;
  transform: string;
  version: number;
  rowCount: number;
  arrow: ArtifactRef;
  splitCounts: Record<SplitName, number>;
  npy: Record<SplitName, DatasetNpyFiles>;
  covered: { fromSeq: string | null; toSeq: string | null };
  created: boolean;
  workflowId: string;
  runId: string;
  /** Peak bytes of batch buffers held at once (what "bounded memory" means here). */
  peakBatchBytes: number;
}

export interface BuildOptions {
  workflowId: string;
  runId: string;
  /** Called after every batch with the rows done so far (heartbeats). */
  onProgress?: (rows: number) => void;
  signal?: AbortSignal;
}

/** Collects what Arrow's writer emits, so that it can be awaited into the artifact store batch by batch. */
class CollectingSink extends AsyncByteQueue {
  private chunks: Uint8Array[] = [];
  override write(value: Parameters<AsyncByteQueue['write']>[0]): void {
    this.chunks.push(value as Uint8Array);
  }
  take(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }
}

/** COPY takes no bind parameters: the bounds are inlined, after this check, as integer literals. */
function seqLiteral(v: string | undefined, fallback: string): string {
  if (v === undefined) return fallback;
  if (!/^[0-9]{1,19}$/.test(v) || BigInt(v) > 9223372036854775807n)
    throw new SluiceError(ErrorCodes.InvalidInput, `log offset ${JSON.stringify(v)} is not a bigint`);
  return BigInt(v).toString();
}

async function resolveVersion(db: Pool | PoolClient, transform: string, version: number | undefined): Promise<number> {
  if (version !== undefined) return version;
  const r = await db.query<{ version: number }>('SELECT version FROM sluice.transform_live WHERE name = $1', [transform]);
  const live = r.rows[0]?.version;
  if (live === undefined)
    throw new SluiceError(
      ErrorCodes.DatasetNotFound,
      `transform ${transform} has no live version: register it, or name the version to snapshot`,
    );
  return live;
}

interface TableColumn {
  name: string;
  typname: string;
  pgType: string;
}

async function tableColumns(client: PoolClient, table: string, label: string): Promise<TableColumn[]> {
  const exists = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid::text AS oid', [table]);
  if (!exists.rows[0]?.oid)
    throw new SluiceError(
      ErrorCodes.DatasetNotFound,
      `there is no derived table ${label} (sluice_derived.${label}): register that transform version first`,
    );
  const r = await client.query<TableColumn>(
    `SELECT a.attname AS name, t.typname, format_type(a.atttypid, a.atttypmod) AS "pgType"
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [exists.rows[0].oid],
  );
  return r.rows;
}

/** Plans the columns and checks the spec against them; everything that can fail before reading a row. */
function planDataset(available: TableColumn[], input: SnapshotInput, label: string) {
  const byName = new Map(available.map((c) => [c.name, c]));
  const list = (): string => available.map((c) => c.name).join(', ');
  const missing = (role: string, name: string): DatasetInvalidError =>
    new DatasetInvalidError('UNKNOWN_COLUMN', `${role} "${name}" is not a column of ${label} (it has: ${list()})`, name);
  if (!byName.has(SEQ_COLUMN))
    throw new DatasetInvalidError(
      'UNKNOWN_COLUMN',
      `${label} has no "${SEQ_COLUMN}" column: only derived tables of transforms can be snapshotted`,
      SEQ_COLUMN,
    );
  const requested = input.columns ?? available.map((c) => c.name);
  for (const name of requested) if (!byName.has(name)) throw missing('column', name);
  const names = [SEQ_COLUMN, ...requested.filter((n) => n !== SEQ_COLUMN)];
  const plans = names.map((n) => {
    const c = byName.get(n) as TableColumn;
    return planColumn(c.name, c.typname, c.pgType);
  });
  const planOf = new Map(plans.map((p) => [p.name, p]));
  const rule = splitRule(input.spec.split);
  const { spec } = input;
  const seen = new Set<string>();
  for (const f of spec.features) {
    if (seen.has(f.name)) throw new DatasetInvalidError('DUPLICATE_COLUMN', `feature "${f.name}" is listed twice`, f.name);
    seen.add(f.name);
    const p = planOf.get(f.name);
    if (!p) throw byName.has(f.name) ? missing('feature (left out by `columns`)', f.name) : missing('feature', f.name);
    if (f.kind === 'numeric' && !(isNumericKind(p.kind) || p.kind === 'bool')) {
      throw new DatasetInvalidError(
        'WRONG_KIND',
        `numeric feature "${f.name}" has type ${p.pgType}; numeric features must be numbers or booleans (declare it categorical?)`,
        f.name,
      );
    }
    if (f.kind === 'categorical' && !(p.kind === 'utf8' || p.kind === 'bool' || INTEGER_KINDS.has(p.kind))) {
      throw new DatasetInvalidError(
        'WRONG_KIND',
        `categorical feature "${f.name}" has type ${p.pgType}; categorical features must be text, integers or booleans`,
        f.name,
      );
    }
  }
  if (seen.has(spec.label))
    throw new DatasetInvalidError('DUPLICATE_COLUMN', `"${spec.label}" is both the label and a feature`, spec.label);
  const labelPlan = planOf.get(spec.label);
  if (!labelPlan) throw missing('label', spec.label);
  if (
    spec.task === 'regression'
      ? !isNumericKind(labelPlan.kind)
      : !(labelPlan.kind === 'utf8' || labelPlan.kind === 'bool' || INTEGER_KINDS.has(labelPlan.kind))
  ) {
    throw new DatasetInvalidError(
      'WRONG_KIND',
      `label "${spec.label}" has type ${labelPlan.pgType}, which does not fit a ${spec.task} task (${spec.task === 'regression' ? 'regression needs a number' : 'classes must be text, integers or booleans'})`,
      spec.label,
    );
  }
  const keyPlan = planOf.get(rule.key);
  if (!keyPlan) throw missing('split key', rule.key);
  if (!(keyPlan.kind === 'utf8' || INTEGER_KINDS.has(keyPlan.kind))) {
    throw new DatasetInvalidError(
      'WRONG_KIND',
      `split key "${rule.key}" has type ${keyPlan.pgType}; the key must be a text or integer column`,
      rule.key,
    );
  }
  return { plans, rule };
}

interface TempMatrix {
  file: string;
  handle: fs.FileHandle;
  rows: number;
  closed?: boolean;
}

/** Writes header + the bytes of a temporary file (transformed chunk by chunk) as one artifact. */
async function storeNpy(
  store: ArtifactStore,
  header: Uint8Array,
  temp: TempMatrix,
  transform?: (chunk: Buffer) => Uint8Array,
): Promise<DatasetFile> {
  const out = await store.openWriter({ mediaType: 'application/x-npy', extension: '.npy' });
  try {
    await out.write(header);
    temp.closed = true;
    await temp.handle.close();
    const reader = await fs.open(temp.file, 'r');
    try {
      const chunk = Buffer.alloc(1 << 20);
      for (;;) {
        const { bytesRead } = await reader.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        const piece = chunk.subarray(0, bytesRead);
        await out.write(transform ? transform(piece) : piece);
      }
    } finally {
      await reader.close();
    }
  } catch (err) {
    await out.abort();
    throw err;
  }
  const ref = await out.finish();
  return { sha256: ref.sha256, uri: ref.uri, size: ref.size };
}

function compareClass(a: ClassKey, b: ClassKey): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function buildDatasetSnapshot(
  pool: Pool,
  store: ArtifactStore,
  input: SnapshotInput,
  options: BuildOptions,
): Promise<SnapshotOutcome> {
  const version = await resolveVersion(pool, input.transform, input.version);
  const label = `${input.transform}__v${version}`;
  const table = derivedTable(input.transform, version);
  const from = seqLiteral(input.fromSeq, '1');
  const to = seqLiteral(input.toSeq, '9223372036854775807');
  const { spec } = input;

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-snapshot-'));
  const client = await pool.connect();
  let broken: Error | undefined;
  let released = false;
  let arrowOut: ArtifactWriter | undefined;
  const temps: TempMatrix[] = [];
  try {
    // One snapshot of the database for the rows and the contract versions of their events.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const available = await tableColumns(client, table, label);
    const { plans, rule } = planDataset(available, input, label);
    const index = new Map(plans.map((p, i) => [p.name, i]));
    const col = (name: string): number => index.get(name) as number;
    const numericFeatures = spec.features.filter((f) => f.kind === 'numeric').map((f) => col(f.name));
    const categoricalFeatures = spec.features.filter((f) => f.kind === 'categorical').map((f) => col(f.name));
    const labelIndex = col(spec.label);
    const keyIndex = col(rule.key);
    const labelKind = (plans[labelIndex] as ColumnPlan).kind;
    const classification = spec.task !== 'regression';

    const datasetMeta = {
      format: DATASET_FORMAT,
      transform: input.transform,
      version,
      spec: { features: spec.features, label: spec.label, task: spec.task },
      split: rule,
    };
    const schema: Schema = arrowSchema(plans, new Map([['sluice.dataset', canonicalJson(datasetMeta)]]));
    const sink = new CollectingSink();
    const writer = new RecordBatchFileWriter();
    writer.reset(sink, schema);
    arrowOut = await store.openWriter({ mediaType: 'application/vnd.apache.arrow.file', extension: '.arrow' });
    const out = arrowOut;

    const accumulators = plans.map((p) => new ColumnAccumulator(p.kind, p.name, p.pgType, String(arrowType(p.kind))));
    const sampled = plans.map((p, i) => (isNumericKind(p.kind) ? i : -1)).filter((i) => i >= 0);
    const sample = new RowSample(sampled.length);
    const splitCounts = [0, 0, 0];
    const classCodes = new Map<ClassKey, number>();
    const classCounts: number[] = [];
    const xTemp: TempMatrix[] = [];
    const yTemp: TempMatrix[] = [];
    for (const s of SPLIT_NAMES) {
      const xf = path.join(tmp, `X_${s}`);
      const yf = path.join(tmp, `y_${s}`);
      xTemp.push({ file: xf, handle: await fs.open(xf, 'w'), rows: 0 });
      yTemp.push({ file: yf, handle: await fs.open(yf, 'w'), rows: 0 });
      temps.push(xTemp[xTemp.length - 1] as TempMatrix, yTemp[yTemp.length - 1] as TempMatrix);
    }

    const decoderFor = makeRowDecoder(plans);
    let builders = plans.map((p) => new ColumnBuilder(p, BATCH_ROWS));
    let decodeRow = decoderFor(builders);
    let rowInBatch = 0;
    let rowCount = 0;
    let firstSeq: string | null = null;
    let lastSeq: string | null = null;
    let peakBatchBytes = 0;
    const ready: { builders: ColumnBuilder[]; n: number }[] = [];
    /** Builders whose batch is written, ready for another (the batch being filled and one being written at most). */
    const spare: ColumnBuilder[][] = [];
    const seqText = (b: ColumnBuilder, i: number): string => String((b.values as BigInt64Array)[i]);

    const readRow = (buf: Buffer, view: DataView, start: number): number => {
      const end = decodeRow(buf, view, start, rowInBatch);
      if (end < 0) return end;
      if (++rowInBatch === BATCH_ROWS) {
        ready.push({ builders, n: rowInBatch });
        builders = spare.pop() ?? plans.map((pl) => new ColumnBuilder(pl, BATCH_ROWS));
        decodeRow = decoderFor(builders);
        rowInBatch = 0;
      }
      return end;
    };

    const processBatch = async (bs: ColumnBuilder[], n: number): Promise<void> => {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('cancelled');
      const seqCol = bs[0] as ColumnBuilder;
      if (firstSeq === null) firstSeq = seqText(seqCol, 0);
      lastSeq = seqText(seqCol, n - 1);
      const rowSeq = (i: number): string => seqText(seqCol, i);
      // The split, from the key's text.
      const key = bs[keyIndex] as ColumnBuilder;
      const split = new Int8Array(n);
      /** Each row's index within its part of the split (its row in that part's .npy matrices). */
      const pos = new Int32Array(n);
      const perSplit = [0, 0, 0];
      for (let i = 0; i < n; i++) {
        if (key.nullCount > 0 && !key.isValid(i)) {
          throw new DatasetInvalidError(
            'MISSING_KEY',
            `split key "${rule.key}" is null in the row with seq ${rowSeq(i)}; every row needs a key to be assigned a split`,
            rule.key,
          );
        }
        let h: number;
        if (key.plan.kind === 'utf8') {
          const offs = key.offsets as Int32Array;
          h = murmur3(key.values as Uint8Array, offs[i] as number, offs[i + 1] as number);
        } else {
          const v = key.numberAt(i);
          h = murmur3OfInteger(Number.isSafeInteger(v) ? v : ((key.values as BigInt64Array)[i] as bigint));
        }
        const s = splitOf(h, rule);
        split[i] = s;
        pos[i] = perSplit[s] as number;
        perSplit[s] = (perSplit[s] as number) + 1;
      }
      for (let s = 0; s < 3; s++) splitCounts[s] = (splitCounts[s] as number) + (perSplit[s] as number);
      // Numeric features must be finite (a missing value may be null, not NaN).
      for (const c of numericFeatures) {
        const b = bs[c] as ColumnBuilder;
        if (b.plan.kind !== 'float64') continue;
        const v = b.values as Float64Array;
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(v[i] as number) && b.isValid(i)) {
            throw new DatasetInvalidError(
              'NON_FINITE_FEATURE',
              `numeric feature "${b.plan.name}" is ${String(v[i])} in the row with seq ${rowSeq(i)}; fix it in the transform (NULL is allowed)`,
              b.plan.name,
            );
          }
        }
      }
      const nums = bs.map((b) => (isNumericKind(b.plan.kind) || b.plan.kind === 'bool' ? b.toFloat64(n) : undefined));
      // The label: class codes in first-seen order (renumbered in sorted order at the end), or the value.
      const lab = bs[labelIndex] as ColumnBuilder;
      const labBytes =
        labelKind === 'utf8'
          ? Buffer.from((lab.values as Uint8Array).buffer, (lab.values as Uint8Array).byteOffset, (lab.values as Uint8Array).byteLength)
          : undefined;
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        if (lab.nullCount > 0 && !lab.isValid(i)) {
          throw new DatasetInvalidError(
            'MISSING_LABEL',
            `label "${spec.label}" is null in the row with seq ${rowSeq(i)}; every row of a dataset needs a label`,
            spec.label,
          );
        }
        if (!classification) {
          const v = (nums[labelIndex] as Float64Array)[i] as number;
          if (!Number.isFinite(v))
            throw new DatasetInvalidError(
              'MISSING_LABEL',
              `label "${spec.label}" is ${v} in the row with seq ${rowSeq(i)}; a regression label must be a finite number`,
              spec.label,
            );
          y[i] = v;
          continue;
        }
        let k: ClassKey;
        if (labelKind === 'utf8') {
          const offs = lab.offsets as Int32Array;
          k = (labBytes as Buffer).toString('latin1', offs[i] as number, offs[i + 1] as number);
        } else k = (nums[labelIndex] as Float64Array)[i] as number;
        let code = classCodes.get(k);
        if (code === undefined) {
          code = classCodes.size;
          if (code >= MAX_CLASSES)
            throw new DatasetInvalidError(
              'TOO_MANY_CLASSES',
              `label "${spec.label}" has more than ${MAX_CLASSES} classes; is it a regression target?`,
              spec.label,
            );
          classCodes.set(k, code);
          classCounts.push(0);
        }
        classCounts[code] = (classCounts[code] as number) + 1;
        y[i] = code;
      }
      // Statistics and the quantile sample.
      for (let c = 0; c < bs.length; c++) (accumulators[c] as ColumnAccumulator).addBatch(bs[c] as ColumnBuilder, n, nums[c]);
      const sampledNums = sampled.map((c) => nums[c] as Float64Array);
      for (let i = 0; i < n; i++) {
        const p = sample.admits(rowCount + i);
        if (p !== undefined) sample.add(p, (j) => (sampledNums[j] as Float64Array)[i] as number);
      }
      // The .npy rows of each split: X (numeric features, NaN = null) and y.
      const d = numericFeatures.length;
      const xs = perSplit.map((m) => new Float32Array(m * d));
      const ys = perSplit.map((m) => new Float64Array(m));
      for (let j = 0; j < d; j++) {
        const v = nums[numericFeatures[j] as number] as Float64Array;
        for (let i = 0; i < n; i++) (xs[split[i] as number] as Float32Array)[(pos[i] as number) * d + j] = v[i] as number;
      }
      for (let i = 0; i < n; i++) (ys[split[i] as number] as Float64Array)[pos[i] as number] = y[i] as number;
      for (let s = 0; s < 3; s++) {
        const m = perSplit[s] as number;
        if (m === 0) continue;
        const xt = xTemp[s] as TempMatrix;
        const yt = yTemp[s] as TempMatrix;
        await xt.handle.write(new Uint8Array((xs[s] as Float32Array).buffer));
        await yt.handle.write(new Uint8Array((ys[s] as Float64Array).buffer));
        xt.rows += m;
        yt.rows += m;
      }
      // The Arrow record batch.
      const children = bs.map((b) => b.toData(n));
      children.push(makeData({ type: new Int8(), length: n, nullCount: 0, data: split }));
      const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
      writer.write(batch);
      const bytes = sink.take();
      peakBatchBytes = Math.max(
        peakBatchBytes,
        bytes.length + bs.reduce((a, b) => a + b.values.byteLength + b.validity.byteLength + (b.offsets?.byteLength ?? 0), 0),
      );
      await out.write(bytes);
      rowCount += n;
      options.onProgress?.(rowCount);
      // The writer's bytes were copied out by take(): the arrays can hold the next batch.
      if (bs !== builders) {
        for (const b of bs) b.reset();
        spare.push(bs);
      }
    };

    const reader = new BinaryCopyReader(plans.length);
    // Rows that share a seq (a transform may emit several per event) are ordered by their values
    // too, so that the same rows always give the same bytes; PostgreSQL does it with an
    // incremental sort over the seq index, in its own process (text in byte order, COLLATE "C").
    const orderBy = plans.map((p) => `${p.expression}${p.kind === 'utf8' ? ' COLLATE "C"' : ''}`).join(', ');
    // COPY takes no parameters: the columns are plans of quoteIdent'ed names, the range is two bigints.
    // eslint-disable-next-line sluice/sql-values-bound -- composed from quoteIdent fragments and bigints (reviewed)
    const copySql = `COPY (SELECT ${plans.map((p) => p.select).join(', ')} FROM ${table} WHERE seq BETWEEN ${from} AND ${to} ORDER BY ${orderBy}) TO STDOUT (FORMAT binary)`;
    const stream = client.query(copyTo(copySql));
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      reader.push(chunk, readRow);
      while (ready.length > 0) {
        const b = ready.shift() as { builders: ColumnBuilder[]; n: number };
        await processBatch(b.builders, b.n);
      }
    }
    reader.finish();
    for (const b of ready.splice(0)) await processBatch(b.builders, b.n);
    if (rowInBatch > 0) await processBatch(builders, rowInBatch);
    if (rowCount === 0) {
      throw new DatasetInvalidError(
        'EMPTY_DATASET',
        `${label} has no rows${input.fromSeq || input.toSeq ? ` with seq in [${input.fromSeq ?? '1'}, ${input.toSeq ?? '∞'}]` : ''}: nothing to snapshot`,
      );
    }

    // The contract versions of the events the rows come from, and the log range per source.
    const events = await client.query<{ source: string; contract: string; versions: string[]; from_seq: string; to_seq: string }>(
      `SELECT r.source, r.contract, array_agg(DISTINCT r.contract_version ORDER BY r.contract_version) AS versions, min(r.seq)::text AS from_seq, max(r.seq)::text AS to_seq
         FROM sluice.raw_events r
        WHERE r.seq BETWEEN $1 AND $2 AND EXISTS (SELECT 1 FROM ${table} d WHERE d.seq = r.seq)
        GROUP BY r.source, r.contract ORDER BY r.source, r.contract`,
      [firstSeq, lastSeq],
    );
    await client.query('COMMIT');
    // Back to the pool before the files are written: the dataset row below takes a connection of
    // its own, and one held while waiting for another can leave a small pool with none to give.
    client.release();
    released = true;

    // What the dataset guarantees (checked on all rows, before anything is stored).
    for (const f of spec.features) {
      const a = accumulators[col(f.name)] as ColumnAccumulator;
      if (a.count === 0) throw new DatasetInvalidError('ALL_NULL', `feature "${f.name}" is null in every row`, f.name);
      const constant = a.kind === 'utf8' ? a.top?.decremented === 0 && a.top.counts.size === 1 : a.constant;
      if (constant)
        throw new DatasetInvalidError(
          'CONSTANT_FEATURE',
          `feature "${f.name}" has the same value in every row: it cannot inform a model`,
          f.name,
        );
    }
    if (classification) {
      if (classCodes.size < 2)
        throw new DatasetInvalidError(
          'SINGLE_CLASS',
          `label "${spec.label}" has a single class (${classCodes.size === 1 ? 'every row has the same label' : 'no labels'}): a ${spec.task} task needs two or more`,
          spec.label,
        );
      if (spec.task === 'binary' && classCodes.size > 2) {
        throw new DatasetInvalidError(
          'TOO_MANY_CLASSES',
          `label "${spec.label}" has ${classCodes.size} classes, a binary task needs exactly 2 (use task "multiclass")`,
          spec.label,
        );
      }
    }
    const fractions = [rule.train, rule.validation, rule.test];
    for (let s = 0; s < 3; s++) {
      if ((fractions[s] as number) > 0 && splitCounts[s] === 0) {
        throw new DatasetInvalidError(
          'EMPTY_SPLIT',
          `the ${SPLIT_NAMES[s]} part of the split is empty (${rowCount} rows, fraction ${fractions[s]}); more rows, or other fractions or key "${rule.key}", are needed`,
          rule.key,
        );
      }
    }

    writer.finish();
    await out.write(sink.take());
    arrowOut = undefined;
    const arrow = await out.finish();

    // Classes in sorted order (the trainer's order: numbers numerically, then text by code unit).
    const entries = [...classCodes.entries()].map(([k, code]) => ({
      k: labelKind === 'utf8' ? Buffer.from(k as string, 'latin1').toString('utf8') : k,
      code,
    }));
    entries.sort((a, b) => compareClass(a.k, b.k));
    const remap = new Float32Array(entries.length);
    entries.forEach((e, i) => (remap[e.code] = i));
    const classes = entries.map((e) => ({ value: labelKind === 'bool' ? e.k === 1 : e.k, count: classCounts[e.code] as number }));

    const d = numericFeatures.length;
    const npy = {} as Record<SplitName, DatasetNpyFiles>;
    for (let s = 0; s < 3; s++) {
      const name = SPLIT_NAMES[s] as SplitName;
      const xt = xTemp[s] as TempMatrix;
      const yt = yTemp[s] as TempMatrix;
      const X = await storeNpy(store, npyHeader([xt.rows, d], '<f4'), xt);
      const yFile = await storeNpy(store, npyHeader([yt.rows], '<f4'), yt, (chunk) => {
        const src = new Float64Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length));
        const dst = new Float32Array(src.length);
        for (let i = 0; i < src.length; i++) dst[i] = classification ? (remap[src[i] as number] as number) : (src[i] as number);
        return new Uint8Array(dst.buffer);
      });
      npy[name] = { X, y: yFile };
    }

    const stats: Record<string, ColumnStats> = {};
    plans.forEach((p, i) => {
      const j = sampled.indexOf(i);
      const st = (accumulators[i] as ColumnAccumulator).stats(
        j >= 0 ? (sample.values[j] as Float64Array).subarray(0, sample.n) : undefined,
      );
      if (i === labelIndex && classification) st.classes = classes;
      stats[p.name] = st;
    });
    const splitCountsByName = { train: splitCounts[0] as number, validation: splitCounts[1] as number, test: splitCounts[2] as number };
    const logRange: Record<string, { fromSeq: string; toSeq: string }> = {};
    const contractVersions: Record<string, string[]> = {};
    for (const e of events.rows) {
      const prior = logRange[e.source];
      logRange[e.source] = prior ? { fromSeq: prior.fromSeq, toSeq: e.to_seq } : { fromSeq: e.from_seq, toSeq: e.to_seq };
      contractVersions[e.contract] = [...new Set([...(contractVersions[e.contract] ?? []), ...e.versions])].sort();
    }
    const encoding = {
      X: {
        columns: numericFeatures.map((c) => (plans[c] as ColumnPlan).name),
        dtype: 'float32',
        order: 'C',
        missing: 'NaN',
        booleans: '0/1',
      },
      y: classification
        ? { column: spec.label, dtype: 'float32', meaning: 'class index into classes', classes: classes.map((c) => c.value) }
        : { column: spec.label, dtype: 'float32', meaning: 'value' },
      categorical: {
        columns: categoricalFeatures.map((c) => (plans[c] as ColumnPlan).name),
        where: 'Arrow file only (the trainer builds vocabularies on the train split)',
      },
      split: { column: SPLIT_COLUMN, codes: rule.codes },
    };
    const arrowSchemaJson = {
      fields: [
        ...plans.map((p) => ({ name: p.name, type: String(arrowType(p.kind)), nullable: true, pgType: p.pgType })),
        { name: SPLIT_COLUMN, type: 'Int8', nullable: false, pgType: null },
      ],
      metadata: { 'sluice.dataset': datasetMeta },
    };
    const files = { arrow: { sha256: arrow.sha256, uri: arrow.uri, size: arrow.size }, npy };
    const seqRange = {
      requested: { fromSeq: input.fromSeq ?? null, toSeq: input.toSeq ?? null },
      covered: { fromSeq: firstSeq, toSeq: lastSeq },
    };
    const inserted = await pool.query(
      `INSERT INTO sluice.datasets (id, transform, transform_version, log_range, contract_versions, row_count, schema, column_stats, artifact_uri,
                                    workflow_id, run_id, seq_range, spec, split, encoding, files, size_bytes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
       ON CONFLICT (id) DO NOTHING`,
      [
        arrow.sha256,
        input.transform,
        version,
        JSON.stringify(logRange),
        JSON.stringify(contractVersions),
        rowCount,
        JSON.stringify(arrowSchemaJson),
        JSON.stringify(stats),
        arrow.uri,
        options.workflowId,
        options.runId,
        JSON.stringify(seqRange),
        JSON.stringify({ ...datasetMeta.spec, columns: plans.map((p) => p.name) }),
        JSON.stringify({ ...rule, counts: splitCountsByName }),
        JSON.stringify(encoding),
        JSON.stringify(files),
        arrow.size,
      ],
    );
    const row = await pool.query<{ workflow_id: string | null; run_id: string | null }>(
      'SELECT workflow_id, run_id FROM sluice.datasets WHERE id = $1',
      [arrow.sha256],
    );
    return {
      datasetId: arrow.sha256,
      transform: input.transform,
      version,
      rowCount,
      arrow,
      splitCounts: splitCountsByName,
      npy,
      covered: { fromSeq: firstSeq, toSeq: lastSeq },
      created: inserted.rowCount === 1,
      workflowId: row.rows[0]?.workflow_id ?? options.workflowId,
      runId: row.rows[0]?.run_id ?? options.runId,
      peakBatchBytes,
    };
  } catch (err) {
    // A COPY that failed half-way leaves the connection unusable: destroyed, not rolled back.
    broken = err as Error;
    if (arrowOut) await arrowOut.abort();
    throw err;
  } finally {
    if (!released) client.release(broken);
    for (const t of temps) if (!t.closed) await t.handle.close();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
