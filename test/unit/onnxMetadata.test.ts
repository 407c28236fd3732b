// Stamping sluice's metadata on a model written elsewhere (a command trainer's): sluice.* entries
// are replaced, everything else is kept, and ONNX Runtime still loads the file.
import { InferenceSession } from 'onnxruntime-node';
import { encodeModel, TensorElemType } from '../../activities/onnx/proto';
import { OnnxFormatError, readOnnxMetadata, withSluiceMetadata } from '../../activities/onnx';

describe('withSluiceMetadata', () => {
  const t = (name: string) => ({ name, elemType: TensorElemType.FLOAT, dims: [2] });
  const model = encodeModel({
    name: 'g',
    nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
    inputs: [t('x')],
    outputs: [t('y')],
    metadata: [
      ['author', 'torch'],
      ['sluice.task', 'regression'],
      ['sluice.classes', '["spoofed"]'],
    ],
  });

  it('replaces every sluice.* entry, keeps the others, and the model still loads', async () => {
    const stamped = withSluiceMetadata(model, [
      ['sluice.task', 'binary'],
      ['sluice.label', 'churned'],
    ]);
    expect([...readOnnxMetadata(stamped)]).toEqual([
      ['author', 'torch'],
      ['sluice.task', 'binary'],
      ['sluice.label', 'churned'],
    ]);
    const session = await InferenceSession.create(stamped);
    expect(session.inputNames).toEqual(['x']);
    await session.release();
    expect(
      withSluiceMetadata(stamped, [
        ['sluice.task', 'binary'],
        ['sluice.label', 'churned'],
      ]),
    ).toEqual(stamped);
  });

  it('refuses bytes that are not a protobuf message', () => {
    expect(() => withSluiceMetadata(new Uint8Array([0x0a, 0xff]), [])).toThrow(OnnxFormatError);
  });
});
