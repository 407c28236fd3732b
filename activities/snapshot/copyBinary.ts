/**
 * PostgreSQL's binary COPY format, read chunk by chunk: the header, then one row at a time
 * decoded straight from the chunk it arrived in (no copy), except a row cut by a chunk boundary,
 * which is joined from its two pieces. The row decoder reports a row it could not finish (the
 * chunk ended inside it) by returning -1, having undone what it wrote; the row is decoded again
 * once the rest has arrived. Row order is PostgreSQL's (the snapshot's ORDER BY makes it canonical).
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Decodes the row whose first field length is at p; returns the offset after it, or -1 if buf ends inside it. */
export type RowReader = (buf: Buffer, view: DataView, p: number) => number;

export class BinaryCopyReader {
  /** Bytes of an incomplete header or row at the end of the last chunk. */
  private carry: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private ended = false;
  rows = 0;

  constructor(private readonly fieldCount: number) {}

  push(chunk: Buffer, readRow: RowReader): void {
    if (this.ended) return;
    let pos = 0;
    if (this.carry.length > 0 || !this.headerDone) {
      // Join the cut row (or header) with just enough of the new chunk to complete it.
      let take = Math.min(chunk.length, 256);
      for (;;) {
        const head = this.carry.length > 0 ? Buffer.concat([this.carry, chunk.subarray(0, take)]) : chunk.subarray(0, take);
        const end = this.headerDone ? this.step(head, viewOf(head), 0, readRow) : headerEnd(head);
        if (end >= 0 || this.ended) {
          if (this.ended) return;
          this.headerDone = true;
          pos = end - this.carry.length;
          this.carry = Buffer.alloc(0);
          break;
        }
        if (take >= chunk.length) {
          this.carry = Buffer.from(head);
          return;
        }
        take = Math.min(chunk.length, take * 4);
      }
    }
    const view = viewOf(chunk);
    while (pos < chunk.length) {
      const end = this.step(chunk, view, pos, readRow);
      if (this.ended) return;
      if (end < 0) {
        this.carry = Buffer.from(chunk.subarray(pos));
        return;
      }
      pos = end;
    }
  }

  /** The end of COPY; throws if the output was cut short. */
  finish(): void {
    if (!this.ended) throw new Error('COPY binary output ended without its trailer (cut in the middle of a row?)');
  }

  /** One row or the trailer at pos: the offset after it, or -1 when the buffer ends inside it. */
  private step(buf: Buffer, view: DataView, pos: number, readRow: RowReader): number {
    if (pos + 2 > buf.length) return -1;
    const n = view.getInt16(pos);
    if (n === -1) {
      this.ended = true;
      return pos + 2;
    }
    if (n !== this.fieldCount) throw new Error(`COPY row has ${n} fields, expected ${this.fieldCount}`);
    const end = readRow(buf, view, pos + 2);
    if (end >= 0) this.rows++;
    return end;
  }
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function headerEnd(buf: Buffer): number {
  if (buf.length < 19) return -1;
  if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not PostgreSQL binary COPY output');
  const end = 19 + buf.readUInt32BE(15);
  return buf.length >= end ? end : -1;
}
