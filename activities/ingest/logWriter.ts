/**
 * Appends a batch to the log in chunks. Each chunk is one transaction that also records itself in
 * sluice.ingest_chunks; chunks commit in order, so a retried batch skips the records of the chunks
 * already committed: a crash neither loses nor duplicates rows.
 *
 * Order: a chunk reserves a block of `seq` values from the log's identity sequence when it starts
 * (in file order, before the next chunk does) and its rows carry them, so the log keeps the order
 * of the file even though several chunks are written at once ({@link COPY_STREAMS}), each on its
 * own connection. Their COPYs overlap; their quarantine inserts and commits go one after the other.
 *
 * Fast path: the valid rows of a chunk are COPYed straight into sluice.raw_events (as fast as a raw
 * COPY). If one of them is already in the log (a resend, a retry), the unique index refuses the
 * COPY; the chunk then rolls back to a savepoint and takes the careful path: COPY into a temporary
 * staging table and INSERT ... ON CONFLICT DO NOTHING. Invalid rows always take the careful path
 * into sluice.quarantine. While PostgreSQL writes chunks, the worker judges the next one.
 *
 * Duplicates: an event id the log (or the quarantine, for an invalid event) already holds is a
 * duplicate when its payload is the same, byte for byte as PostgreSQL stores it (the sha256 of
 * `payload::text`, which jsonb normalises: spacing, key order, repeated keys), and a conflicting
 * duplicate otherwise: a quarantine row with the reason code `conflicting_duplicate`, the seq that
 * holds the id first and both digests. Within a chunk, a repeated id with the same payload text is
 * dropped where it is read; one with other text is judged in SQL with the rows the log refused
 * (the careful path) and the invalid rows, never on the fast path.
 */
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { inTransaction } from '../../db/transaction';
import type { Contract } from '../../contracts/registry';
import { ErrorCodes } from '../../api/errors';
import type { IngestBatchResult } from '../../api/workflows/ingest';
import { copyText, stageLine, type RecordClassifier, type StagedRow } from './classify';
import type { SourceRecord } from './readers';

/** A chunk (one transaction) ends after this many records or this many bytes of payload, whichever comes first. */
export const CHUNK_RECORDS = 5_000;
export const CHUNK_BYTES = 32 * 1024 * 1024;
/**
 * Chunks written at once by default, each in its own transaction. Their COPYs run side by side,
 * their commits in file order: each chunk reserves its block of `seq` values before the next one
 * does, and commits only after the one before it.
 */
export const COPY_STREAMS = 2;
const UNIQUE_VIOLATION = '23505';
const LOG_COPY = 'COPY sluice.raw_events (seq, source, event_id, event_time, contract, contract_version, payload, batch_id) FROM STDIN';
const STAGE_COPY = 'COPY pg_temp.sluice_ingest_stage (ordinal, valid, event_id, event_time, payload, raw, reason) FROM STDIN';
const COPY_WRITE_BYTES = 1024 * 1024;
const COPY_BUFFER_BYTES = 64 * 1024 * 1024;

const STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS sluice_ingest_stage (
  ordinal    bigint  NOT NULL,
  valid      boolean NOT NULL,
  event_id   text    NOT NULL,
  event_time timestamptz,
  payload    text,
  raw        bytea,
  reason     jsonb
) ON COMMIT DELETE ROWS`;

/** Chunks commit without waiting for their WAL flush; the batch's final flushDurable() does. */
const CHUNK_TRANSACTION = { settings: { synchronous_commit: 'off' } } as const;
/**
 * In one round trip (the worker may be busy judging the next chunk when PostgreSQL answers): the
 * log is locked before the chunk reserves its seq values, so that commitHorizon() waits for these
 * rows as it waits for any insert whose identity values are handed out; the direct COPY can be
 * undone back to the savepoint (the careful path), which keeps the lock and the reserved values.
 */
const LOCK_LOG = 'SELECT sluice.lock_log_for_append(); SAVEPOINT direct_copy';
/** `$1` values of the log's identity sequence, ascending, as comma-separated text. */
const RESERVE_SEQS = `SELECT string_agg(v::text, ',' ORDER BY v) AS seqs
  FROM (SELECT nextval('sluice.raw_events_seq_seq') AS v FROM generate_series(1, $1::int)) s`;

/** The careful path's staging table: the log rows of a chunk as COPYed, payload still text. */
const LOG_STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS sluice_ingest_log_stage (
  seq              bigint NOT NULL,
  source           text   NOT NULL,
  event_id         text   NOT NULL,
  event_time       timestamptz,
  contract         text   NOT NULL,
  contract_version text   NOT NULL,
  payload          text   NOT NULL,
  batch_id         text   NOT NULL
) ON COMMIT DELETE ROWS`;
const LOG_STAGE_COPY =
  'COPY pg_temp.sluice_ingest_log_stage (seq, source, event_id, event_time, contract, contract_version, payload, batch_id) FROM STDIN';

