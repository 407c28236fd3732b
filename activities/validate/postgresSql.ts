/**
 * The pieces the PostgreSQL engine's modules share: bound parameters, column references, and the
 * per-expectation plan of the combined scan.
 */
import { quoteIdent } from './dataset';
import type { Measurement } from './evaluators';
import type { PlannedExpectation } from './planner';
import type { ExpectationResult } from './results';

/** Collects bound parameters after the dataset's own. */
export class Params {
  readonly values: unknown[];
  constructor(initial: unknown[]) {
    this.values = [...initial];
  }
  bind(v: unknown, cast = ''): string {
    this.values.push(v);
    return `$${this.values.length}${cast}`;
  }
}

/** What the combined SELECT returned: the row count, and the aggregates by alias. */
export interface ScanRow {
  n: number;
  num(alias: string): number;
}

export interface SqlPlan {
  planned: PlannedExpectation;
  /** Decided before the scan: the planner's error, or a probe the database refused. */
  result?: ExpectationResult;
  /** Predicate selecting failing rows (for samples). */
  failWhere?: string;
  /** Its boolean column in the combined SELECT's inner projection. */
  flag?: string;
  /** Alias of the first failing row's position in the combined SELECT. */
  firstFailing?: string;
  measure: (scan: ScanRow) => Measurement | Promise<Measurement>;
}

export const num = (v: unknown): number => (v === null || v === undefined ? Number.NaN : Number(v));
export const col = (name: string): string => `d.${quoteIdent(name)}`;
