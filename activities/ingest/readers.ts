/**
 * Streams the records of a batch, in bounded memory, without judging them: NDJSON lines, CSV rows,
 * Arrow IPC rows, inline values. Bytes that are not even text (invalid UTF-8, an oversized line) come
 * out as `unreadable` records with their bytes, so that quarantine can keep them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { RecordBatchReader, Type, type Field } from 'apache-arrow';
import type { Contract } from '../../contracts/registry';
import type { ArtifactRef, ArtifactWriter } from '../artifacts';

export type SourceRecord =
  /** One NDJSON line, valid UTF-8, not yet parsed. */
  | { kind: 'line'; text: string }
  /**
   * A structured value (inline event, CSV row, Arrow row). `text`: JSON.stringify(value), given by
   * a producer that built the value and checked that every number in it is finite; the walk for
   * what jsonb cannot store then runs only when the text holds a \u escape (a NUL or a lone
   * surrogate is written as one).
   */
  | { kind: 'value'; value: unknown; text?: string }
  /** Readable but malformed in its container (a CSV row with the wrong number of fields). */
  | { kind: 'malformed'; value: unknown; keyword: string; message: string }
  /** Bytes that are not a record at all: kept as they came. */
  | {
      kind: 'unreadable';
      raw: Buffer;
      keyword: string;
      message: string;
      /** A record over {@link MAX_RECORD_BYTES}: `raw` holds its first bytes; these are all of them. */
      whole?: { sha256: string; size: number; artifact?: ArtifactRef };
    };

/** Where the whole of an oversized record goes (the artifact store); without one only its first bytes and digest are kept. */
export type OversizeSpill = () => Promise<ArtifactWriter>;

export interface SplitOptions {
  /** Keeps oversized records whole (see {@link OversizeSpill}). */
  spill?: OversizeSpill;
  /** Largest record read into memory (default {@link MAX_RECORD_BYTES}). */
  maxRecordBytes?: number;
}

/**
 * A single record larger than this is quarantined by its first bytes and digest, its bytes in the
 * artifact store (memory stays bounded).
 */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
const OVERSIZE_KEEP_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;
const QUOTE = 0x22;

function oversize(head: Buffer, bytes: number, digest: string, limit: number, artifact: ArtifactRef | undefined): SourceRecord {
  const where = artifact ? `the whole record is artifact sha256:${digest} (${artifact.uri})` : `sha256 of all bytes ${digest}`;
  return {
    kind: 'unreadable',
    raw: head,
    keyword: 'maxRecordBytes',
    message: `record of ${bytes} bytes is over the ${limit}-byte limit; raw holds its first ${head.length} bytes, ${where}`,
    whole: { sha256: digest, size: bytes, ...(artifact ? { artifact } : {}) },
  };
}

/** A record past the limit: its first bytes, its digest, and (with a spill) all of its bytes in the artifact store. */
class Oversize {
  readonly hash = createHash('sha256');
  bytes = 0;
  private constructor(
    readonly head: Buffer,
    private readonly writer: ArtifactWriter | undefined,
  ) {}

  static async start(first: Buffer, spill: OversizeSpill | undefined): Promise<Oversize> {
    const o = new Oversize(Buffer.from(first.subarray(0, OVERSIZE_KEEP_BYTES)), spill ? await spill() : undefined);
    await o.add(first);
    return o;
  }

  async add(bytes: Buffer): Promise<void> {
    this.bytes += bytes.length;
    this.hash.update(bytes);
    await this.writer?.write(bytes);
  }

  async finish(limit: number): Promise<SourceRecord> {
    const artifact = await this.writer?.finish();
    return oversize(this.head, this.bytes, this.hash.digest('hex'), limit, artifact);
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
  }
}

/**
 * Splits a byte stream into records at `isBoundary` newlines, carrying a partial record across
 * reads. A stream that ends mid-record yields the partial record (it is data too). The records of
 * one read come out together: an async step per record costs as much as judging a small one.
 */
