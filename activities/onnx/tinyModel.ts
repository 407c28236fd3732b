import { encodeModel, TensorElemType } from './proto';

/** `sum = a + b` over float32[2]: the smallest real graph, used to prove that ONNX Runtime works on a worker. */
export function buildAddModel(): Uint8Array {
  const t = (name: string) => ({ name, elemType: TensorElemType.FLOAT, dims: [2] });
  return encodeModel({
    name: 'sluice_probe_add',
    nodes: [{ opType: 'Add', inputs: ['a', 'b'], outputs: ['sum'] }],
    inputs: [t('a'), t('b')],
    outputs: [t('sum')],
  });
}
