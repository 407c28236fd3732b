/**
 * The expectation suite of a contract: data-quality checks, one object per check, discriminated by
 * `type`. The precise format is `$defs/expectation` in contract.schema.json; these types mirror it.
 * Pure (no I/O): imported by workflows' types, the contract registry and the validate activities.
 */

export type Severity = 'warn' | 'error';

interface Base {
  /** Unique in the suite; default `<type>:<columns>`. */
  name?: string;
  /** `error` (default) blocks downstream steps; `warn` is recorded and the run continues. */
  severity?: Severity;
  description?: string;
}

export interface RowCountExpectation extends Base {
  type: 'row_count';
  min?: number;
  max?: number;
}
export interface NotNullExpectation extends Base {
  type: 'not_null';
  column: string;
  maxNullRate?: number;
}
export interface UniqueExpectation extends Base {
  type: 'unique';
  columns: string[];
}
export interface AcceptedValuesExpectation extends Base {
  type: 'accepted_values';
  column: string;
  values: (string | number | boolean)[];
  minRate?: number;
}
export interface RangeExpectation extends Base {
  type: 'range';
  column: string;
  min?: number;
  max?: number;
  minRate?: number;
}
export interface RegexExpectation extends Base {
  type: 'regex';
  column: string;
  pattern: string;
  minRate?: number;
}
export interface FormatExpectation extends Base {
  type: 'format';
  column: string;
  format: 'email' | 'uuid' | 'date-time' | 'date' | 'ipv4' | 'uri';
  minRate?: number;
}
export interface FreshnessExpectation extends Base {
  type: 'freshness';
  column?: string;
  maxAgeSeconds: number;
}
export interface ReferentialIntegrityExpectation extends Base {
  type: 'referential_integrity';
  column: string;
  references: { schema?: string; table: string; column: string };
  maxMissingRate?: number;
}
export interface CustomSqlExpectation extends Base {
  type: 'custom_sql';
  failingRowsWhere: string;
  maxFailing?: number;
}
export interface DriftExpectation extends Base {
  type: 'drift';
  column: string;
  kind: 'categorical' | 'numeric';
  method: 'psi' | 'ks';
  threshold: number;
  bins?: number;
}

export type Expectation =
  | RowCountExpectation
  | NotNullExpectation
  | UniqueExpectation
  | AcceptedValuesExpectation
  | RangeExpectation
  | RegexExpectation
  | FormatExpectation
  | FreshnessExpectation
  | ReferentialIntegrityExpectation
  | CustomSqlExpectation
  | DriftExpectation;

export type ExpectationType = Expectation['type'];

/** The fields an expectation reads, with the JSON pointer of each inside the expectation. */
export function expectationColumns(e: Expectation): { path: string; column: string }[] {
  switch (e.type) {
    case 'row_count':
    case 'custom_sql':
      return [];
    case 'unique':
      return e.columns.map((column, i) => ({ path: `/columns/${i}`, column }));
    case 'freshness':
      return [{ path: '/column', column: e.column ?? 'event_time' }];
    case 'not_null':
    case 'accepted_values':
    case 'range':
    case 'regex':
    case 'format':
    case 'referential_integrity':
    case 'drift':
      return [{ path: '/column', column: e.column }];
    default: {
      const never: never = e;
      throw new Error(`unknown expectation ${JSON.stringify(never)}`);
    }
  }
}

/** The name results and failures use: the given name, or `<type>:<columns>`. */
export function expectationName(e: Expectation): string {
  if (e.name) return e.name;
  const cols = expectationColumns(e).map((c) => c.column);
  return cols.length ? `${e.type}:${cols.join('+')}` : e.type;
}

export function expectationSeverity(e: Expectation): Severity {
  return e.severity ?? 'error';
}
