/**
 * Request rows → model inputs. A row is checked before anything reaches onnxruntime: against the
 * JSON Schema of the model's signature (ajv: every feature present, no other field, numbers where
 * numbers go), then numbers are checked to be finite in float32 (JSON has no NaN or Infinity, but
 * `1e999` parses to Infinity and an Arrow body can carry NaN). A refused row is named by its index
 * and field: never a NaN prediction. An Arrow body is checked column by column against the same
 * rules ({@link RowChecker.checkColumns}) and never becomes row objects.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import { DataType, tableFromIPC, type Table } from 'apache-arrow';
import { sha256Hex } from '../../contracts/canonical';
import type { TestRows } from '../evaluate/testSplit';
import { NumericRowsDecoder } from './fastJson';
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

/** Rows of a request as the checks, the digests and the tensors read them: object rows (JSON) or columns (Arrow). */
export interface RequestRows {
  readonly count: number;
  /** Feature `f` of row `r` as the client sent it (undefined when absent). */
  value(r: number, f: string): unknown;
  /** The numeric column of feature `f` when the body held one without nulls (the columnar fast path). */
  numericColumn?(f: string): Float32Array | Float64Array | undefined;
  /** Every value, row-major in the model's numeric feature order, when the model takes numbers only (the fast JSON decoder's output). */
  readonly numericRowMajor?: Float64Array;
}

/** Object rows (a JSON body, checked by {@link RowChecker.check}). */
export function objectRows(rows: readonly Record<string, unknown>[]): RequestRows {
  return { count: rows.length, value: (r, f) => (rows[r] as Record<string, unknown>)[f] };
}

/** Columns of an Arrow body, one per field, each a typed array (numbers without nulls) or a reader per cell. */
export interface ArrowColumns {
  count: number;
  fields: {
    name: string;
    type: DataType;
    nullCount: number;
    values: Float32Array | Float64Array | undefined;
    get: (i: number) => unknown;
  }[];
}

