/**
 * From PostgreSQL columns to Arrow columns: the type mapping, the SELECT list that feeds COPY
 * (binary), and the batch builders that decode COPY's binary rows straight into the typed arrays
 * Arrow's record batches are made of (no per-value objects, so a batch of 65,536 rows costs its
 * arrays and nothing else).
 */
import {
  Bool,
  DateDay,
  Field,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  makeData,
  Schema,
  TimestampMicrosecond,
  Utf8,
  type Data,
  type DataType,
} from 'apache-arrow';
import { quoteIdent } from '../../db/sql';
import { DatasetInvalidError } from './errors';

/** The column that says which part of the split a row is in: 0 train, 1 validation, 2 test. */
export const SPLIT_COLUMN = '__split';

export type ColumnKind = 'int64' | 'int32' | 'int16' | 'float64' | 'bool' | 'utf8' | 'timestamptz' | 'timestamp' | 'date';

export interface ColumnPlan {
  name: string;
  /** format_type() of the table column. */
  pgType: string;
  kind: ColumnKind;
  /** The value as COPY sends it: the column, or a cast where the wire format is read as another type. */
  expression: string;
  /** The item of COPY's SELECT list. */
  select: string;
}

/** PostgreSQL type name → how it travels (casts are done by PostgreSQL, in COPY's SELECT). */
const TYPES: Record<string, { kind: ColumnKind; cast?: string }> = {
  int8: { kind: 'int64' },
  int4: { kind: 'int32' },
  int2: { kind: 'int16' },
  float8: { kind: 'float64' },
  // float4 widens exactly; numeric is rounded to the nearest double (documented in the README).
  float4: { kind: 'float64', cast: 'float8' },
  numeric: { kind: 'float64', cast: 'float8' },
  bool: { kind: 'bool' },
  text: { kind: 'utf8' },
  varchar: { kind: 'utf8', cast: 'text' },
  bpchar: { kind: 'utf8', cast: 'text' },
  name: { kind: 'utf8', cast: 'text' },
  uuid: { kind: 'utf8', cast: 'text' },
  json: { kind: 'utf8', cast: 'text' },
  jsonb: { kind: 'utf8', cast: 'text' },
  timestamptz: { kind: 'timestamptz' },
  timestamp: { kind: 'timestamp' },
  date: { kind: 'date' },
};

export function planColumn(name: string, typname: string, pgType: string): ColumnPlan {
  const t = TYPES[typname];
  if (!t) {
    throw new DatasetInvalidError(
      'UNSUPPORTED_TYPE',
      `column "${name}" has type ${pgType}, which a dataset cannot hold (supported: integers, floating point, numeric, boolean, text, uuid, json, timestamps, dates); leave it out with \`columns\` or cast it in the transform`,
      name,
    );
  }
  const expression = t.cast ? `${quoteIdent(name)}::${t.cast}` : quoteIdent(name);
  return { name, pgType, kind: t.kind, expression, select: t.cast ? `${expression} AS ${quoteIdent(name)}` : expression };
}

export function arrowType(kind: ColumnKind): DataType {
  switch (kind) {
    case 'int64':
      return new Int64();
    case 'int32':
      return new Int32();
    case 'int16':
      return new Int16();
    case 'float64':
      return new Float64();
    case 'bool':
      return new Bool();
    case 'utf8':
      return new Utf8();
    case 'timestamptz':
      return new TimestampMicrosecond('UTC');
    case 'timestamp':
      return new TimestampMicrosecond();
    case 'date':
      return new DateDay();
  }
}

/** The Arrow schema of a snapshot: the planned columns in order, then `__split` (Int8: 0 train, 1 validation, 2 test). */
export function arrowSchema(columns: readonly ColumnPlan[], metadata: Map<string, string>): Schema {
  const fields = columns.map((c) => new Field(c.name, arrowType(c.kind), true));
  fields.push(new Field(SPLIT_COLUMN, new Int8(), false));
  return new Schema(fields, metadata);
}

/** Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01, as two 32-bit words. */
const PG_EPOCH_US_HI = Math.floor(946_684_800_000_000 / 2 ** 32);
const PG_EPOCH_US_LO = 946_684_800_000_000 - PG_EPOCH_US_HI * 2 ** 32;
const PG_EPOCH_DAYS = 10_957;
const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;

/**
 * Decodes one binary COPY row (p at its first field length) into row i of the batch; returns the
 * offset after the row, or -1 when the buffer ends inside it (what it wrote is then undone).
 */
export type RowDecoder = (buf: Buffer, view: DataView, p: number, i: number) => number;

/**
 * A row decoder specialised for the planned columns: straight-line code with each column's typed
 * arrays in locals and DataView reads, so the hot loop makes no call and no switch per value for
 * the common kinds (a third of the cost of a generic decoder). The generated text holds only
 * column indices and the fixed snippets below, never a name from the table.
 */
export function makeRowDecoder(plans: readonly ColumnPlan[]): (builders: ColumnBuilder[]) => RowDecoder {
  const lines: string[] = [];
  const undo: string[] = [];
  plans.forEach((plan, c) => {
    lines.push(`if (p + 4 > end) return cut(i); len = view.getInt32(p); p += 4;`);
    lines.push(
      `if (len < 0) { B${c}.nullCount++;${plan.kind === 'utf8' ? ` O${c}[i + 1] = B${c}.used;` : ''} } else { if (p + len > end) return cut(i);`,
    );
    const mark = `V${c}[i >> 3] |= 1 << (i & 7);`;
    switch (plan.kind) {
      case 'int64':
        lines.push(`${mark} W${c}[2 * i] = view.getInt32(p + 4); W${c}[2 * i + 1] = view.getInt32(p);`);
        break;
      case 'int32':
        lines.push(`${mark} D${c}[i] = view.getInt32(p);`);
        break;
      case 'int16':
        lines.push(`${mark} D${c}[i] = view.getInt16(p);`);
        break;
      case 'float64':
        lines.push(`${mark} D${c}[i] = view.getFloat64(p);`);
        break;
      case 'bool':
        lines.push(`${mark} if (buf[p] !== 0) D${c}[i >> 3] |= 1 << (i & 7);`);
        break;
      case 'utf8':
        // Short strings (most categories) byte by byte: cheaper than Buffer#copy's call.
        lines.push(
          `${mark} const u = B${c}.used; const a = B${c}.values; if (len <= 32 && u + len <= a.length) { for (let k = 0; k < len; k++) a[u + k] = buf[p + k]; B${c}.used = u + len; O${c}[i + 1] = u + len; } else B${c}.set(i, buf, p, len);`,
        );
        break;
      default:
        lines.push(`B${c}.set(i, buf, p, len);`);
    }
    lines.push(`p += len; }`);
    undo.push(
      `B${c}.nullCount = n${c}; V${c}[i >> 3] &= ~(1 << (i & 7));${plan.kind === 'bool' ? ` D${c}[i >> 3] &= ~(1 << (i & 7));` : ''}${plan.kind === 'utf8' ? ` B${c}.used = u${c};` : ''}`,
    );
  });
  const locals = plans
    .map((plan, c) => {
      const parts = [`const B${c} = B[${c}];`, `const V${c} = B${c}.validity;`];
      if (plan.kind === 'int64') parts.push(`const W${c} = B${c}.words;`);
      else if (plan.kind === 'int32' || plan.kind === 'int16' || plan.kind === 'float64' || plan.kind === 'bool')
        parts.push(`const D${c} = B${c}.values;`);
      else if (plan.kind === 'utf8') parts.push(`const O${c} = B${c}.offsets;`);
      return parts.join(' ');
    })
    .join('\n');
  const saved = plans.map((plan, c) => `n${c} = B${c}.nullCount;${plan.kind === 'utf8' ? ` u${c} = B${c}.used;` : ''}`).join(' ');
  const declared = plans.map((plan, c) => `n${c} = 0${plan.kind === 'utf8' ? `, u${c} = 0` : ''}`).join(', ');
  const body = [
    locals,
    `let ${declared};`,
    `function cut(i) { ${undo.join(' ')} return -1; }`,
    `return function decodeRow(buf, view, p, i) { const end = buf.length; let len; ${saved}`,
    ...lines,
    `return p; };`,
  ].join('\n');
  return new Function('B', body) as (builders: ColumnBuilder[]) => RowDecoder;
}

