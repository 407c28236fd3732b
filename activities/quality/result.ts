/** The verdict of one expectation, shared by the PostgreSQL and the Arrow engine and the report. */
import type { ExpectationType, Severity } from '../../contracts/expectations';

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
  threshold: Record<string, number | null>;
  /** Rows that broke the expectation, out of `total` rows it looked at. */
  unexpected?: number;
  total?: number;
  details?: Record<string, unknown>;
  /** At most `sampleSize` failing rows (PII fields masked). */
  sample: Record<string, unknown>[];
  message: string;
}