/**
 * The careful path: the staged log rows go in, except those whose event id the log already holds;
 * these are staged for {@link QUARANTINE_PASS} (same payload: a duplicate; another: a conflict),
 * each with its record number (`$1`: seqs, `$2`: record numbers, in the same order).
 */
const INSERT_LOG = `WITH ins AS (
  INSERT INTO sluice.raw_events (seq, source, event_id, event_time, contract, contract_version, payload, batch_id)
  OVERRIDING SYSTEM VALUE
  SELECT s.seq, s.source, s.event_id, s.event_time, s.contract, s.contract_version, s.payload::jsonb, s.batch_id
    FROM pg_temp.sluice_ingest_log_stage s ORDER BY s.seq
  ON CONFLICT (source, event_id) DO NOTHING
  RETURNING seq),
refused AS (
  INSERT INTO pg_temp.sluice_ingest_stage (ordinal, valid, event_id, event_time, payload, raw, reason)
  SELECT m.ordinal, true, s.event_id, s.event_time, s.payload, NULL, NULL
    FROM pg_temp.sluice_ingest_log_stage s
    JOIN unnest($1::bigint[], $2::bigint[]) AS m(seq, ordinal) ON m.seq = s.seq
   WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.seq = s.seq)
  RETURNING 1)
SELECT count(*)::int AS n, min(seq)::text AS from_seq, max(seq)::text AS to_seq FROM ins`;

/** sha256 (hex) of a payload as PostgreSQL stores it (`payload::text`), or of the bytes kept when jsonb cannot hold it. */
const STAGE_DIGEST = `CASE WHEN s.payload IS NULL THEN encode(sha256(coalesce(s.raw, ''::bytea)), 'hex')
  ELSE encode(sha256(convert_to(s.payload::jsonb::text, 'UTF8')), 'hex') END`;
const LOG_DIGEST = `encode(sha256(convert_to(r.payload::text, 'UTF8')), 'hex')`;
const QUARANTINE_DIGEST = `CASE WHEN q.payload IS NULL THEN encode(sha256(coalesce(q.raw, ''::bytea)), 'hex')
  ELSE encode(sha256(convert_to(q.payload::text, 'UTF8')), 'hex') END`;

/**
 * Quarantines the staged rows that are the `$5`-th of their event id in the stage (in record
 * order; the next pass sees what this one wrote). A row whose id the log holds (or, failing that,
 * an ordinary quarantine row) is a duplicate when the digests agree and a conflicting duplicate
 * otherwise; an invalid row whose id is held nowhere is quarantined with its own reason. The unique
 * indexes of sluice.quarantine (one ordinary row per id, one conflicting row per id and digest)
 * make a resent batch add nothing. Answers the rows written, the conflicting ones among them, and
 * whether a further pass is needed.
 */