/** One column of one batch, as Arrow will hold it. */
export class ColumnBuilder {
  readonly validity: Uint8Array;
  nullCount = 0;
  /** Values: BigInt64Array (int64, timestamps), Int32Array (int32, date), Int16Array, Float64Array, Uint8Array (bool bits, utf8 bytes). */
  values: BigInt64Array | Int32Array | Int16Array | Float64Array | Uint8Array;
  /** The 32-bit words of a BigInt64Array (little-endian: low word first), written without BigInt arithmetic. */
  readonly words?: Int32Array;
  readonly offsets?: Int32Array;
  /** Bytes used in `values` (utf8). */
  used = 0;
  /** {@link toFloat64}'s output, reused batch after batch. */
  private doubles?: Float64Array;

  constructor(
    readonly plan: ColumnPlan,
    readonly capacity: number,
  ) {
    this.validity = new Uint8Array((capacity + 7) >> 3);
    switch (plan.kind) {
      case 'int64':
      case 'timestamptz':
      case 'timestamp': {
        const v = new BigInt64Array(capacity);
        this.values = v;
        this.words = new Int32Array(v.buffer);
        break;
      }
      case 'int32':
      case 'date':
        this.values = new Int32Array(capacity);
        break;
      case 'int16':
        this.values = new Int16Array(capacity);
        break;
      case 'float64':
        this.values = new Float64Array(capacity);
        break;
      case 'bool':
        this.values = new Uint8Array((capacity + 7) >> 3);
        break;
      case 'utf8':
        this.values = new Uint8Array(Math.max(1024, capacity * 16));
        this.offsets = new Int32Array(capacity + 1);
        break;
    }
  }

  /**
   * Decodes one field of COPY's binary format, buf[p, p + len), into row i (len < 0: NULL). */
  set(i: number, buf: Buffer, p: number, len: number): void {
    const offsets = this.offsets;
    if (len < 0) {
      this.nullCount++;
      if (offsets) offsets[i + 1] = this.used;
      return;
    }
    (this.validity[i >> 3] as number) |= 1 << (i & 7);
    switch (this.plan.kind) {
      case 'int64': {
        const w = this.words as Int32Array;
        w[2 * i] = buf.readInt32BE(p + 4);
        w[2 * i + 1] = buf.readInt32BE(p);
        return;
      }
      case 'timestamptz':
      case 'timestamp': {
        const hi = buf.readInt32BE(p);
        const lo = buf.readUInt32BE(p + 4);
        if ((hi === INT32_MAX && lo === 0xffffffff) || (hi === INT32_MIN && lo === 0)) {
          throw new DatasetInvalidError(
            'UNREPRESENTABLE_VALUE',
            `column "${this.plan.name}" holds an infinite timestamp, which Arrow cannot represent`,
            this.plan.name,
          );
        }
        // 64-bit addition of PostgreSQL's epoch offset, in 32-bit words.
        const sumLo = lo + PG_EPOCH_US_LO;
        const carry = sumLo >= 2 ** 32 ? 1 : 0;
        const w = this.words as Int32Array;
        w[2 * i] = sumLo | 0;
        w[2 * i + 1] = (hi + PG_EPOCH_US_HI + carry) | 0;
        return;
      }
      case 'int32':
        (this.values as Int32Array)[i] = buf.readInt32BE(p);
        return;
      case 'date': {
        const d = buf.readInt32BE(p);
        if (d === INT32_MAX || d === INT32_MIN) {
          throw new DatasetInvalidError(
            'UNREPRESENTABLE_VALUE',
            `column "${this.plan.name}" holds an infinite date, which Arrow cannot represent`,
            this.plan.name,
          );
        }
        (this.values as Int32Array)[i] = d + PG_EPOCH_DAYS;
        return;
      }
      case 'int16':
        (this.values as Int16Array)[i] = buf.readInt16BE(p);
        return;
      case 'float64':
        (this.values as Float64Array)[i] = buf.readDoubleBE(p);
        return;
      case 'bool':
        if (buf[p] !== 0) (this.values[i >> 3] as number) |= 1 << (i & 7);
        return;
      case 'utf8': {
        let data = this.values as Uint8Array;
        if (this.used + len > data.length) {
          const grown = new Uint8Array(Math.max(data.length * 2, this.used + len));
          grown.set(data.subarray(0, this.used));
          this.values = data = grown;
        }
        buf.copy(data, this.used, p, p + len);
        this.used += len;
        (offsets as Int32Array)[i + 1] = this.used;
        return;
      }
    }
  }

