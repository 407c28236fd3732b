/**
 * The answer of a predict request as an Arrow IPC stream, for a client that asks for one with
 * `Accept: application/vnd.apache.arrow.stream` (a columnar client: pyarrow, pandas, polars). The
 * same content as the JSON answer, one row per request row:
 *  - classification: `label` (Utf8, or Float64 when every class is a number) and `probabilities`,
 *    a struct with one Float32 field per class (`table.flatten()` gives `probabilities.<class>`);
 *  - regression: `value` (Float32).
 * The schema's metadata holds what the JSON answer says beside the predictions: `requestId`,
 * `endpoint`, `model.name`, `model.version`, `model.sha256`. Errors are always JSON.
 *
 * Building columns from the scores costs a fraction of writing 1,000 predictions as JSON text.
 */
import { Field, Float32, makeData, makeVector, Schema, Struct, Table, tableToIPC, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import type { ModelClassLabel } from '../../api/models';
import type { ModelRef, RowOutputs } from './model';

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

/**
 * Whether an Accept header prefers an Arrow stream to JSON: it names `application/vnd.apache.arrow.stream`
 * with a quality above 0 and above that of `application/json` (or of `*\/*`, `application/*`), the
 * earlier one winning a tie. No Accept header, or one without it: JSON.
 */
export function wantsArrow(accept: string | undefined): boolean {
  if (!accept) return false;
  let arrow = -1;
  let json = -1;
  let arrowAt = Infinity;
  let jsonAt = Infinity;
  accept.split(',').forEach((range, at) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) return;
    if (type === ARROW_STREAM && q > arrow) [arrow, arrowAt] = [q, at];
    if ((type === 'application/json' || type === '*/*' || type === 'application/*') && q > json) [json, jsonAt] = [q, at];
  });
  return arrow > 0 && (arrow > json || (arrow === json && arrowAt < jsonAt));
}

/** The Arrow IPC stream of a predict answer (see the module comment). */
export function arrowAnswer(o: {
  requestId: string;
  endpoint: string;
  model: ModelRef;
  classes: readonly ModelClassLabel[];
  outputs: readonly RowOutputs[];
}): Uint8Array {
  const n = o.outputs.length;
  const columns: Record<string, Vector> = {};
  if (o.classes.length === 0) {
    const value = new Float32Array(n);
    for (let r = 0; r < n; r++) value[r] = (o.outputs[r] as { value: number }).value;
    columns.value = makeVector(value);
  } else {
    const rows = o.outputs as readonly { label: ModelClassLabel; probabilities: Record<string, number> }[];
    const keys = o.classes.map(String);
    const numeric = o.classes.every((c) => typeof c === 'number');
    columns.label = numeric
      ? makeVector(Float64Array.from(rows, (p) => p.label as number))
      : vectorFromArray(
          rows.map((p) => String(p.label)),
          new Utf8(),
        );
    const children = keys.map((k) => {
      const p = new Float32Array(n);
      for (let r = 0; r < n; r++) p[r] = (rows[r] as { probabilities: Record<string, number> }).probabilities[k] as number;
      return makeData({ type: new Float32(), data: p });
    });
    const type = new Struct(keys.map((k) => new Field(k, new Float32(), false)));
    columns.probabilities = makeVector(makeData({ type, length: n, nullCount: 0, children }));
  }
  const table = new Table(columns);
  const metadata = new Map([
    ['requestId', o.requestId],
    ['endpoint', o.endpoint],
    ['model.name', o.model.name],
    ['model.version', String(o.model.version)],
    ['model.sha256', o.model.sha256],
  ]);
  return tableToIPC(new Table(new Schema(table.schema.fields, metadata), table.batches), 'stream');
}
