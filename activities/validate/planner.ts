/**
 * The plan of a suite run, shared by both engines: which expectations can run on this dataset
 * (and which are an `error` result before any data is read, with the reason), which columns a
 * failing row's sample shows, and which columns get a profile. Everything here is decided from the
 * contract and the dataset's columns alone; what needs the data (or the database) is the engines'.
 */
import { expectationColumns, type Expectation } from '../../contracts/expectations';
import { DATASET_SCHEMAS, type ColumnKind } from './dataset';
import { thresholdOf } from './evaluators';
import { errorResult, type ExpectationResult } from './results';

export type Engine = 'postgres' | 'arrow';

/** The shape of a dataset: its columns in order, with their kinds. */
export interface DatasetShape {
  columns: Map<string, ColumnKind>;
  describe: string;
}

export interface PlannedExpectation {
  e: Expectation;
  /** Decided before the data is read: the expectation cannot run here. */
  error?: ExpectationResult;
  /** Columns a sample of its failing rows shows. */
  sampleColumns: string[];
}

export interface SuitePlan {
  expectations: PlannedExpectation[];
  /** Columns profiled for the report (empty when profiles are off). */
  profileColumns: string[];
}

/** Leading columns shown next to a failing value in samples. */
const SAMPLE_CONTEXT_COLUMNS = 3;
/** A custom predicate may read any column: its sample shows this many of the row's. */
const CUSTOM_SAMPLE_COLUMNS = 12;
const PROFILE_COLUMNS = 12;
export const HISTOGRAM_BINS = 20;
export const TOP_VALUES = 10;

/** What the Arrow engine does not run, and why (never a pass: an `error` result naming the reason). */
const ARROW_UNSUPPORTED: Partial<Record<Expectation['type'], string>> = {
  regex:
    'regex expectations run in PostgreSQL only (JS regexes can backtrack exponentially): validate the table or log range this snapshot was built from',
  custom_sql: 'custom_sql needs PostgreSQL: validate the table or log range this snapshot was built from',
  referential_integrity: 'referential_integrity needs PostgreSQL: validate the table or log range this snapshot was built from',
};

export function planSuite(
  expectations: Expectation[],
  dataset: DatasetShape,
  opts: { engine: Engine; baseline?: DatasetShape; profile?: boolean },
): SuitePlan {
  const names = [...dataset.columns.keys()];
  // Which row a sample is: the log position and event id, or a table's first columns.
  const log = ['seq', 'event_id'].filter((c) => dataset.columns.has(c));
  const context = log.length === 2 ? log : names.slice(0, SAMPLE_CONTEXT_COLUMNS);
  const planned = expectations.map((e): PlannedExpectation => {
    const own =
      e.type === 'custom_sql'
        ? names.slice(0, CUSTOM_SAMPLE_COLUMNS)
        : expectationColumns(e)
            .map((c) => c.column)
            .filter((c) => dataset.columns.has(c));
    const error = precheck(e, dataset, opts.engine, opts.baseline);
    return { e, sampleColumns: [...new Set([...context, ...own])], ...(error ? { error: errorResult(e, error, thresholdOf(e)) } : {}) };
  });
  const profileColumns =
    opts.profile === false
      ? []
      : [...new Set(expectations.flatMap((e) => expectationColumns(e).map((c) => c.column)))]
          .filter((c) => dataset.columns.has(c))
          .slice(0, PROFILE_COLUMNS);
  return { expectations: planned, profileColumns };
}

/** Why `e` cannot run on this dataset in this engine, or undefined when it can. */
function precheck(e: Expectation, dataset: DatasetShape, engine: Engine, baseline: DatasetShape | undefined): string | undefined {
  const missing = expectationColumns(e)
    .map((c) => c.column)
    .filter((c) => !dataset.columns.has(c));
  if (missing.length)
    return `column(s) ${missing.join(', ')} not in ${dataset.describe} (columns: ${[...dataset.columns.keys()].join(', ')})`;
  const unsupported = engine === 'arrow' ? ARROW_UNSUPPORTED[e.type] : undefined;
  if (unsupported) return unsupported;
  const kindOf = (c: string): ColumnKind => dataset.columns.get(c) ?? 'other';
  switch (e.type) {
    case 'row_count':
    case 'not_null':
    case 'unique':
    case 'regex':
    case 'format':
      return undefined;
    case 'accepted_values': {
      const k = kindOf(e.column);
      const mismatch =
        (k === 'numeric' && e.values.some((v) => typeof v !== 'number')) ||
        (k === 'boolean' && e.values.some((v) => typeof v !== 'boolean'));
      return mismatch ? `column ${e.column} is ${k}, but the accepted values are ${JSON.stringify(e.values)}` : undefined;
    }
    case 'range':
      return kindOf(e.column) === 'numeric' ? undefined : `range needs a numeric column; ${e.column} is ${kindOf(e.column)}`;
    case 'freshness': {
      const c = e.column ?? 'event_time';
      return kindOf(c) === 'time' ? undefined : `freshness needs a timestamp column; ${c} is ${kindOf(c)}`;
    }
    case 'custom_sql':
      // Trusted (reviewed with the contract) but still fenced: one expression, no statement
      // separator, no parameter references, and it runs in a READ ONLY transaction.
      return /;|\$\d/.test(e.failingRowsWhere) ? 'failingRowsWhere must be one SQL expression: no ";" and no $n parameters' : undefined;
    case 'referential_integrity': {
      const schema = e.references.schema ?? 'sluice_derived';
      return (DATASET_SCHEMAS as readonly string[]).includes(schema)
        ? undefined
        : `referenced schema ${schema} is not one of ${DATASET_SCHEMAS.join(', ')}`;
    }
    case 'drift': {
      if (!baseline) return 'no baseline dataset: pass `baseline` to the validate run to compare the distribution against';
      if (!baseline.columns.has(e.column)) return `baseline ${baseline.describe} has no column ${e.column}`;
      const here = kindOf(e.column);
      const there = baseline.columns.get(e.column);
      if (e.kind === 'numeric' && (here !== 'numeric' || there !== 'numeric'))
        return `numeric drift needs numeric columns; ${e.column} is ${here} here and ${there} in the baseline`;
      if (e.method === 'ks' && e.kind !== 'numeric') return 'the KS statistic needs kind "numeric"';
      return undefined;
    }
    default: {
      const never: never = e;
      throw new Error(`unknown expectation ${JSON.stringify(never)}`);
    }
  }
}

/** Failing rows kept per failed expectation: 5 unless asked, at most 100. */
export const sampleSizeOf = (input: { sampleSize?: number }): number => Math.min(100, Math.max(0, input.sampleSize ?? 5));
