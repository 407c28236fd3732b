// A model's signature read back from the ONNX file sluice exports, the JSON Schema of one request
// row (checked with ajv in strict mode, as the scoring service does), and the mismatch the deploy
// gate refuses.
import Ajv from 'ajv';
import {
  buildAddModel,
  exportModelToOnnx,
  ModelSignatureError,
  readModelSignature,
  rowSchema,
  signatureMismatch,
} from '../../activities/onnx';
import type { TrainedModel } from '../../activities/train';
import { knownModel } from '../helpers/models';

/** x numeric, color categorical (vocabulary red/blue): the encoded width is 1 + 2. */
function mixedModel(classes: (string | number)[] = ['neg', 'pos']): TrainedModel {
  return {
    ...knownModel('binary', classes),
    features: [
      { name: 'x', kind: 'numeric' },
      { name: 'color', kind: 'categorical' },
    ],
    preprocessing: { numeric: [{ name: 'x', mean: 0, std: 1 }], categorical: [{ name: 'color', vocabulary: ['red', 'blue'] }], width: 3 },
    layers: [{ inputs: 3, outputs: 1, weights: Float64Array.of(1, 0.5, -0.5), bias: Float64Array.of(0) }],
  };
}

describe('model signature (activities/onnx/signature.ts)', () => {
  it('reads task, label, features in input order and classes from the exported file', () => {
    expect(readModelSignature(exportModelToOnnx(mixedModel()))).toEqual({
      task: 'binary',
      label: 'y',
      numericFeatures: ['x'],
      categoricalFeatures: ['color'],
      classes: ['neg', 'pos'],
    });
    expect(readModelSignature(exportModelToOnnx(knownModel('regression')))).toMatchObject({ task: 'regression', classes: [] });
  });

  it('refuses bytes that are not ONNX, and ONNX without sluice metadata, naming the model', () => {
    expect(() => readModelSignature(Uint8Array.of(1, 2, 3, 4), 'model churn@3')).toThrow(ModelSignatureError);
    expect(() => readModelSignature(Uint8Array.of(1, 2, 3, 4), 'model churn@3')).toThrow(/model churn@3 is not an ONNX file/);
    expect(() => readModelSignature(buildAddModel(), 'model probe@1')).toThrow(/model probe@1: it lacks sluice metadata/);
  });

  it('the row schema accepts exactly a row of the features: numbers for numeric, string or null for categorical, nothing else', () => {
    const validate = new Ajv({ strict: true, allErrors: true }).compile(rowSchema(readModelSignature(exportModelToOnnx(mixedModel()))));
    expect(validate({ x: 1.5, color: 'red' })).toBe(true);
    expect(validate({ x: -2, color: null })).toBe(true);
    expect(validate({ x: 1 })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'required', params: { missingProperty: 'color' } });
    expect(validate({ x: '1', color: 'red' })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ instancePath: '/x', keyword: 'type' });
    expect(validate({ x: 1, color: 'red', extra: 0 })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'additionalProperties', params: { additionalProperty: 'extra' } });
  });

  it('says why a candidate cannot serve in place of the current model, and nothing when it can', () => {
    const sig = (m: TrainedModel) => readModelSignature(exportModelToOnnx(m));
    const current = sig(mixedModel());
    expect(signatureMismatch(current, sig(mixedModel()))).toBeUndefined();
    expect(signatureMismatch(current, sig(knownModel('regression')))).toBe(
      'the candidate is a regression model, the endpoint serves a binary model',
    );
    expect(signatureMismatch(current, sig(knownModel('binary')))).toBe('categorical features differ: endpoint ["color"], candidate []');
    expect(
      signatureMismatch(
        sig(knownModel('binary')),
        sig({
          ...knownModel('binary'),
          features: [{ name: 'z', kind: 'numeric' }],
          preprocessing: { numeric: [{ name: 'z', mean: 0, std: 1 }], categorical: [], width: 1 },
        }),
      ),
    ).toBe('numeric features differ: endpoint ["x"], candidate ["z"]');
    expect(signatureMismatch(current, sig(mixedModel(['no', 'yes'])))).toBe(
      'classes differ: endpoint ["neg","pos"], candidate ["no","yes"]',
    );
  });
});