function cell(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/**
 * The columns of an Arrow IPC stream (or file) body. Nothing is turned into row objects: the
 * columns are checked against a model's signature once ({@link RowChecker.checkColumns}: names and
 * types per column, finiteness by a scan of each typed array) and the model's input tensor is
 * filled from them directly.
 */
export function arrowColumns(body: Buffer): { ok: true; columns: ArrowColumns } | { ok: false; issues: RowIssue[] } {
  let table: Table;
  try {
    table = tableFromIPC(body);
  } catch (err) {
    return { ok: false, issues: [{ row: -1, field: '', message: `the body is not an Arrow IPC stream: ${(err as Error).message}` }] };
  }
  const fields = table.schema.fields.map((f) => {
    const col = table.getChild(f.name);
    const nullCount = col?.nullCount ?? table.numRows;
    // A float column without nulls is read as one array (Arrow's per-cell get is slow).
    const values = col && nullCount === 0 && DataType.isFloat(col.type) ? (col.toArray() as Float32Array | Float64Array) : undefined;
    return { name: f.name, type: f.type as DataType, nullCount, values, get: (i: number): unknown => (col ? cell(col.get(i)) : null) };
  });
  return { ok: true, columns: { count: table.numRows, fields } };
}

/** Checks request rows against one model's signature and turns them into its input tensors' data. */
export class RowChecker {
  private readonly validate: ValidateFunction;
  /** `"<feature>":` in code-point order of the names, as canonical JSON orders keys. */
  private readonly canonicalKeys: [string, string][];
  private readonly numericIndex: Map<string, number>;
  /** The fast JSON path (activities/serve/fastJson.ts), for a model that takes numbers only. */
  private readonly decoder: NumericRowsDecoder | undefined;

  constructor(readonly signature: ModelSignature) {
    this.validate = ajv.compile(rowSchema(signature));
    this.decoder =
      signature.categoricalFeatures.length === 0 && signature.numericFeatures.length > 0
        ? new NumericRowsDecoder(signature.numericFeatures)
        : undefined;
    this.numericIndex = new Map(signature.numericFeatures.map((f, j) => [f, j]));
    this.canonicalKeys = [...signature.numericFeatures, ...signature.categoricalFeatures].sort().map((f) => [f, `${JSON.stringify(f)}:`]);
  }

  /**
   * sha256 (hex) of a checked row's canonical JSON (keys sorted, no whitespace): the same text as
   * contracts/canonical.ts canonicalJson gives, written directly because a checked row holds
   * exactly the model's features, each a number, a string or null.
   */
  digest(rows: RequestRows, r: number): string {
    return sha256Hex(this.canonicalText(rows, r));
  }

  /** The canonical JSON text of row `r` (what {@link digest} hashes). */
  canonicalText(rows: RequestRows, r: number): string {
    let text = '{';
    for (let i = 0; i < this.canonicalKeys.length; i++) {
      const [f, key] = this.canonicalKeys[i] as [string, string];
      text += `${i === 0 ? '' : ','}${key}${JSON.stringify(rows.value(r, f) ?? null)}`;
    }
    return `${text}}`;
  }

  /**
   * The rows of a JSON body decoded straight into numbers, already checked, when the model takes
   * numbers only and the body is plainly valid (activities/serve/fastJson.ts); `undefined` sends the
   * body down the general path ({@link jsonRows}, {@link check}), which also names what is wrong.
   */
  fastJson(body: Buffer, maxRows: number): RequestRows | undefined {
    if (!this.decoder) return undefined;
    const decoded = this.decoder.decode(body, maxRows);
    if (!decoded) return undefined;
    const d = this.signature.numericFeatures.length;
    const at = this.numericIndex;
    const values = decoded.values;
    return {
      count: decoded.count,
      value: (r, f) => {
        const j = at.get(f);
        return j === undefined ? undefined : values[r * d + j];
      },
      numericRowMajor: values,
    };
  }

  /**
   * Checks the columns of an Arrow body once per column instead of once per cell: every feature
   * present and no other column, a numeric (float or integer) column for a numeric feature, text
   * for a categorical one, then a scan of each numeric column for nulls, NaN, ±Infinity and values
   * out of float32's range. The issues name the row and the field like {@link check}'s.
   */
  checkColumns(columns: ArrowColumns): { issues: RowIssue[]; rows: RequestRows } {
    const issues: RowIssue[] = [];
    const { numericFeatures, categoricalFeatures } = this.signature;
    const byName = new Map(columns.fields.map((f) => [f.name, f]));
    const n = columns.count;
    if (n > 0) {
      for (const f of [...numericFeatures, ...categoricalFeatures])
        if (!byName.has(f)) issues.push({ row: 0, field: f, message: 'the feature is missing' });
      const known = new Set([...numericFeatures, ...categoricalFeatures]);
      for (const c of columns.fields)
        if (!known.has(c.name)) issues.push({ row: 0, field: c.name, message: 'the model has no such feature' });
      for (const f of numericFeatures) {
        const c = byName.get(f);
        if (!c) continue;
        if (!DataType.isFloat(c.type) && !DataType.isInt(c.type)) {
          issues.push({ row: 0, field: f, message: 'must be number' });
          continue;
        }
        const values = c.values;
        for (let i = 0; i < n && issues.length < MAX_ROW_ISSUES; i++) {
          const v = values ? (values[i] as number) : c.get(i);
          if (typeof v !== 'number') issues.push({ row: i, field: f, message: 'must be number' });
          else if (!Number.isFinite(v)) issues.push({ row: i, field: f, message: `${String(v)} is not a number a model can score` });
          else if (!Number.isFinite(Math.fround(v)))
            issues.push({ row: i, field: f, message: `${v} is out of the range of a 32-bit float, which the model takes` });
        }
      }
      for (const f of categoricalFeatures) {
        const c = byName.get(f);
        if (!c || DataType.isUtf8(c.type) || DataType.isNull(c.type)) continue;
        let first = 0;
        while (first < n - 1 && c.get(first) === null) first++;
        issues.push({ row: first, field: f, message: 'must be string,null' });
      }
    }
    issues.sort((a, b) => a.row - b.row);
    issues.length = Math.min(issues.length, MAX_ROW_ISSUES);
    const fields = new Map(columns.fields.map((c) => [c.name, c]));
    return {
      issues,
      rows: {
        count: n,
        value: (r, f) => {
          const c = fields.get(f);
          if (!c) return undefined;
          return c.values ? c.values[r] : c.get(r);
        },
        numericColumn: (f) => fields.get(f)?.values,
      },
    };
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
  inputs(rows: RequestRows): TestRows {
    const n = rows.count;
    const { numericFeatures, categoricalFeatures } = this.signature;
    const d = numericFeatures.length;
    const rowMajor = rows.numericRowMajor;
    const numeric = rowMajor ? new Float32Array(rowMajor) : new Float32Array(n * d);
    for (let j = 0; j < d && !rowMajor; j++) {
      const f = numericFeatures[j] as string;
      const column = rows.numericColumn?.(f);
      if (column) for (let r = 0; r < n; r++) numeric[r * d + j] = column[r] as number;
      else for (let r = 0; r < n; r++) numeric[r * d + j] = rows.value(r, f) as number;
    }
    const categorical = new Map<string, string[]>();
    for (const f of categoricalFeatures) {
      const col = new Array<string>(n);
      for (let r = 0; r < n; r++) {
        const v = rows.value(r, f);
        col[r] = typeof v === 'string' ? v : '';
      }
      categorical.set(f, col);
    }
    return { rows: n, numeric, categorical, fileRows: n };
  }
}