const QUARANTINE_PASS = `WITH numbered AS (
  SELECT s.*, row_number() OVER (PARTITION BY s.event_id ORDER BY s.ordinal) AS nth FROM pg_temp.sluice_ingest_stage s),
staged AS (
  SELECT s.ordinal, s.valid, s.event_id, s.event_time, s.payload::jsonb AS payload, s.raw, s.reason, ${STAGE_DIGEST} AS digest
    FROM numbered s WHERE s.nth = $5),
held AS (
  SELECT s.*, h.seq AS first_seq, h.place AS first_in, h.digest AS first_digest
    FROM staged s
    LEFT JOIN LATERAL (
      SELECT * FROM (
        SELECT r.seq, 'log' AS place, ${LOG_DIGEST} AS digest
          FROM sluice.raw_events r WHERE r.source = $1 AND r.event_id = s.event_id
        UNION ALL
        SELECT q.seq, 'quarantine', ${QUARANTINE_DIGEST}
          FROM sluice.quarantine q
         WHERE q.source = $1 AND q.event_id = s.event_id AND (q.reason ->> 'code') IS DISTINCT FROM 'conflicting_duplicate'
      ) holders ORDER BY place LIMIT 1) h ON true),
ins AS (
  INSERT INTO sluice.quarantine (source, event_id, event_time, contract, contract_version, payload, raw, batch_id, reason)
  SELECT $1, s.event_id, s.event_time, $2, $3, s.payload, s.raw, $4,
         CASE WHEN s.first_seq IS NULL THEN s.reason ELSE jsonb_build_object(
           'code', 'conflicting_duplicate',
           'issues', jsonb_build_array(jsonb_build_object(
               'contract', $2::text, 'version', $3::text, 'pointer', $6::text, 'keyword', 'conflicting_duplicate',
               'message', format('event id %s was received before with another payload (%s seq %s)', s.event_id, s.first_in, s.first_seq)))
             || coalesce(s.reason -> 'issues', '[]'::jsonb),
           'record', s.ordinal,
           'firstIn', s.first_in,
           'firstSeq', s.first_seq::text,
           'firstDigest', s.first_digest,
           'digest', s.digest) END
    FROM held s
   WHERE (s.first_seq IS NULL AND NOT s.valid) OR (s.first_seq IS NOT NULL AND s.digest <> s.first_digest)
   ORDER BY s.ordinal
  ON CONFLICT DO NOTHING
  RETURNING (reason ->> 'code') = 'conflicting_duplicate' AS conflicting)
SELECT (SELECT count(*) FROM ins)::int AS n,
       (SELECT count(*) FROM ins WHERE conflicting)::int AS conflicting,
       EXISTS (SELECT 1 FROM numbered WHERE nth > $5) AS more`;

export interface BatchTarget {
  pool: Pool;
  source: string;
  batchId: string;
  contract: Contract;
  classifier: RecordClassifier;
  /** Called after each chunk and every few thousand records (activity heartbeat). */
  progress?: (p: { chunk: number; records: number }) => void;
  /** Throws when the activity is cancelled. */
  checkCancelled?: () => void;
  /** Chunks written at once, each on its own connection (default {@link COPY_STREAMS}); 1 writes one chunk at a time. */
  copyStreams?: number | undefined;
}

interface ChunkCounts {
  records: number;
  accepted: number;
  quarantined: number;
  /** Conflicting duplicates: part of `quarantined`. */
  conflicting: number;
  duplicates: number;
  fromSeq: string | null;
  toSeq: string | null;
}

/** Creates the staging table of this transaction (dropped at its end). */
export async function createStage(client: PoolClient): Promise<void> {
  await client.query(STAGE_DDL);
}

/** Streams rows into a table with COPY (default: the staging table), respecting backpressure. */
export async function copyStaged(
  client: PoolClient,
  rows: AsyncIterable<[number, StagedRow]> | Iterable<[number, StagedRow]>,
  sql: string = STAGE_COPY,
  line: (row: StagedRow, ordinal: number) => string = (row, ordinal) => stageLine(ordinal, row),
): Promise<number> {
  const copy = client.query(copyFrom(sql));
  let buf = '';
  let n = 0;
  try {
    for await (const [ordinal, row] of rows) {
      buf += line(row, ordinal);
      n++;
      if (buf.length >= COPY_WRITE_BYTES) {
        copy.write(buf);
        buf = '';
        // Chunks are bounded (CHUNK_BYTES), so most of one may sit in memory: the socket then drains
        // in the background while the worker judges the next chunk. Wait only past that bound.
        if (copy.writableLength > COPY_BUFFER_BYTES) await once(copy, 'drain');
      }
    }
    if (buf) copy.write(buf);
    copy.end();
    await finished(copy);
  } catch (err) {
    copy.destroy(err as Error);
    throw err;
  }
  return n;
}

