/**
 * The content hash of a derived table, defined once here:
 *
 *   sha256 of the bytes of
 *     COPY (SELECT * FROM <table> AS t ORDER BY t.seq, t::text COLLATE "C") TO STDOUT
 *   (PostgreSQL text format: one line per row, columns in table order, tab-separated, \N for NULL)
 *   in a session with TimeZone=UTC, DateStyle=ISO,YMD, IntervalStyle=iso_8601,
 *   extra_float_digits=1 and bytea_output=hex, so the text of every value is fixed.
 *
 * Rows are ordered by the log offset they come from, then by their whole text (a transform may
 * emit several rows per event), so the hash depends on the content only, never on the physical
 * order or on how the range was chunked. It is computed as the rows stream out: memory stays flat.
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

/** Hashes `qualifiedTable` (already quoted, from derivedTable/buildTable). Read-only. */
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
      const hash = createHash('sha256');
      let rows = 0;
      let bytes = 0;
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          bytes += chunk.length;
          for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) rows++;
          onProgress?.(rows);
          done();
        },
      });
      const seq = quoteIdent(SEQ_COLUMN);
      await pipeline(client.query(copyTo(`COPY (SELECT * FROM ${qualifiedTable} AS t ORDER BY t.${seq}, t::text COLLATE "C") TO STDOUT`)), sink);
      await client.query('COMMIT');
      return { sha256: hash.digest('hex'), rows, bytes };
    } catch (err) {
      // A COPY that failed half-way leaves the connection unusable: it is destroyed, not rolled back.
      broken = err as Error;
      throw err;
    }
  } finally {
    client.release(broken);
  }
}
