/**
 * ONNX export of sluice's built-in models (activities/train), preprocessing included, so that a
 * scorer feeds raw feature values. Opset 19 (IR version 9): the first opset whose Equal accepts
 * strings, which the one-hot encoding below needs; onnxruntime-node 1.30's CPU provider runs it.
 *
 * Inputs
 *   numeric        float32 [N, numeric features], columns in the order of the metadata entry
 *                  "sluice.numeric_features" (the spec's order); absent when there are none
 *   <feature name> string [N, 1], one per categorical feature; '' means missing
 * Graph
 *   numeric → Sub(mean) → Div(std)                           (standardisation, training split's)
 *   each categorical → Equal(vocabulary [1, V]) → Cast(float) (one-hot; unknown/missing → zeros)
 *   Concat(axis 1) → Gemm(transB) → [Relu → Gemm]… → output activation
 * Outputs
 *   classification: probabilities float32 [N, classes] (binary: Sigmoid, then [1 − p, p];
 *                   multiclass: Softmax) and label int64 [N], the class index (ArgMax, first on a tie),
 *                   whose labels are in metadata "sluice.classes"
 *   regression:     label float32 [N]
 * The bytes depend only on the model: the same model gives the same file.
 */
import type { TrainedModel } from '../train';
import { encodeModel, TensorElemType, type InitializerSpec, type NodeSpec, type TensorSpec } from './proto';

export const ONNX_EXPORT_OPSET = 19;
export const NUMERIC_INPUT = 'numeric';
const RESERVED = new Set([NUMERIC_INPUT, 'label', 'probabilities']);

