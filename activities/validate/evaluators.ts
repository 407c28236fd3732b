/**
 * The verdict of each expectation type, in one place for both engines: an engine measures (counts,
 * extremes, bins) the way its data allows, and the evaluator here turns the measurement into the
 * result, its threshold and its message. Both engines therefore judge the same numbers the same way
 * and word it the same way.
 */
import type { Expectation } from '../../contracts/expectations';
import { populationStabilityIndex, type DriftBin } from './drift';
import { errorResult, fmt, noData, verdict, type ExpectationResult, type Threshold } from './results';

/** Counts over the non-null values of the expectation's column. */
export interface RateMeasure {
  nonNull: number;
  failing: number;
}

/** What an engine measured for one expectation, tagged with the expectation's type. */
export type Measurement =
  | { type: 'row_count' }
  | { type: 'not_null'; nulls: number }
  | { type: 'unique'; total: number; duplicates: number; sample: Record<string, unknown>[] }
  | ({ type: 'accepted_values' | 'regex' | 'format' } & RateMeasure)
  | ({ type: 'range'; min: number; max: number } & RateMeasure)
  /** Newest timestamp and the evaluation instant, both ms since the epoch. */
  | { type: 'freshness'; newestMs: number | null; nowMs: number }
  | { type: 'referential_integrity'; nonNull: number; missing: number }
  | { type: 'custom_sql'; failing: number }
  /** Bins of current and baseline values; `ks` for the KS method (exact, over all values). */
  | { type: 'drift'; bins: DriftBin[]; currentTotal: number; baselineTotal: number; baseline: string; ks?: number };

export function thresholdOf(e: Expectation): Threshold {
  switch (e.type) {
    case 'row_count':
      return { min: e.min ?? null, max: e.max ?? null };
    case 'not_null':
      return { maxNullRate: e.maxNullRate ?? 0 };
    case 'unique':
      return { maxDuplicates: 0 };
    case 'accepted_values':
    case 'regex':
    case 'format':
      return { minRate: e.minRate ?? 1 };
    case 'range':
      return { min: e.min ?? null, max: e.max ?? null, minRate: e.minRate ?? 1 };
    case 'freshness':
      return { maxAgeSeconds: e.maxAgeSeconds };
    case 'referential_integrity':
      return { maxMissingRate: e.maxMissingRate ?? 0 };
    case 'custom_sql':
      return { maxFailing: e.maxFailing ?? 0 };
    case 'drift':
      return { threshold: e.threshold };
    default: {
      const never: never = e;
      throw new Error(`unknown expectation ${JSON.stringify(never)}`);
    }
  }
}

/** On an empty dataset every expectation but row_count has nothing to judge; engines skip measuring it. */
export function emptyDatasetResult(e: Expectation, rowCount: number): ExpectationResult | undefined {
  return rowCount === 0 && e.type !== 'row_count' ? noData(e, thresholdOf(e)) : undefined;
}

const mismatch = (e: Expectation, m: Measurement): Error => new Error(`measurement of ${m.type} given to a ${e.type} expectation`);

