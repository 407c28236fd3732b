/**
 * Rows out of PostgreSQL's binary COPY format, in a canonical order.
 *
 * COPY (SELECT … ORDER BY seq) gives rows in `seq` order, but rows that share a `seq` (a transform
 * may emit several rows per event) come in whatever order the executor produced them. So that
 * the same rows always give the same bytes, such rows are put in the byte order of their encoded
 * tuples here, as they stream through (the rule activities/transform/contentHash.ts applies to
 * COPY text): PostgreSQL only walks the seq index, and memory holds one chunk plus the last group.
 * `seq` must be the first column of the SELECT.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

export class BinaryCopyRows {
  private carry: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private ended = false;

  constructor(private readonly fieldCount: number) {}

  /**
   * Feeds a chunk of COPY output; calls `onRow(buf, p)` with p at the first field length of each
   * row that is final (all rows but the last `seq` group and a partial row, kept for the next chunk).
   */
  push(chunk: Buffer, onRow: (buf: Buffer, p: number) => void): void {
    this.process(this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk, false, onRow);
  }

  /** The end of COPY: emits what was held back; throws if the output was cut short. */
  finish(onRow: (buf: Buffer, p: number) => void): void {
    this.process(this.carry, true, onRow);
    if (!this.ended) throw new Error('COPY binary output ended without its trailer');
  }

  private process(buf: Buffer, final: boolean, onRow: (buf: Buffer, p: number) => void): void {
    let pos = 0;
    if (!this.headerDone) {
      if (buf.length < 19) {
        this.carry = Buffer.from(buf);
        return;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not PostgreSQL binary COPY output');
      const ext = buf.readUInt32BE(15);
      if (buf.length < 19 + ext) {
        this.carry = Buffer.from(buf);
        return;
      }
      pos = 19 + ext;
      this.headerDone = true;
    }
    // Complete rows of this buffer: start offsets (at the field count) and ends.
    const starts: number[] = [];
    const ends: number[] = [];
    while (pos + 2 <= buf.length) {
      const n = buf.readInt16BE(pos);
      if (n === -1) {
        this.ended = true;
        break;
      }
      if (n !== this.fieldCount) throw new Error(`COPY row has ${n} fields, expected ${this.fieldCount}`);
      let p = pos + 2;
      let complete = true;
      for (let f = 0; f < n; f++) {
        if (p + 4 > buf.length) {
          complete = false;
          break;
        }
        const len = buf.readInt32BE(p);
        p += 4 + (len > 0 ? len : 0);
        if (p > buf.length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      starts.push(pos);
      ends.push(p);
      pos = p;
    }
    // Hold back the last seq group unless this is the end: its next row may be in the next chunk.
    let release = starts.length;
    if (!final && !this.ended) {
      while (release > 1 && sameSeq(buf, starts[release - 2] as number, starts[starts.length - 1] as number)) release--;
      release = Math.max(0, release - 1);
    }
    let i = 0;
    while (i < release) {
      let j = i + 1;
      while (j < release && sameSeq(buf, starts[i] as number, starts[j] as number)) j++;
      if (j - i === 1) {
        onRow(buf, (starts[i] as number) + 2);
      } else {
        const group = [];
        for (let k = i; k < j; k++) group.push(buf.subarray(starts[k], ends[k]));
        group.sort(Buffer.compare);
        for (const row of group) onRow(row, 2);
      }
      i = j;
    }
    const keepFrom = release < starts.length ? (starts[release] as number) : pos;
    this.carry = this.ended ? Buffer.alloc(0) : Buffer.from(buf.subarray(keepFrom));
    if (final && !this.ended && this.carry.length > 0) throw new Error('COPY binary output ended in the middle of a row');
  }
}

/** Rows at a and b (offsets of their field counts) have the same seq (first field, non-null int8). */
function sameSeq(buf: Buffer, a: number, b: number): boolean {
  if (buf.readInt32BE(a + 2) !== 8 || buf.readInt32BE(b + 2) !== 8) return false;
  return buf.readInt32BE(a + 6) === buf.readInt32BE(b + 6) && buf.readInt32BE(a + 10) === buf.readInt32BE(b + 10);
}
