/**
 * From PostgreSQL columns to Arrow columns: the type mapping, the SELECT list that feeds COPY
 * (binary), and the batch builders that decode COPY's binary rows straight into the typed arrays
 * Arrow's record batches are made of (no per-value objects, so a batch of 65,536 rows costs its
 * arrays and nothing else).
 */
import { Bool, DateDay, Field, Float64, Int8, Int16, Int32, Int64, makeData, Schema, TimestampMicrosecond, Utf8, type Data, type DataType } from 'apache-arrow';
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
  /** The expression in COPY's SELECT (a cast where the wire format is read as another type). */
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
  return { name, pgType, kind: t.kind, select: t.cast ? `${quoteIdent(name)}::${t.cast} AS ${quoteIdent(name)}` : quoteIdent(name) };
}

export function arrowType(kind: ColumnKind): DataType {
  switch (kind) {
    case 'int64': return new Int64();
    case 'int32': return new Int32();
    case 'int16': return new Int16();
    case 'float64': return new Float64();
    case 'bool': return new Bool();
    case 'utf8': return new Utf8();
    case 'timestamptz': return new TimestampMicrosecond('UTC');
    case 'timestamp': return new TimestampMicrosecond();
    case 'date': return new DateDay();
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

  constructor(readonly plan: ColumnPlan, readonly capacity: number) {
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
      case 'date': this.values = new Int32Array(capacity); break;
      case 'int16': this.values = new Int16Array(capacity); break;
      case 'float64': this.values = new Float64Array(capacity); break;
      case 'bool': this.values = new Uint8Array((capacity + 7) >> 3); break;
      case 'utf8':
        this.values = new Uint8Array(Math.max(1024, capacity * 16));
        this.offsets = new Int32Array(capacity + 1);
        break;
    }
  }

  /** Decodes one field of COPY's binary format, buf[p, p + len), into row i (len < 0: NULL). */
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
          throw new DatasetInvalidError('UNREPRESENTABLE_VALUE', `column "${this.plan.name}" holds an infinite timestamp, which Arrow cannot represent`, this.plan.name);
        }
        // 64-bit addition of PostgreSQL's epoch offset, in 32-bit words.
        const sumLo = lo + PG_EPOCH_US_LO;
        const carry = sumLo >= 2 ** 32 ? 1 : 0;
        const w = this.words as Int32Array;
        w[2 * i] = sumLo | 0;
        w[2 * i + 1] = (hi + PG_EPOCH_US_HI + carry) | 0;
        return;
      }
      case 'int32': (this.values as Int32Array)[i] = buf.readInt32BE(p); return;
      case 'date': {
        const d = buf.readInt32BE(p);
        if (d === INT32_MAX || d === INT32_MIN) {
          throw new DatasetInvalidError('UNREPRESENTABLE_VALUE', `column "${this.plan.name}" holds an infinite date, which Arrow cannot represent`, this.plan.name);
        }
        (this.values as Int32Array)[i] = d + PG_EPOCH_DAYS;
        return;
      }
      case 'int16': (this.values as Int16Array)[i] = buf.readInt16BE(p); return;
      case 'float64': (this.values as Float64Array)[i] = buf.readDoubleBE(p); return;
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
      case 'bool': return ((this.values[i >> 3] as number) >> (i & 7)) & 1;
      default: return this.values[i] as number;
    }
  }

  /** The Arrow data of the first n rows. */
  toData(n: number): Data {
    const type = arrowType(this.plan.kind);
    const nullBitmap = this.nullCount > 0 ? this.validity.subarray(0, (n + 7) >> 3) : undefined;
    if (this.plan.kind === 'utf8') {
      return makeData({ type: type as Utf8, length: n, nullCount: this.nullCount, nullBitmap, valueOffsets: (this.offsets as Int32Array).subarray(0, n + 1), data: (this.values as Uint8Array).subarray(0, this.used) });
    }
    const data = this.plan.kind === 'bool' ? (this.values as Uint8Array).subarray(0, (n + 7) >> 3) : this.values.subarray(0, n);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one call for every fixed-width type
    return makeData({ type: type as any, length: n, nullCount: this.nullCount, nullBitmap, data: data as any });
  }
}