  /**
   * Empties the builder for the next batch, keeping its arrays: allocating them anew for every
   * batch cost more in garbage collection (external memory) than the rest of a batch's work.
   * Values are zeroed too, so that a null's slot has the same bytes whatever came before.
   */
  reset(): void {
    this.validity.fill(0);
    this.nullCount = 0;
    this.used = 0;
    if (this.plan.kind !== 'utf8') new Uint8Array(this.values.buffer, this.values.byteOffset, this.values.byteLength).fill(0);
  }

  isValid(i: number): boolean {
    return ((this.validity[i >> 3] as number) & (1 << (i & 7))) !== 0;
  }

  /** Row i as a double (numeric kinds and bool; int64 beyond 2^53 rounds). */
  numberAt(i: number): number {
    switch (this.plan.kind) {
      case 'int64': {
        const w = this.words as Int32Array;
        return (w[2 * i + 1] as number) * 4294967296 + ((w[2 * i] as number) >>> 0);
      }
      case 'bool':
        return ((this.values[i >> 3] as number) >> (i & 7)) & 1;
      default:
        return this.values[i] as number;
    }
  }

  /**
   * The first n rows as doubles, NaN where null (numeric kinds and bool; int64 beyond 2^53
   * rounds): one tight loop per batch, so that statistics, the sample and the .npy rows read a
   * plain array instead of decoding per value.
   */
  toFloat64(n: number): Float64Array {
    let out = (this.doubles ??= new Float64Array(this.capacity));
    switch (this.plan.kind) {
      case 'float64':
        if (this.nullCount === 0) out = this.values as Float64Array;
        else out.set((this.values as Float64Array).subarray(0, n));
        break;
      case 'int64': {
        const w = this.words as Int32Array;
        for (let i = 0; i < n; i++) out[i] = (w[2 * i + 1] as number) * 4294967296 + ((w[2 * i] as number) >>> 0);
        break;
      }
      case 'int32':
      case 'int16': {
        const v = this.values as Int32Array | Int16Array;
        for (let i = 0; i < n; i++) out[i] = v[i] as number;
        break;
      }
      case 'bool': {
        const v = this.values as Uint8Array;
        for (let i = 0; i < n; i++) out[i] = ((v[i >> 3] as number) >> (i & 7)) & 1;
        break;
      }
      default:
        throw new Error(`column ${this.plan.name} (${this.plan.kind}) is not numeric`);
    }
    if (this.nullCount > 0) {
      const valid = this.validity;
      for (let i = 0; i < n; i++) if ((((valid[i >> 3] as number) >> (i & 7)) & 1) === 0) out[i] = Number.NaN;
    }
    return out;
  }

  /** The Arrow data of the first n rows. */
  toData(n: number): Data {
    const type = arrowType(this.plan.kind);
    const nullBitmap = this.nullCount > 0 ? this.validity.subarray(0, (n + 7) >> 3) : undefined;
    if (this.plan.kind === 'utf8') {
      return makeData({
        type: type as Utf8,
        length: n,
        nullCount: this.nullCount,
        nullBitmap,
        valueOffsets: (this.offsets as Int32Array).subarray(0, n + 1),
        data: (this.values as Uint8Array).subarray(0, this.used),
      });
    }
    const data = this.plan.kind === 'bool' ? (this.values as Uint8Array).subarray(0, (n + 7) >> 3) : this.values.subarray(0, n);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one call for every fixed-width type
    return makeData({ type: type as any, length: n, nullCount: this.nullCount, nullBitmap, data: data as any });
  }
}