export function exportModelToOnnx(model: TrainedModel): Uint8Array {
  const prep = model.preprocessing;
  const nodes: NodeSpec[] = [];
  const initializers: InitializerSpec[] = [];
  const inputs: TensorSpec[] = [];
  const parts: string[] = [];
  if (prep.numeric.length > 0) {
    const dn = prep.numeric.length;
    inputs.push({ name: NUMERIC_INPUT, elemType: TensorElemType.FLOAT, dims: ['N', dn] });
    initializers.push(
      { name: 'sluice/mean', dims: [dn], floats: Float32Array.from(prep.numeric, (s) => s.mean) },
      { name: 'sluice/std', dims: [dn], floats: Float32Array.from(prep.numeric, (s) => s.std) },
    );
    nodes.push(
      { opType: 'Sub', inputs: [NUMERIC_INPUT, 'sluice/mean'], outputs: ['sluice/centered'], name: 'standardise/sub' },
      { opType: 'Div', inputs: ['sluice/centered', 'sluice/std'], outputs: ['sluice/standardised'], name: 'standardise/div' },
    );
    parts.push('sluice/standardised');
  }
  prep.categorical.forEach((c, i) => {
    if (RESERVED.has(c.name) || c.name.startsWith('sluice/')) {
      throw new RangeError(
        `categorical feature "${c.name}" cannot be an ONNX input name (reserved: ${[...RESERVED].join(', ')}, sluice/…); rename the column`,
      );
    }
    inputs.push({ name: c.name, elemType: TensorElemType.STRING, dims: ['N', 1] });
    initializers.push({ name: `sluice/vocabulary/${i}`, dims: [1, c.vocabulary.length], strings: c.vocabulary });
    nodes.push(
      { opType: 'Equal', inputs: [c.name, `sluice/vocabulary/${i}`], outputs: [`sluice/is_category/${i}`], name: `one_hot/${i}/equal` },
      {
        opType: 'Cast',
        inputs: [`sluice/is_category/${i}`],
        outputs: [`sluice/one_hot/${i}`],
        name: `one_hot/${i}/cast`,
        attributes: [{ name: 'to', int: TensorElemType.FLOAT }],
      },
    );
    parts.push(`sluice/one_hot/${i}`);
  });
  let features = parts[0] as string;
  if (parts.length > 1) {
    features = 'sluice/features';
    nodes.push({ opType: 'Concat', inputs: parts, outputs: [features], name: 'features', attributes: [{ name: 'axis', int: 1 }] });
  }
  let current = features;
  model.layers.forEach((layer, l) => {
    const z = `sluice/layer${l}/z`;
    initializers.push(
      { name: `sluice/layer${l}/weights`, dims: [layer.outputs, layer.inputs], floats: Float32Array.from(layer.weights) },
      { name: `sluice/layer${l}/bias`, dims: [layer.outputs], floats: Float32Array.from(layer.bias) },
    );
    nodes.push({
      opType: 'Gemm',
      inputs: [current, `sluice/layer${l}/weights`, `sluice/layer${l}/bias`],
      outputs: [z],
      name: `layer${l}/gemm`,
      attributes: [{ name: 'transB', int: 1 }],
    });
    current = z;
    if (l < model.layers.length - 1) {
      nodes.push({ opType: 'Relu', inputs: [z], outputs: [`sluice/layer${l}/relu`], name: `layer${l}/relu` });
      current = `sluice/layer${l}/relu`;
    }
  });
  const outputs: TensorSpec[] = [];
  const classCount = model.classes?.length ?? 0;
  switch (model.task) {
    case 'binary':
      initializers.push({ name: 'sluice/one', dims: [1], floats: Float32Array.of(1) });
      nodes.push(
        { opType: 'Sigmoid', inputs: [current], outputs: ['sluice/p1'], name: 'output/sigmoid' },
        { opType: 'Sub', inputs: ['sluice/one', 'sluice/p1'], outputs: ['sluice/p0'], name: 'output/complement' },
        {
          opType: 'Concat',
          inputs: ['sluice/p0', 'sluice/p1'],
          outputs: ['probabilities'],
          name: 'output/probabilities',
          attributes: [{ name: 'axis', int: 1 }],
        },
      );
      break;
    case 'multiclass':
      nodes.push({
        opType: 'Softmax',
        inputs: [current],
        outputs: ['probabilities'],
        name: 'output/softmax',
        attributes: [{ name: 'axis', int: 1 }],
      });
      break;
    case 'regression':
      initializers.push({ name: 'sluice/flat', dims: [1], int64s: BigInt64Array.of(-1n) });
      nodes.push({ opType: 'Reshape', inputs: [current, 'sluice/flat'], outputs: ['label'], name: 'output/flatten' });
      outputs.push({ name: 'label', elemType: TensorElemType.FLOAT, dims: ['N'] });
      break;
    default: {
      const never: never = model.task;
      throw new RangeError(`unknown task ${String(never)}`);
    }
  }
  if (model.task !== 'regression') {
    nodes.push({
      opType: 'ArgMax',
      inputs: ['probabilities'],
      outputs: ['label'],
      name: 'output/label',
      attributes: [
        { name: 'axis', int: 1 },
        { name: 'keepdims', int: 0 },
      ],
    });
    outputs.push(
      { name: 'label', elemType: TensorElemType.INT64, dims: ['N'] },
      { name: 'probabilities', elemType: TensorElemType.FLOAT, dims: ['N', classCount] },
    );
  }
  const metadata: [string, string][] = [
    ['sluice.model_format', '1'],
    ['sluice.trainer', model.trainer],
    ['sluice.task', model.task],
    ['sluice.label', model.label],
    ['sluice.numeric_features', JSON.stringify(prep.numeric.map((s) => s.name))],
    ['sluice.categorical_features', JSON.stringify(prep.categorical.map((c) => c.name))],
  ];
  if (model.classes) metadata.push(['sluice.classes', JSON.stringify(model.classes)]);
  return encodeModel({
    name: `sluice_${model.trainer}`,
    opset: ONNX_EXPORT_OPSET,
    irVersion: 9,
    producer: 'sluice',
    docString: `sluice ${model.trainer} (${model.task}); inputs: raw feature values, preprocessing included`,
    nodes,
    inputs,
    outputs,
    initializers,
    metadata,
  });
}
