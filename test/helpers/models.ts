/** Models with known outputs and Arrow test files, for the evaluate and registry tests. */
import { Float32, Int32, Table, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import type { TabularData, TrainedModel } from '../../activities/train';

/**
 * A one-feature model whose output is known in closed form: binary → P(classes[1]) = sigmoid(x);
 * regression → 2x + 1. Standardisation is the identity (mean 0, std 1).
 */
export function knownModel(task: 'binary' | 'regression', classes: (string | number)[] = ['neg', 'pos']): TrainedModel {
  return {
    trainer: task === 'binary' ? 'logistic_regression' : 'ridge',
    task,
    features: [{ name: 'x', kind: 'numeric' }],
    label: 'y',
    ...(task === 'binary' ? { classes } : {}),
    preprocessing: { numeric: [{ name: 'x', mean: 0, std: 1 }], categorical: [], width: 1 },
    layers: [
      { inputs: 1, outputs: 1, weights: Float64Array.of(task === 'binary' ? 1 : 2), bias: Float64Array.of(task === 'binary' ? 0 : 1) },
    ],
  };
}

export const logit = (p: number): number => Math.log(p / (1 - p));

/** An Arrow IPC file of `data` plus a split column; numbers become float32 (labels: int32 when `intLabel`), the rest utf8. */
export function arrowTestFile(
  data: TabularData,
  split: (string | number)[],
  options: { splitColumn?: string; label?: string; intLabel?: boolean } = {},
): Uint8Array {
  const columns: Record<string, Vector> = {};
  for (const [name, values] of Object.entries(data.columns)) {
    const list = Array.from(values as ArrayLike<string | number | null>);
    const numeric = list.every((v) => v === null || typeof v === 'number');
    if (name === options.label && options.intLabel) columns[name] = vectorFromArray(list as (number | null)[], new Int32());
    else
      columns[name] = numeric
        ? vectorFromArray(list as (number | null)[], new Float32())
        : vectorFromArray(
            list.map((v) => (v === null ? null : String(v))),
            new Utf8(),
          );
  }
  const splitColumn = options.splitColumn ?? '__split';
  columns[splitColumn] = split.every((v) => typeof v === 'number')
    ? vectorFromArray(split as number[], new Int32())
    : vectorFromArray(split.map(String), new Utf8());
  return tableToIPC(new Table(columns), 'file');
}