/** The result of `e` over `rowCount` rows, from what an engine measured. */
export function evaluate(e: Expectation, rowCount: number, m: Measurement): ExpectationResult {
  const n = rowCount;
  const empty = emptyDatasetResult(e, n);
  if (empty) return empty;
  const th = thresholdOf(e);
  const allNull = (column: string): ExpectationResult => noData(e, th, `${column} is null in all ${n} rows`);
  switch (e.type) {
    case 'row_count': {
      const ok = (e.min === undefined || n >= e.min) && (e.max === undefined || n <= e.max);
      return verdict(e, ok, n, th, `${n} rows; expected ${e.min ?? 0}..${e.max ?? '∞'}`);
    }
    case 'not_null': {
      if (m.type !== e.type) throw mismatch(e, m);
      const max = e.maxNullRate ?? 0;
      const rate = m.nulls / n;
      return verdict(e, rate <= max, rate, th, `${m.nulls} of ${n} rows null (rate ${fmt(rate)}, max ${max})`, {
        unexpected: m.nulls,
        total: n,
      });
    }
    case 'unique': {
      if (m.type !== e.type) throw mismatch(e, m);
      if (m.total === 0) return noData(e, th, `(${e.columns.join(', ')}) is null in all ${n} rows`);
      const ok = m.duplicates === 0;
      const message = ok ? `all ${m.total} keys distinct` : `${m.duplicates} rows repeat an earlier (${e.columns.join(', ')}) key`;
      return verdict(e, ok, m.duplicates, th, message, { unexpected: m.duplicates, total: m.total, sample: m.sample });
    }
    case 'accepted_values':
    case 'regex':
    case 'format':
    case 'range': {
      if (m.type !== e.type) throw mismatch(e, m);
      if (m.nonNull === 0) return allNull(e.column);
      const minRate = e.minRate ?? 1;
      const rate = 1 - m.failing / m.nonNull;
      const what =
        e.type === 'accepted_values'
          ? 'not in the accepted set'
          : e.type === 'regex'
            ? `not matching ${JSON.stringify(e.pattern)}`
            : e.type === 'format'
              ? `not valid ${e.format}`
              : `outside [${e.min ?? '-∞'}, ${e.max ?? '∞'}]`;
      const observedRange = m.type === 'range' ? `; observed min ${fmt(m.min)}, max ${fmt(m.max)}` : '';
      return verdict(
        e,
        rate >= minRate,
        rate,
        th,
        `${m.failing} of ${m.nonNull} non-null values ${what} (rate ok ${fmt(rate)}, min ${minRate})${observedRange}`,
        {
          unexpected: m.failing,
          total: m.nonNull,
          ...(m.type === 'range' ? { details: { min: m.min, max: m.max } } : {}),
        },
      );
    }
    case 'freshness': {
      if (m.type !== e.type) throw mismatch(e, m);
      const column = e.column ?? 'event_time';
      if (m.newestMs === null || !Number.isFinite(m.newestMs)) return allNull(column);
      const newest = new Date(m.newestMs).toISOString();
      const age = (m.nowMs - m.newestMs) / 1000;
      return verdict(e, age <= e.maxAgeSeconds, age, th, `newest ${column} ${newest} is ${fmt(age)} s old (max ${e.maxAgeSeconds} s)`, {
        details: { newest },
      });
    }
    case 'referential_integrity': {
      if (m.type !== e.type) throw mismatch(e, m);
      if (m.nonNull === 0) return allNull(e.column);
      const rate = m.missing / m.nonNull;
      const target = `${e.references.schema ?? 'sluice_derived'}.${e.references.table}.${e.references.column}`;
      return verdict(
        e,
        rate <= (e.maxMissingRate ?? 0),
        rate,
        th,
        `${m.missing} of ${m.nonNull} values of ${e.column} not found in ${target}`,
        { unexpected: m.missing, total: m.nonNull },
      );
    }
    case 'custom_sql': {
      if (m.type !== e.type) throw mismatch(e, m);
      return verdict(e, m.failing <= (e.maxFailing ?? 0), m.failing, th, `${m.failing} of ${n} rows where ${e.failingRowsWhere}`, {
        unexpected: m.failing,
        total: n,
      });
    }
    case 'drift': {
      if (m.type !== e.type) throw mismatch(e, m);
      if (!(m.baselineTotal > 0))
        return errorResult(e, `baseline ${m.baseline} has no non-null ${e.column}: nothing to compare against`, th);
      if (!(m.currentTotal > 0)) return noData(e, th, `${e.column} has no non-null values`);
      const psi = populationStabilityIndex(m.bins);
      const observed = e.method === 'psi' ? psi : (m.ks ?? Number.NaN);
      if (!Number.isFinite(observed)) return noData(e, th, `${e.column} has no non-null values`);
      const details: Record<string, unknown> = { bins: m.bins, baseline: m.baseline, ...(e.method === 'ks' ? { psi } : {}) };
      return verdict(
        e,
        observed <= e.threshold,
        observed,
        th,
        `${e.method.toUpperCase()} ${fmt(observed)} vs ${m.baseline} (threshold ${e.threshold})`,
        { details },
      );
    }
    default: {
      const never: never = e;
      throw new Error(`unknown expectation ${JSON.stringify(never)}`);
    }
  }
}