async function* splitRecords(
  stream: AsyncIterable<Buffer>,
  findBoundary: (buf: Buffer, from: number) => number,
  options: SplitOptions = {},
): AsyncGenerator<(Buffer | { oversize: SourceRecord })[]> {
  const limit = options.maxRecordBytes ?? MAX_RECORD_BYTES;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let over: Oversize | undefined;
  try {
    for await (const chunk of stream) {
      const records: (Buffer | { oversize: SourceRecord })[] = [];
      let pos = 0;
      for (;;) {
        const nl = findBoundary(chunk, pos);
        if (nl < 0) {
          const rest = chunk.subarray(pos);
          if (over) {
            await over.add(rest);
          } else {
            carry.push(rest);
            carryBytes += rest.length;
            if (carryBytes > limit) {
              over = await Oversize.start(Buffer.concat(carry), options.spill);
              carry = [];
              carryBytes = 0;
            }
          }
          break;
        }
        const piece = chunk.subarray(pos, nl);
        pos = nl + 1;
        if (over) {
          await over.add(piece);
          const done = over;
          over = undefined;
          records.push({ oversize: await done.finish(limit) });
          continue;
        }
        if (carryBytes + piece.length > limit) {
          const done = await Oversize.start(Buffer.concat([...carry, piece]), options.spill);
          carry = [];
          carryBytes = 0;
          records.push({ oversize: await done.finish(limit) });
        } else if (carry.length > 0) {
          carry.push(piece);
          records.push(Buffer.concat(carry));
          carry = [];
          carryBytes = 0;
        } else {
          records.push(piece);
        }
      }
      if (records.length > 0) yield records;
    }
    if (over) {
      const done = over;
      over = undefined;
      yield [{ oversize: await done.finish(limit) }];
    } else if (carryBytes > 0) {
      yield [Buffer.concat(carry)];
    }
  } finally {
    await over?.abort(); // the reader stopped (an error, or the consumer gave up) in the middle of one
  }
}

function stripCr(buf: Buffer): Buffer {
  return buf.length > 0 && buf[buf.length - 1] === 0x0d ? buf.subarray(0, buf.length - 1) : buf;
}