async function committedChunks(pool: Pool, source: string, batchId: string): Promise<{ chunks: number; records: number }> {
  const { rows } = await pool.query<{ chunks: number; records: string; last: number | null }>(
    'SELECT count(*)::int AS chunks, coalesce(sum(records), 0)::text AS records, max(chunk_no) AS last FROM sluice.ingest_chunks WHERE source = $1 AND batch_id = $2',
    [source, batchId],
  );
  const r = rows[0];
  const chunks = r?.chunks ?? 0;
  if (chunks > 0 && r?.last !== chunks - 1)
    throw new Error(`batch ${batchId} of ${source} has non-contiguous chunks (${chunks} chunks, last ${r?.last})`);
  return { chunks, records: Number(r?.records ?? 0) };
}

/** PostgreSQL data exceptions (class 22) do not heal by retrying: the batch fails, naming the chunk. */
function asDataFailure(err: unknown, t: BatchTarget, chunkNo: number): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('22')) {
    return ApplicationFailure.create({
      type: ErrorCodes.IngestDataRejected,
      nonRetryable: true,
      message: `PostgreSQL refused chunk ${chunkNo} of batch ${t.batchId} (${t.source}): ${(err as Error).message}`,
    });
  }
  return err;
}

/** Sends prebuilt COPY text (built while the previous chunk was being written). */
async function sendCopy(client: PoolClient, sql: string, pieces: readonly Buffer[]): Promise<void> {
  const copy = client.query(copyFrom(sql));
  try {
    for (const piece of pieces) {
      copy.write(piece);
      if (copy.writableLength > COPY_BUFFER_BYTES) await once(copy, 'drain');
    }
    copy.end();
    await finished(copy);
  } catch (err) {
    copy.destroy(err as Error);
    throw err;
  }
}

/** The batch a chunk belongs to: what every log row of it carries besides the event. */
export type ChunkOrigin = Pick<BatchTarget, 'source' | 'batchId' | 'contract'>;

/** Room for a row's seq: wide enough for any bigint; the spaces left of it are read as nothing (int8 input skips leading blanks). */
const SEQ_WIDTH = 20;
const SEQ_ROOM = ' '.repeat(SEQ_WIDTH);

/**
 * A chunk judged and ready to write: the COPY text of its valid, distinct log rows and its invalid
 * rows. Each log row starts with room for its `seq`, which is reserved when the chunk is written
 * and then filled in place. The text is kept as bytes outside the JavaScript heap, in a buffer
 * that the next chunks reuse: a chunk lives while the next one is judged, and rows kept as strings
 * would be copied by every young-generation collection until then, while a fresh buffer per chunk
 * makes V8 collect for its external memory.
 */
export class ChunkBuilder {
  /** Records of the chunk, valid or not. */
  records = 0;
  readonly invalid: StagedRow[] = [];
  /**
   * Valid rows (with their record numbers) whose event id an earlier row of the chunk has, with
   * other payload text: judged in SQL (a duplicate once jsonb has normalised it, or a conflict).
   */
  readonly repeats: [number, StagedRow][] = [];
  /** Event ids of the valid rows and the index of each one's log row (a duplicate inside the chunk is counted, not written). */
  readonly eventIds = new Map<string, number>();
  /** Record number of each log row. */
  readonly logOrdinals: number[] = [];
  /** Payload bytes (the chunk's size limit). */
  bytes = 0;
  /** The log rows, one after the other. */
  private body: Buffer;
  private used = 0;
  /** Where each log row starts in `body`. */
  private readonly starts: number[] = [];
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly suffix2: string;

  /** `body`: a buffer to fill (one a finished chunk gave back), grown when too small. */
  constructor(
    origin: ChunkOrigin,
    readonly first: number,
    body?: Buffer,
  ) {
    this.body = body ?? Buffer.allocUnsafe(4 * 1024 * 1024);
    this.prefix = `${SEQ_ROOM}\t${copyText(origin.source)}\t`;
    this.suffix = `\t${copyText(origin.contract.contract)}\t${copyText(origin.contract.version)}\t`;
    this.suffix2 = `\t${copyText(origin.batchId)}\n`;
  }

