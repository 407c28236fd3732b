/**
 * Judges one record against its source's contract: a row for the log, or a row for quarantine with
 * a machine-readable reason. Never throws for bad data; every record becomes exactly one staged row.
 */
import { compilePointer, type Contract, type ValidationIssue, type ValidationResult } from '../../contracts/registry';
import { derivedEventId, sha256Hex } from '../../contracts/canonical';
import type { SourceRecord } from './readers';

export interface StagedRow {
  valid: boolean;
  eventId: string;
  /** ISO text, or null when the contract names no time or the event has none. */
  eventTime: string | null;
  /** JSON text of the payload (stored as jsonb), or null when jsonb cannot hold it. */
  payload: string | null;
  /** The bytes as received, when the payload cannot be stored as jsonb. */
  raw: Buffer | null;
  reason: QuarantineReason | null;
}

export interface QuarantineReason {
  issues: ValidationIssue[];
  /** Issues left out past {@link MAX_ISSUES}. */
  moreIssues?: number;
  /** Position of the record in its batch (0-based). */
  record: number;
  /** A record over the size limit: its digest and size, and where all of its bytes are kept (`raw` holds the first MiB). */
  whole?: { sha256: string; size: number; artifact?: { sha256: string; size: number; uri: string } };
  /**
   * Set on a conflicting duplicate only (written by the log writer, activities/ingest/logWriter.ts):
   * the event id was received before with another payload. `firstIn`/`firstSeq` name the row that
   * holds the id (a log row, or the quarantine row of an invalid event); the digests are the sha256
   * (hex) of each payload as stored, `payload::text` (of `raw` when jsonb cannot hold it).
   */
  code?: 'conflicting_duplicate';
  firstIn?: 'log' | 'quarantine';
  /** Decimal string, like every seq. */
  firstSeq?: string;
  firstDigest?: string;
  digest?: string;
}

/** Longest producer event id kept as is (btree index entries must stay small). */
export const MAX_EVENT_ID_LENGTH = 256;
const MAX_ISSUES = 20;
const MAX_MESSAGE_LENGTH = 500;

