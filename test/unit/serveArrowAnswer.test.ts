import { tableFromIPC } from 'apache-arrow';
import { arrowAnswer, wantsArrow } from '../../activities/serve';

const model = { name: 'm', version: 2, sha256: 'a'.repeat(64) };

describe('serve: the Arrow answer', () => {
  it('chooses Arrow only when the Accept header prefers it to JSON', () => {
    const arrow = 'application/vnd.apache.arrow.stream';
    expect(wantsArrow(undefined)).toBe(false);
    expect(wantsArrow('')).toBe(false);
    expect(wantsArrow('application/json')).toBe(false);
    expect(wantsArrow(arrow)).toBe(true);
    expect(wantsArrow(`${arrow.toUpperCase()}; charset=binary`)).toBe(true);
    expect(wantsArrow(`application/json, ${arrow}`)).toBe(false); // a tie: the first named
    expect(wantsArrow(`${arrow}, application/json`)).toBe(true);
    expect(wantsArrow(`application/json;q=0.9, ${arrow}`)).toBe(true);
    expect(wantsArrow(`${arrow};q=0.5, */*`)).toBe(false);
    expect(wantsArrow(`${arrow};q=0`)).toBe(false);
    expect(wantsArrow(`${arrow};q=abc`)).toBe(false);
  });

  it('writes number labels as Float64 and text labels as Utf8, one Float32 probability per class, the identity in the metadata', () => {
    const outputs = [
      { label: 1, probabilities: { '0': 0.25, '1': 0.75 } },
      { label: 0, probabilities: { '0': 0.875, '1': 0.125 } },
    ];
    const t = tableFromIPC(arrowAnswer({ requestId: 'r-1', endpoint: 'e', model, classes: [0, 1], outputs }));
    expect(t.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([
      ['label', 'Float64'],
      ['probabilities', 'Struct<{0:Float32, 1:Float32}>'],
    ]);
    expect(t.toArray().map((r) => JSON.parse(JSON.stringify(r.toJSON())))).toEqual(outputs);
    expect(Object.fromEntries(t.schema.metadata)).toEqual({
      requestId: 'r-1',
      endpoint: 'e',
      'model.name': 'm',
      'model.version': '2',
      'model.sha256': model.sha256,
    });
    const text = tableFromIPC(
      arrowAnswer({
        requestId: 'r-2',
        endpoint: 'e',
        model,
        classes: ['no', 'yes'],
        outputs: [{ label: 'yes', probabilities: { no: 0.5, yes: 0.5 } }],
      }),
    );
    expect(String(text.schema.fields[0]!.type)).toBe('Utf8');
    expect(text.get(0)!.toJSON().label).toBe('yes');
  });
});