  add(row: StagedRow): void {
    this.records++;
    this.bytes += (row.payload?.length ?? 0) + 2 * (row.raw?.length ?? 0);
    if (!row.valid) {
      this.invalid.push(row);
      return;
    }
    const line = `${this.prefix}${copyText(row.eventId)}\t${row.eventTime ?? '\\N'}${this.suffix}${copyText(row.payload ?? 'null')}${this.suffix2}`;
    const seen = this.eventIds.get(row.eventId);
    if (seen !== undefined) {
      // The same line (past the seq room) is the same payload text: a duplicate, nothing to write.
      const start = this.starts[seen] ?? 0;
      const end = this.starts[seen + 1] ?? this.used;
      if (this.body.toString('utf8', start + SEQ_WIDTH, end) !== line.slice(SEQ_WIDTH))
        this.repeats.push([this.first + this.records - 1, row]);
      return;
    }
    this.eventIds.set(row.eventId, this.starts.length);
    this.logOrdinals.push(this.first + this.records - 1);
    // At most 3 bytes per UTF-16 unit.
    if (this.used + 3 * line.length > this.body.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.body.length, this.used + 3 * line.length));
      this.body.copy(grown, 0, 0, this.used);
      this.body = grown;
    }
    this.starts.push(this.used);
    this.used += this.body.write(line, this.used, 'utf8');
  }

  /** Valid, distinct rows: the rows of the log COPY. */
  get logRows(): number {
    return this.starts.length;
  }

  /**
   * The COPY text of the log rows (LOG_COPY's columns), the i-th at `seqs[i]`, in pieces of about
   * a MiB. The pieces are views of the chunk's buffer: valid until {@link takeBody}.
   */
  logCopyText(seqs: readonly string[]): Buffer[] {
    const pieces: Buffer[] = [];
    let from = 0;
    for (let i = 0; i < this.starts.length; i++) {
      const start = this.starts[i] ?? 0;
      const seq = seqs[i] ?? '';
      if (seq.length > SEQ_WIDTH) throw new Error(`seq ${seq} is wider than ${SEQ_WIDTH} characters`);
      this.body.write(seq, start + SEQ_WIDTH - seq.length, 'latin1');
      if (start - from >= COPY_WRITE_BYTES) {
        pieces.push(this.body.subarray(from, start));
        from = start;
      }
    }
    if (this.used > from) pieces.push(this.body.subarray(from, this.used));
    return pieces;
  }

  /** The chunk's buffer, for the next chunk to fill once this one is written. */
  takeBody(): Buffer {
    const body = this.body;
    this.body = Buffer.alloc(0);
    this.used = 0;
    this.starts.length = 0;
    this.logOrdinals.length = 0;
    return body;
  }
}

/** How a chunk takes its turn among the chunks written at once. */
interface ChunkTurn {
  /** Settles when the chunk before this one has committed (rejects when it failed). */
  previous: Promise<unknown>;
  /** Called once this chunk's `seq` values are reserved: the next chunk may reserve its own. */
  reserved: () => void;
}

