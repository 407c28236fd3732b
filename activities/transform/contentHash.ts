/**
 * The content hash of a derived table, defined once here:
 *
 *   sha256 over the rows of the table in PostgreSQL's COPY text format (one line per row ending in
 *   "\n", columns in table order, tab-separated, \N for NULL), ordered by the `seq` column (the log
 *   offset a row comes from) and, for rows with the same `seq`, by the bytes of their lines;
 *   written in a session with TimeZone=UTC, DateStyle=ISO,YMD, IntervalStyle=iso_8601,
 *   extra_float_digits=1 and bytea_output=hex, so the text of every value is fixed.
 *
 * The hash depends on the content only, never on the physical order or on how the range was
 * chunked. PostgreSQL sorts by `seq` alone (an index scan on the seq index); the few rows that
 * share a `seq` (a transform may emit several rows per event) are put in byte order here, as the
 * rows stream through: memory stays flat.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { SEQ_COLUMN, quoteIdent } from './sqlText';

export interface ContentHash {
  sha256: string;
  rows: number;
  bytes: number;
}

const NEWLINE = 0x0a;
const TAB = 0x09;

/** Bytes of field `index` of the line buf[start, end) (COPY text escapes tabs inside values). */
function fieldAt(buf: Buffer, start: number, end: number, index: number): Buffer {
  let from = start;
  for (let k = 0; k < index; k++) {
    const tab = buf.indexOf(TAB, from);
    if (tab < 0 || tab >= end) throw new Error('COPY line has fewer columns than expected');
    from = tab + 1;
  }
  const tab = buf.indexOf(TAB, from);
  return buf.subarray(from, tab < 0 || tab >= end ? end : tab);
}

/**
 * Hashes COPY text that arrives ordered by seq, putting lines with equal seq in byte order.
 * Lines of the group still open at the end of a chunk are carried over to the next one.
 */
export class CanonicalRowHasher {
  private readonly hash = createHash('sha256');
  private carry: Buffer = Buffer.alloc(0);
  rows = 0;
  private bytes = 0;

  constructor(private readonly seqIndex: number) {}

  update(chunk: Buffer): void {
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let flushed = 0;
    let groupKey: Buffer | undefined;
    let group: [number, number][] = [];
    let pos = 0;
    for (let nl = buf.indexOf(NEWLINE, pos); nl >= 0; nl = buf.indexOf(NEWLINE, pos)) {
      const key = fieldAt(buf, pos, nl, this.seqIndex);
      if (groupKey !== undefined && key.equals(groupKey)) {
        group.push([pos, nl + 1]);
      } else {
        if (group.length > 1) flushed = this.emitGroup(buf, flushed, group);
        groupKey = key;
        group = [[pos, nl + 1]];
      }
      pos = nl + 1;
    }
    // Everything before the open group is final; the open group (and any partial line) waits.
    const openFrom = group[0]?.[0] ?? pos;
    this.emitRaw(buf.subarray(flushed, openFrom));
    this.carry = Buffer.from(buf.subarray(openFrom));
  }

  finish(): { sha256: string; rows: number; bytes: number } {
    const buf = this.carry;
    if (buf.length > 0) {
      if (buf[buf.length - 1] !== NEWLINE) throw new Error('COPY output ended in the middle of a line');
      const group: [number, number][] = [];
      for (let pos = 0, nl = buf.indexOf(NEWLINE); nl >= 0; pos = nl + 1, nl = buf.indexOf(NEWLINE, pos)) group.push([pos, nl + 1]);
      this.emitGroup(buf, 0, group);
    }
    this.carry = Buffer.alloc(0);
    return { sha256: this.hash.digest('hex'), rows: this.rows, bytes: this.bytes };
  }

  private emitRaw(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.hash.update(bytes);
    this.bytes += bytes.length;
    for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) this.rows++;
  }

  /** Hashes buf[flushed, first line of group) raw, then the group's lines in byte order; returns the new flushed offset. */
  private emitGroup(buf: Buffer, flushed: number, group: [number, number][]): number {
    const first = group[0];
    const last = group[group.length - 1];
    if (!first || !last) return flushed;
    this.emitRaw(buf.subarray(flushed, first[0]));
    const lines = group.map(([a, b]) => buf.subarray(a, b)).sort(Buffer.compare);
    for (const line of lines) this.emitRaw(line);
    return last[1];
  }
}

/**
 * Hashes `qualifiedTable` (already quoted, from derivedTable/buildTable). Read-only. Not through
 * inTransaction: a COPY that fails half-way leaves the connection in COPY state, where a ROLLBACK
 * could wait behind the stream; the connection is destroyed instead.
 */
export async function contentHash(pool: Pool, qualifiedTable: string, onProgress?: (rows: number) => void): Promise<ContentHash> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN READ ONLY');
    try {
      await client.query("SET LOCAL TimeZone = 'UTC'");
      await client.query("SET LOCAL DateStyle = 'ISO, YMD'");
      await client.query("SET LOCAL IntervalStyle = 'iso_8601'");
      await client.query('SET LOCAL extra_float_digits = 1');
      await client.query("SET LOCAL bytea_output = 'hex'");
      // eslint-disable-next-line sluice/sql-values-bound -- qualifiedTable is derivedTable()/buildTable() output (quoteIdent)
      const shape = await client.query(`SELECT * FROM ${qualifiedTable} LIMIT 0`);
      const seqIndex = shape.fields.findIndex((f) => f.name === SEQ_COLUMN);
      if (seqIndex < 0) throw new Error(`${qualifiedTable} has no ${SEQ_COLUMN} column`);
      const hasher = new CanonicalRowHasher(seqIndex);
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          hasher.update(chunk);
          onProgress?.(hasher.rows);
          done();
        },
      });
      // eslint-disable-next-line sluice/sql-values-bound -- as above; COPY takes no parameters
      await pipeline(client.query(copyTo(`COPY (SELECT * FROM ${qualifiedTable} ORDER BY ${quoteIdent(SEQ_COLUMN)}) TO STDOUT`)), sink);
      await client.query('COMMIT');
      return hasher.finish();
    } catch (err) {
      // A COPY that failed half-way leaves the connection unusable: it is destroyed, not rolled back.
      broken = err as Error;
      throw err;
    }
  } finally {
    client.release(broken);
  }
}