/** Text jsonb can store: no NUL, no lone surrogate (PostgreSQL refuses both). */
function storableText(s: string): boolean {
  return !s.includes('\u0000') && (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** First reason jsonb cannot hold a parsed value: a NUL or lone surrogate in a key or string, or a non-finite number. */
function unstorable(value: unknown, at = ''): { pointer: string; message: string } | undefined {
  if (typeof value === 'string')
    return storableText(value)
      ? undefined
      : { pointer: at, message: 'string holds \\u0000 or a lone surrogate, which PostgreSQL jsonb cannot store' };
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { pointer: at, message: 'number is out of range' };
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = unstorable(value[i], `${at}/${i}`);
      if (bad) return bad;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const ptr = `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!storableText(key)) return { pointer: ptr, message: 'key holds \\u0000 or a lone surrogate, which PostgreSQL jsonb cannot store' };
    const bad = unstorable((value as Record<string, unknown>)[key], ptr);
    if (bad) return bad;
  }
  return undefined;
}

/** Makes a message safe for a jsonb reason (parser messages quote the input). */
function safeMessage(m: string): string {
  const s = m.length > MAX_MESSAGE_LENGTH ? `${m.slice(0, MAX_MESSAGE_LENGTH)}…` : m;
  return (s.split('\u0000').join('\\u0000') as string & { toWellFormed(): string }).toWellFormed();
}

function rawEventId(raw: Buffer): string {
  return `raw-sha256:${sha256Hex(raw)}`;
}

/** RFC 3339 text PostgreSQL reads as is (years 1000-9999, an offset); anything else is normalised through Date. */
const PLAIN_TIMESTAMP = /^([1-9]\d{3})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d{1,6})?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written by `count` ASCII digits of `s` from `at` (positions the pattern has checked). */
function digitsAt(s: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) n = n * 10 + s.charCodeAt(i) - 48;
  return n;
}

/**
 * True for an RFC 3339 timestamp whose fields are all in range (Date.parse rolls 02-30 over to
 * March). Read per event: the pattern is tested without captures and the date read in place.
 */
function plainTimestamp(t: string): boolean {
  if (!PLAIN_TIMESTAMP.test(t)) return false;
  const year = digitsAt(t, 0, 4);
  const month = digitsAt(t, 5, 2);
  const day = digitsAt(t, 8, 2);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0));
}

export class RecordClassifier {
  private readonly validate: (record: unknown) => ValidationResult;
  private readonly readId: ((value: unknown) => unknown) | undefined;
  private readonly readTime: ((value: unknown) => unknown) | undefined;

  constructor(
    private readonly contract: Contract,
    validate: (record: unknown) => ValidationResult,
  ) {
    this.validate = validate;
    this.readId = contract.eventId === undefined ? undefined : compilePointer(contract.eventId);
    this.readTime = contract.eventTime === undefined ? undefined : compilePointer(contract.eventTime);
  }

  private issue(keyword: string, message: string, pointer = ''): ValidationIssue {
    return { contract: this.contract.contract, version: this.contract.version, pointer, keyword, message: safeMessage(message) };
  }

  private quarantine(
    issues: ValidationIssue[],
    record: number,
    fields: { eventId: string; payload: string | null; raw: Buffer | null; eventTime?: string | null },
  ): StagedRow {
    const reason: QuarantineReason = { issues: issues.slice(0, MAX_ISSUES), record };
    if (issues.length > MAX_ISSUES) reason.moreIssues = issues.length - MAX_ISSUES;
    return { valid: false, eventTime: fields.eventTime ?? null, eventId: fields.eventId, payload: fields.payload, raw: fields.raw, reason };
  }

  classify(rec: SourceRecord, record: number): StagedRow {
    switch (rec.kind) {
      case 'unreadable': {
        // An oversized record is known by the digest of all of its bytes, not of the part kept in `raw`.
        const staged = this.quarantine([this.issue(rec.keyword, rec.message)], record, {
          eventId: rec.whole ? `raw-sha256:${rec.whole.sha256}` : rawEventId(rec.raw),
          payload: null,
          raw: rec.raw,
        });
        if (rec.whole && staged.reason) {
          const { sha256, size, artifact } = rec.whole;
          staged.reason.whole = {
            sha256,
            size,
            ...(artifact ? { artifact: { sha256: artifact.sha256, size: artifact.size, uri: artifact.uri } } : {}),
          };
        }
        return staged;
      }
      case 'malformed': {
        const json = JSON.stringify(rec.value);
        const bad = unstorable(rec.value);
        return this.quarantine(
          [this.issue(rec.keyword, rec.message)],
          record,
          bad
            ? { eventId: rawEventId(Buffer.from(json)), payload: null, raw: Buffer.from(json) }
            : { eventId: derivedEventId(rec.value), payload: json, raw: null },
        );
      }
      case 'line': {
        let value: unknown;
        try {
          value = JSON.parse(rec.text);
        } catch (err) {
          const raw = Buffer.from(rec.text, 'utf8');
          return this.quarantine([this.issue('json', (err as Error).message)], record, { eventId: rawEventId(raw), payload: null, raw });
        }
        // Only text with escapes or exponents can hold what jsonb refuses: skip the walk otherwise.
        const suspicious = rec.text.includes('\\u') || /\d[eE][+-]?\d{3}/.test(rec.text);
        return this.judge(value, rec.text, suspicious, record);
      }
      case 'value':
        return rec.text === undefined
          ? this.judge(rec.value, undefined, true, record)
          : this.judge(rec.value, rec.text, rec.text.includes('\\u'), record);
    }
  }

  private judge(value: unknown, text: string | undefined, check: boolean, record: number): StagedRow {
    const bad = check ? unstorable(value) : undefined;
    if (bad) {
      const raw = Buffer.from(text ?? JSON.stringify(value), 'utf8');
      return this.quarantine([this.issue('storable', bad.message, bad.pointer)], record, { eventId: rawEventId(raw), payload: null, raw });
    }
    const payload = text ?? JSON.stringify(value);
    const issues: ValidationIssue[] = [];
    const result = this.validate(value);
    if (!result.ok) issues.push(...result.issues);

    let eventId: string | undefined;
    if (this.readId) {
      const id = this.readId(value);
      if (typeof id === 'string' && id.length > 0 && id.length <= MAX_EVENT_ID_LENGTH) eventId = id;
      else if (typeof id === 'number' && Number.isSafeInteger(id)) eventId = String(id);
      else if (id !== undefined && id !== null) {
        issues.push(
          this.issue(
            'eventId',
            `event id must be a non-empty string of at most ${MAX_EVENT_ID_LENGTH} characters or a safe integer`,
            this.contract.eventId ?? '',
          ),
        );
      }
    }
    eventId ??= derivedEventId(value);

    let eventTime: string | null = null;
    if (this.readTime) {
      const t = this.readTime(value);
      if (typeof t === 'string' && plainTimestamp(t)) {
        eventTime = t;
      } else if (t !== undefined && t !== null) {
        // Other text (or RFC 3339 with fields out of range) is refused rather than rolled over; numbers are epoch ms.
        const ms = typeof t === 'number' ? t : typeof t === 'string' && !PLAIN_TIMESTAMP.test(t) ? Date.parse(t) : Number.NaN;
        const d = new Date(ms);
        const year = Number.isFinite(ms) ? d.getUTCFullYear() : Number.NaN;
        if (year >= 1 && year <= 9999) eventTime = d.toISOString();
        else
          issues.push(
            this.issue(
              'eventTime',
              'event time must be an ISO 8601 date-time or epoch milliseconds between years 1 and 9999',
              this.contract.eventTime ?? '',
            ),
          );
      }
    }
    if (issues.length > 0) return this.quarantine(issues, record, { eventId, payload, raw: null, eventTime });
    return { valid: true, eventId, eventTime, payload, raw: null, reason: null };
  }
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Escapes a value for PostgreSQL COPY text format. */
export function copyText(s: string): string {
  return COPY_SPECIAL.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c] ?? c) : s;
}

/** One line of COPY text for the staging table (ordinal, valid, event_id, event_time, payload, raw, reason). */
export function stageLine(ordinal: number, row: StagedRow): string {
  return `${ordinal}\t${row.valid ? 't' : 'f'}\t${copyText(row.eventId)}\t${row.eventTime ?? '\\N'}\t${
    row.payload === null ? '\\N' : copyText(row.payload)
  }\t${row.raw === null ? '\\N' : `\\\\x${row.raw.toString('hex')}`}\t${row.reason === null ? '\\N' : copyText(JSON.stringify(row.reason))}\n`;
}