async function writeChunk(t: BatchTarget, chunkNo: number, chunk: ChunkBuilder, turn: ChunkTurn): Promise<ChunkCounts> {
  const params = [t.source, t.contract.contract, t.contract.version, t.batchId];
  const { records, invalid, repeats, first } = chunk;
  try {
    return await inTransaction(
      t.pool,
      async (client) => {
        let seqs: string[] = [];
        if (chunk.logRows > 0) {
          await client.query(LOCK_LOG);
          const reserved = await client.query<{ seqs: string }>(RESERVE_SEQS, [chunk.logRows]);
          seqs = (reserved.rows[0]?.seqs ?? '').split(',');
        }
        turn.reserved();
        let accepted = 0;
        let quarantined = 0;
        let fromSeq: string | null = null;
        let toSeq: string | null = null;
        let careful = false;
        if (chunk.logRows > 0) {
          try {
            await sendCopy(client, LOG_COPY, chunk.logCopyText(seqs));
            accepted = chunk.logRows;
            fromSeq = seqs[0] ?? null;
            toSeq = seqs[accepted - 1] ?? null;
          } catch (err) {
            if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
            await client.query('ROLLBACK TO SAVEPOINT direct_copy');
            careful = true;
          }
        }
        // Rows judged in SQL: the invalid ones, the repeats of the chunk and the log rows the log refused.
        const staging = careful || invalid.length > 0 || repeats.length > 0;
        if (staging) await createStage(client);
        if (careful) {
          // The same rows, through a staging table, skipping those the log already holds.
          await client.query(LOG_STAGE_DDL);
          await sendCopy(client, LOG_STAGE_COPY, chunk.logCopyText(seqs));
          const log = await client.query<{ n: number; from_seq: string | null; to_seq: string | null }>(INSERT_LOG, [
            seqs.slice(0, chunk.logRows),
            chunk.logOrdinals,
          ]);
          accepted = log.rows[0]?.n ?? 0;
          fromSeq = log.rows[0]?.from_seq ?? null;
          toSeq = log.rows[0]?.to_seq ?? null;
        }
        if (invalid.length > 0 || repeats.length > 0) {
          // Invalid rows carry their record number in their reason.
          const rows: [number, StagedRow][] = [
            ...invalid.map((row, i): [number, StagedRow] => [row.reason?.record ?? first + i, row]),
            ...repeats,
          ];
          await copyStaged(client, rows);
        }
        // From here on in file order: quarantine (whose seq is handed out on insert, and which looks
        // up the log rows of the chunks before) and the chunk record, which must stay contiguous.
        await turn.previous;
        let conflicting = 0;
        if (staging) {
          const pointer = t.contract.eventId ?? '';
          for (let nth = 1; ; nth++) {
            const q = await client.query<{ n: number; conflicting: number; more: boolean }>(QUARANTINE_PASS, [...params, nth, pointer]);
            quarantined += q.rows[0]?.n ?? 0;
            conflicting += q.rows[0]?.conflicting ?? 0;
            if (!q.rows[0]?.more) break;
          }
        }
        const duplicates = records - accepted - quarantined;
        const counts: ChunkCounts = { records, accepted, quarantined, conflicting, duplicates, fromSeq, toSeq };
        await client.query(
          `INSERT INTO sluice.ingest_chunks (source, batch_id, chunk_no, records, accepted, quarantined, conflicting, duplicates, from_seq, to_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            t.source,
            t.batchId,
            chunkNo,
            counts.records,
            counts.accepted,
            counts.quarantined,
            counts.conflicting,
            counts.duplicates,
            counts.fromSeq,
            counts.toSeq,
          ],
        );
        return counts;
      },
      CHUNK_TRANSACTION,
    );
  } catch (err) {
    throw asDataFailure(err, t, chunkNo);
  }
}

/** A chunk being written: its commit, and when its `seq` values are reserved (or it failed before). */
function startChunk(
  t: BatchTarget,
  chunkNo: number,
  chunk: ChunkBuilder,
  previous: Promise<unknown>,
): { reserved: Promise<void>; committed: Promise<ChunkCounts> } {
  let markReserved: () => void = () => undefined;
  const reserved = new Promise<void>((resolve) => (markReserved = resolve));
  const committed = writeChunk(t, chunkNo, chunk, { previous, reserved: markReserved });
  // Awaited in turn by appendBatch; the handler only keeps an early failure from being "unhandled".
  committed.catch(() => undefined);
  return { reserved: Promise.race([reserved, committed.then(() => undefined)]), committed };
}

function sharesAny(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const x of small.keys()) if (large.has(x)) return true;
  return false;
}

/** The batch's counts as committed (all attempts together). */
export async function batchTotals(pool: Pool, source: string, batchId: string, contract: Contract): Promise<IngestBatchResult> {
  const { rows } = await pool.query<{
    records: string;
    accepted: string;
    quarantined: string;
    conflicting: string;
    duplicates: string;
    from_seq: string | null;
    to_seq: string | null;
  }>(
    `SELECT coalesce(sum(records), 0)::text AS records, coalesce(sum(accepted), 0)::text AS accepted,
            coalesce(sum(quarantined), 0)::text AS quarantined, coalesce(sum(conflicting), 0)::text AS conflicting,
            coalesce(sum(duplicates), 0)::text AS duplicates,
            min(from_seq)::text AS from_seq, max(to_seq)::text AS to_seq
       FROM sluice.ingest_chunks WHERE source = $1 AND batch_id = $2`,
    [source, batchId],
  );
  const r = rows[0];
  return {
    source,
    batchId,
    contract: contract.contract,
    contractVersion: contract.version,
    received: Number(r?.records ?? 0),
    accepted: Number(r?.accepted ?? 0),
    quarantined: Number(r?.quarantined ?? 0),
    conflicting: Number(r?.conflicting ?? 0),
    duplicates: Number(r?.duplicates ?? 0),
    fromSeq: r?.from_seq ?? null,
    toSeq: r?.to_seq ?? null,
  };
}

/**
 * Appends every record of `records` to the log or quarantine, chunk by chunk, skipping the records
 * of chunks an earlier attempt committed. Returns the batch's totals. Idempotent per (source, batchId).
 */
export async function appendBatch(t: BatchTarget, records: AsyncIterable<SourceRecord>): Promise<IngestBatchResult> {
  const done = await committedChunks(t.pool, t.source, t.batchId);
  const it = records[Symbol.asyncIterator]();
  // Committed by an earlier attempt: read past those records without judging them.
  for (let i = 0; i < done.records; i++) if ((await it.next()).done) break;
  const streams = Math.max(1, t.copyStreams ?? COPY_STREAMS);
  let ordinal = done.records;
  let chunkNo = done.chunks;
  let previous: Promise<unknown> = Promise.resolve();
  const writing: { chunk: ChunkBuilder; committed: Promise<ChunkCounts> }[] = [];
  // The buffers of written chunks, for the next chunks to fill.
  const spare: Buffer[] = [];
  const written = async (): Promise<void> => {
    const w = writing.shift();
    if (!w) return;
    await w.committed;
    spare.push(w.chunk.takeBody());
  };
  try {
    for (;;) {
      t.checkCancelled?.();
      const chunk = new ChunkBuilder(t, ordinal, spare.pop());
      while (chunk.records < CHUNK_RECORDS && chunk.bytes < CHUNK_BYTES) {
        const next = await it.next();
        if (next.done) break;
        chunk.add(t.classifier.classify(next.value, ordinal));
        ordinal++;
        // Judging is CPU work on the thread that also drives the chunks being written: yield to
        // I/O now and then, or PostgreSQL waits for its next statement until a file read comes due.
        if ((ordinal & 127) === 0) await setImmediatePromise();
        if ((ordinal & 4095) === 0) t.progress?.({ chunk: chunkNo, records: ordinal });
      }
      if (chunk.records === 0) break;
      // A chunk that shares an event id with one still being written waits until that one has
      // committed: its COPY would wait for those rows, while their chunk waits for its turn after it.
      const overlaps = writing.some((w) => sharesAny(w.chunk.eventIds, chunk.eventIds));
      while (writing.length >= streams || (overlaps && writing.length > 0)) await written();
      const started = startChunk(t, chunkNo, chunk, previous);
      writing.push({ chunk, committed: started.committed });
      previous = started.committed;
      // Chunks reserve their seq values in file order, so the log keeps the order of the file.
      await started.reserved;
      chunkNo++;
      t.progress?.({ chunk: chunkNo, records: ordinal });
    }
    while (writing.length > 0) await written();
  } catch (err) {
    // The chunks after a failed one roll back (each commits only after the one before it): let
    // them end before the activity fails, so that a retry finds no transaction of this attempt open.
    await Promise.allSettled(writing.map((w) => w.committed));
    throw err;
  }
  if (chunkNo > done.chunks) await flushDurable(t.pool);
  return batchTotals(t.pool, t.source, t.batchId, t.contract);
}

/**
 * Makes every chunk committed so far durable: a transaction with an xid commits synchronously, and
 * WAL is flushed in order, so the chunks committed before it (asynchronously) are on disk when it
 * returns. A crash before that loses whole chunks together with their sluice.ingest_chunks rows,
 * which the retried activity then writes again: never half a chunk, never a reported row lost.
 */
async function flushDurable(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT');
  } finally {
    client.release();
  }
}