/** True for a line with nothing but ASCII whitespace (NDJSON separators, not records). */
function isBlank(buf: Buffer): boolean {
  for (const b of buf) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

/** Decodes one record's bytes; invalid UTF-8 becomes an `unreadable` record. */
export function bytesToRecord(buf: Buffer): SourceRecord {
  if (isUtf8(buf)) return { kind: 'line', text: buf.toString('utf8') };
  return { kind: 'unreadable', raw: Buffer.from(buf), keyword: 'utf8', message: 'record is not valid UTF-8' };
}

function openFile(path: string, start = 0): fs.ReadStream {
  return fs.createReadStream(path, { highWaterMark: READ_CHUNK_BYTES, start });
}

/** The records of a text file split at `findBoundary` (CRLF or LF); blank lines separate nothing and are not records. */
async function* textRecords(
  path: string,
  findBoundary: (buf: Buffer, from: number) => number,
  options: SplitOptions,
): AsyncGenerator<SourceRecord> {
  for await (const pieces of splitRecords(openFile(path), findBoundary, options)) {
    for (const piece of pieces) {
      if (!Buffer.isBuffer(piece)) {
        yield piece.oversize;
        continue;
      }
      const line = stripCr(piece);
      if (isBlank(line)) continue;
      yield bytesToRecord(line);
    }
  }
}

/** NDJSON: one record per line. */
export function ndjsonRecords(path: string, options: SplitOptions = {}): AsyncGenerator<SourceRecord> {
  return textRecords(path, (buf, from) => buf.indexOf(NEWLINE, from), options);
}

/** RFC 4180 fields of one CSV record (already split at unquoted newlines). */
export function parseCsvFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) {
          value += text.slice(i);
          i = text.length;
          break;
        }
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const comma = text.indexOf(',', i);
      // Characters between the closing quote and the comma are kept (lenient), not dropped.
      value += text.slice(i, comma < 0 ? text.length : comma);
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    } else {
      const comma = text.indexOf(',', i);
      fields.push(text.slice(i, comma < 0 ? text.length : comma));
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

/** Sets an own property (a column named `__proto__` is data, not a prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Types the contract declares for each top-level property, to read CSV text as numbers and booleans. */
function columnTypes(contract: Contract): Map<string, string[]> {
  const props = (contract.schema.properties ?? {}) as Record<string, { type?: string | string[] }>;
  const out = new Map<string, string[]>();
  for (const [name, p] of Object.entries(props)) {
    if (p && typeof p === 'object') out.set(name, Array.isArray(p.type) ? p.type : p.type ? [p.type] : []);
  }
  return out;
}

const INTEGER_TEXT = /^-?\d+$/;
const NUMBER_TEXT = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Reads a CSV cell as the contract's type when it is unambiguous; otherwise keeps the text (validation judges it). */
function csvCell(text: string, types: string[] | undefined): unknown {
  if (!types) return text;
  if (text === '' && types.includes('null')) return null;
  if (types.includes('integer') && INTEGER_TEXT.test(text)) return Number(text);
  if (types.includes('number') && NUMBER_TEXT.test(text)) return Number(text);
  if (types.includes('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/**
 * CSV with a header row: each row becomes an object keyed by the header, cells typed by the
 * contract's top-level property types; an empty cell is an absent field (or null where allowed).
 */
export async function* csvRecords(path: string, contract: Contract, options: SplitOptions = {}): AsyncGenerator<SourceRecord> {
  let inQuotes = false;
  const findRecordEnd = (buf: Buffer, from: number): number => {
    for (let i = from; i < buf.length; i++) {
      const b = buf[i];
      if (b === QUOTE) inQuotes = !inQuotes;
      else if (b === NEWLINE && !inQuotes) return i;
    }
    return -1;
  };
  const types = columnTypes(contract);
  let header: string[] | undefined;
  for await (const rec of textRecords(path, findRecordEnd, options)) {
    if (rec.kind !== 'line') {
      yield rec;
      continue;
    }
    const fields = parseCsvFields(rec.text);
    if (!header) {
      header = fields.map((f) => f.trim());
      continue;
    }
    if (fields.length !== header.length) {
      yield {
        kind: 'malformed',
        value: fields,
        keyword: 'csvColumns',
        message: `row has ${fields.length} fields, the header has ${header.length}`,
      };
      continue;
    }
    const row: Record<string, unknown> = {};
    header.forEach((name, i) => {
      const cell = fields[i] ?? '';
      const t = types.get(name);
      if (cell === '' && !(t ?? []).includes('null')) return;
      setOwn(row, name, csvCell(cell, t));
    });
    yield { kind: 'value', value: row };
  }
}

/** Arrow values as JSON values: int64 as numbers (strings past 2^53), timestamps and dates as ISO text, binary as base64. */
function arrowValue(v: unknown, field: Field | undefined): unknown {
  if (v === null || v === undefined) return null;
  const typeId = field?.type.typeId;
  if ((typeId === Type.Timestamp || typeId === Type.Date) && (typeof v === 'number' || typeof v === 'bigint')) {
    const ms = Number(v);
    return Number.isFinite(ms) ? new Date(ms).toISOString() : String(v);
  }
  if (v instanceof Date) return v.toISOString();
  return jsonSafe(v);
}

function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === 'object') {
    const json = typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON(): unknown }).toJSON() : v;
    if (Array.isArray(json)) return json.map(jsonSafe);
    if (json === null || typeof json !== 'object') return json;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(json as Record<string, unknown>)) setOwn(out, k, jsonSafe(x));
    return out;
  }
  return v;
}

/** Arrow IPC (file or stream format), one record batch in memory at a time. */
export async function* arrowRecords(path: string): AsyncGenerator<SourceRecord> {
  const handle = await fs.promises.open(path, 'r');
  try {
    const reader = await RecordBatchReader.from(handle);
    for await (const batch of reader) {
      const fields = batch.schema.fields;
      const columns = fields.map((_, j) => batch.getChildAt(j));
      for (let i = 0; i < batch.numRows; i++) {
        const row: Record<string, unknown> = {};
        fields.forEach((f, j) => setOwn(row, f.name, arrowValue(columns[j]?.get(i), f)));
        yield { kind: 'value', value: row };
      }
    }
  } finally {
    await handle.close();
  }
}

export async function* inlineRecords(events: unknown[]): AsyncGenerator<SourceRecord> {
  for (const value of events) yield { kind: 'value', value };
}
