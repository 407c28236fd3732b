/**
 * Raw feature columns → the input tensors of a model exported by {@link exportModelToOnnx}: one
 * float32 matrix of the numeric features in the model's order, one string column per categorical
 * feature (missing → '', which the graph encodes as all zeros, as training does).
 */
import { Tensor } from 'onnxruntime-node';
import type { TabularData, TrainedModel } from '../train';
import { NUMERIC_INPUT } from './trainedModel';

export function onnxFeeds(model: TrainedModel, data: TabularData): Record<string, Tensor> {
  const n = data.rowCount;
  const feeds: Record<string, Tensor> = {};
  const numeric = model.preprocessing.numeric;
  const missing = (name: string): Error => new RangeError(`feature column "${name}" is not in the data to score`);
  if (numeric.length > 0) {
    const dn = numeric.length;
    const m = new Float32Array(n * dn);
    numeric.forEach((s, j) => {
      const col = data.columns[s.name];
      if (!col) throw missing(s.name);
      for (let i = 0; i < n; i++) m[i * dn + j] = col[i] as number;
    });
    feeds[NUMERIC_INPUT] = new Tensor('float32', m, [n, dn]);
  }
  for (const c of model.preprocessing.categorical) {
    const col = data.columns[c.name];
    if (!col) throw missing(c.name);
    const values = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const v = col[i];
      values[i] = v === null || v === undefined ? '' : String(v);
    }
    feeds[c.name] = new Tensor('string', values, [n, 1]);
  }
  return feeds;
}
