/**
 * Request rows → model inputs. A row is checked before anything reaches onnxruntime: against the
 * JSON Schema of the model's signature (ajv: every feature present, no other field, numbers where
 * numbers go), then numbers are checked to be finite in float32 (JSON has no NaN or Infinity, but
 * `1e999` parses to Infinity and an Arrow body can carry NaN). A refused row is named by its index
 * and field: never a NaN prediction.
 */
import { createHash } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import { DataType, tableFromIPC, type Table } from 'apache-arrow';
import type { TestRows } from '../evaluate/testSplit';
import { rowSchema, type ModelSignature } from '../onnx/signature';

/** One refused row: its index in the request, the field, and why. */
export interface RowIssue {
  row: number;
  /** The feature ('' when the row itself is wrong, e.g. not an object). */
  field: string;
  message: string;
}

export type RowsResult = { ok: true; rows: Record<string, unknown>[] } | { ok: false; issues: RowIssue[] };

/** Most issues reported for one request: enough to fix a client, bounded for a large bad request. */
export const MAX_ROW_ISSUES = 20;

const ajv = new Ajv({ allErrors: true, strict: true });

/** The rows of a JSON body `{"rows": [{...}, ...]}`; `issues` when the body is not that shape. */
export function jsonRows(body: Buffer): RowsResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, issues: [{ row: -1, field: '', message: `the body is not JSON: ${(err as Error).message}` }] };
  }
  const rows = (parsed as { rows?: unknown } | null)?.rows;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray(rows))
    return {
      ok: false,
      issues: [{ row: -1, field: '', message: 'the body must be a JSON object {"rows": [{<feature>: <value>, ...}, ...]}' }],
    };
  return { ok: true, rows: rows as Record<string, unknown>[] };
}

function cell(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/**
 * The rows of an Arrow IPC stream (or file) body, one object per table row with a field per
 * column; NaN and ±Infinity are refused here, naming the row and the column, as JSON cannot hold
 * them. Column types are left for the row check (a text column for a numeric feature is a type error).
 */
export function arrowRows(body: Buffer): RowsResult {
  let table: Table;
  try {
    table = tableFromIPC(body);
  } catch (err) {
    return { ok: false, issues: [{ row: -1, field: '', message: `the body is not an Arrow IPC stream: ${(err as Error).message}` }] };
  }
  const names = table.schema.fields.map((f) => f.name);
  // A column without nulls is read as one array (Arrow's per-cell get is slow); others cell by cell.
  const columns = names.map((n) => {
    const col = table.getChild(n);
    if (!col) return (): unknown => undefined;
    if (col.nullCount === 0 && DataType.isFloat(col.type)) {
      const values = col.toArray() as Float32Array | Float64Array;
      return (i: number): unknown => values[i];
    }
    return (i: number): unknown => cell(col.get(i));
  });
  const rows: Record<string, unknown>[] = new Array(table.numRows);
  const issues: RowIssue[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (let j = 0; j < names.length; j++) {
      const v = (columns[j] as (i: number) => unknown)(i);
      if (typeof v === 'number' && !Number.isFinite(v) && issues.length < MAX_ROW_ISSUES)
        issues.push({ row: i, field: names[j] ?? '', message: `${String(v)} is not a number a model can score` });
      row[names[j] ?? ''] = v;
    }
    rows[i] = row;
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, rows };
}

/** Checks request rows against one model's signature and turns them into its input tensors' data. */
export class RowChecker {
  private readonly validate: ValidateFunction;
  /** `"<feature>":` in code-point order of the names, as canonical JSON orders keys. */
  private readonly canonicalKeys: [string, string][];

  constructor(readonly signature: ModelSignature) {
    this.validate = ajv.compile(rowSchema(signature));
    this.canonicalKeys = [...signature.numericFeatures, ...signature.categoricalFeatures].sort().map((f) => [f, `${JSON.stringify(f)}:`]);
  }

  /**
   * sha256 (hex) of a checked row's canonical JSON (keys sorted, no whitespace): the same text as
   * contracts/canonical.ts canonicalJson gives, written directly because a checked row holds
   * exactly the model's features, each a number, a string or null.
   */
  digest(row: Record<string, unknown>): string {
    let text = '{';
    for (let i = 0; i < this.canonicalKeys.length; i++) {
      const [f, key] = this.canonicalKeys[i] as [string, string];
      text += `${i === 0 ? '' : ','}${key}${JSON.stringify(row[f] ?? null)}`;
    }
    return createHash('sha256').update(`${text}}`).digest('hex');
  }

  /** Issues of the rows (at most {@link MAX_ROW_ISSUES}); empty when every row can be scored. */
  check(rows: readonly unknown[]): RowIssue[] {
    const issues: RowIssue[] = [];
    const numeric = this.signature.numericFeatures;
    for (let i = 0; i < rows.length && issues.length < MAX_ROW_ISSUES; i++) {
      const row = rows[i];
      if (!this.validate(row)) {
        for (const e of this.validate.errors ?? []) {
          if (issues.length >= MAX_ROW_ISSUES) break;
          const missing = (e.params as { missingProperty?: string }).missingProperty;
          const extra = (e.params as { additionalProperty?: string }).additionalProperty;
          const field = missing ?? extra ?? e.instancePath.replace(/^\//, '').replace(/~1/g, '/').replace(/~0/g, '~');
          const message =
            missing !== undefined
              ? 'the feature is missing'
              : extra !== undefined
                ? 'the model has no such feature'
                : (e.message ?? e.keyword);
          issues.push({ row: i, field, message });
        }
        continue;
      }
      for (const f of numeric) {
        const v = (row as Record<string, number>)[f] as number;
        if (!Number.isFinite(Math.fround(v))) {
          issues.push({ row: i, field: f, message: `${v} is out of the range of a 32-bit float, which the model takes` });
          if (issues.length >= MAX_ROW_ISSUES) break;
        }
      }
    }
    return issues;
  }

  /** Checked rows as the data {@link feedsFor} builds tensors from (numeric row-major float32, categorical '' = missing). */
  inputs(rows: readonly Record<string, unknown>[]): TestRows {
    const n = rows.length;
    const { numericFeatures, categoricalFeatures } = this.signature;
    const d = numericFeatures.length;
    const numeric = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      const row = rows[r] as Record<string, number>;
      for (let j = 0; j < d; j++) numeric[r * d + j] = row[numericFeatures[j] as string] as number;
    }
    const categorical = new Map<string, string[]>();
    for (const f of categoricalFeatures) {
      const col = new Array<string>(n);
      for (let r = 0; r < n; r++) {
        const v = (rows[r] as Record<string, unknown>)[f];
        col[r] = typeof v === 'string' ? v : '';
      }
      categorical.set(f, col);
    }
    return { rows: n, numeric, categorical, fileRows: n };
  }
}
