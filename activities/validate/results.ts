/**
 * What a suite run produces, whichever engine ran it (PostgreSQL in postgres.ts, Arrow in arrow.ts):
 * the result shapes, how a result is built from a verdict, the number format of messages, and how
 * sample rows are made safe to publish.
 */
import {
  expectationColumns,
  expectationName,
  expectationSeverity,
  type Expectation,
  type ExpectationType,
  type Severity,
} from '../../contracts/expectations';
import type { Contract } from '../../contracts/registry';
import type { ColumnKind } from './dataset';

export type ExpectationStatus = 'passed' | 'failed' | 'no_data' | 'error';

export interface ExpectationResult {
  name: string;
  type: ExpectationType;
  severity: Severity;
  columns: string[];
  status: ExpectationStatus;
  passed: boolean;
  /** The measured value the threshold applies to (a rate, a count, an age, a PSI); null when none. */
  observed: number | null;
  threshold: Threshold;
  /** Rows that broke the expectation, out of `total` rows it looked at. */
  unexpected?: number;
  total?: number;
  details?: Record<string, unknown>;
  /** At most `sampleSize` failing rows (PII fields masked). */
  sample: Record<string, unknown>[];
  message: string;
}

export interface ColumnProfile {
  column: string;
  kind: ColumnKind;
  nonNull: number;
  /** Numeric columns: equal-width histogram between min and max. */
  histogram?: { lo: number; hi: number; counts: number[] };
  /** Other columns: the most frequent values (not for PII fields). */
  topValues?: { value: string | null; count: number }[];
  pii: boolean;
}

export interface SuiteRun {
  rowCount: number;
  results: ExpectationResult[];
  profiles: ColumnProfile[];
  /** SQL statements the run needed (0 for the Arrow engine). */
  queries: number;
}

export type Threshold = Record<string, number | null>;

function baseResult(e: Expectation): Omit<ExpectationResult, 'status' | 'passed' | 'observed' | 'threshold' | 'message'> {
  return {
    name: expectationName(e),
    type: e.type,
    severity: expectationSeverity(e),
    columns: expectationColumns(e).map((c) => c.column),
    sample: [],
  };
}

/** The expectation could not be evaluated (bad input, missing column, no baseline): a failure, never a pass. */
export function errorResult(e: Expectation, message: string, threshold: Threshold = {}): ExpectationResult {
  return { ...baseResult(e), status: 'error', passed: false, observed: null, threshold, message };
}

export function verdict(
  e: Expectation,
  passed: boolean,
  observed: number | null,
  threshold: Threshold,
  message: string,
  extra: Partial<ExpectationResult> = {},
): ExpectationResult {
  return { ...baseResult(e), status: passed ? 'passed' : 'failed', passed, observed, threshold, message, ...extra };
}

/** Nothing to judge (an empty dataset, an all-null column): a failure, so that a broken feed never passes. */
export function noData(e: Expectation, threshold: Threshold, what = 'the dataset is empty'): ExpectationResult {
  return {
    ...baseResult(e),
    status: 'no_data',
    passed: false,
    observed: null,
    threshold,
    message: `${what}: nothing to check (not a pass)`,
  };
}

const compact = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4, useGrouping: false });
/** Numbers in messages: integers as they are, others to 4 significant digits. */
export const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : compact.format(n));

/** Top-level columns the contract marks as PII (their values are masked in samples and profiles). */
export function piiColumns(contract: Contract): Set<string> {
  return new Set((contract.pii ?? []).map((p) => p.slice(1).split('/')[0] ?? ''));
}

/** A sample row as plain JSON values (timestamps as ISO text, bytes as hex, big integers as numbers), PII fields masked. */
export function maskSampleRow(row: Record<string, unknown>, pii: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined) out[k] = null;
    else if (pii.has(k)) out[k] = '***';
    else if (v instanceof Date) out[k] = Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
    else if (Buffer.isBuffer(v)) out[k] = `\\x${v.toString('hex')}`;
    else if (typeof v === 'bigint') out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}
