/**
 * How an expectation's result is written, shared by both engines (PostgreSQL in suite.ts, Arrow in
 * arrow.ts): the result shapes, the number format of messages, and the verdicts whose inputs both
 * engines compute the same way.
 */
import { expectationColumns, expectationName, expectationSeverity, type Expectation, type NotNullExpectation, type RowCountExpectation } from '../../contracts/expectations';
import type { Contract } from '../../contracts/registry';
import type { ExpectationResult } from './suite';

type Threshold = Record<string, number | null>;

export function baseResult(e: Expectation): Omit<ExpectationResult, 'status' | 'passed' | 'observed' | 'threshold' | 'message'> {
  return { name: expectationName(e), type: e.type, severity: expectationSeverity(e), columns: expectationColumns(e).map((c) => c.column), sample: [] };
}

export function errorResult(e: Expectation, message: string, threshold: Threshold = {}): ExpectationResult {
  return { ...baseResult(e), status: 'error', passed: false, observed: null, threshold, message };
}

export function verdict(e: Expectation, passed: boolean, observed: number | null, threshold: Threshold, message: string, extra: Partial<ExpectationResult> = {}): ExpectationResult {
  return { ...baseResult(e), status: passed ? 'passed' : 'failed', passed, observed, threshold, message, ...extra };
}

export function noData(e: Expectation, threshold: Threshold, what = 'the dataset is empty'): ExpectationResult {
  return { ...baseResult(e), status: 'no_data', passed: false, observed: null, threshold, message: `${what}: nothing to check (not a pass)` };
}

const compact = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4, useGrouping: false });
/** Numbers in messages: integers as they are, others to 4 significant digits. */
export const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : compact.format(n));

/** Top-level columns the contract marks as PII (their values are masked in samples and profiles). */
export function piiColumns(contract: Contract): Set<string> {
  return new Set((contract.pii ?? []).map((p) => p.slice(1).split('/')[0] ?? ''));
}

/** Leading columns shown next to a failing value in samples. */
export const SAMPLE_CONTEXT_COLUMNS = 3;

/** row_count over `n` rows. */
export function rowCountVerdict(e: RowCountExpectation, n: number): ExpectationResult {
  const ok = (e.min === undefined || n >= e.min) && (e.max === undefined || n <= e.max);
  return verdict(e, ok, n, { min: e.min ?? null, max: e.max ?? null }, `${n} rows; expected ${e.min ?? 0}..${e.max ?? '∞'}`);
}

/** not_null: `nulls` of `n` rows; `sample` gives the failing rows when it failed. */
export function notNullVerdict(
  e: NotNullExpectation,
  n: number,
  nulls: number,
  sample?: () => Record<string, unknown>[],
): ExpectationResult {
  const th = { maxNullRate: e.maxNullRate ?? 0 };
  if (n === 0) return noData(e, th);
  const rate = nulls / n;
  const passed = rate <= th.maxNullRate;
  return verdict(e, passed, rate, th, `${nulls} of ${n} rows null (rate ${fmt(rate)}, max ${th.maxNullRate})`, {
    unexpected: nulls, total: n, ...(sample ? { sample: passed ? [] : sample() } : {}),
  });
}
