import { DigestWorker, jsonRows, objectRows, RowChecker } from '../../activities/serve';
import { decodeNumericRows } from '../../activities/serve/fastJson';
import type { ModelSignature } from '../../activities/onnx/signature';
import { canonicalJson, sha256Hex } from '../../contracts/canonical';
import { Xoshiro128 } from '../../activities/train/random';

const features = ['f0', 'f1', 'x_long_name'];
const signature: ModelSignature = { task: 'binary', label: 'label', numericFeatures: features, categoricalFeatures: [], classes: [0, 1] };
const checker = new RowChecker(signature);
const body = (text: string): Buffer => Buffer.from(text, 'utf8');

/** What the general path makes of a body: the rows JSON.parse gives, or undefined when it refuses them. */
function generalPath(text: string): Record<string, number>[] | undefined {
  const parsed = jsonRows(body(text));
  if (!parsed.ok || parsed.rows.length === 0 || checker.check(parsed.rows).length > 0) return undefined;
  return parsed.rows as Record<string, number>[];
}

describe('serve: the fast JSON decoder of numeric rows', () => {
  it('gives the same doubles as JSON.parse, bit for bit, for every way JSON writes a number', () => {
    const texts = [
      '0',
      '-0',
      '1',
      '-1',
      '0.1',
      '0.30000000000000004',
      '123456789012345678',
      '9007199254740993',
      '4.5e-7',
      '4.5E+7',
      '1e22',
      '1e23',
      '1e-22',
      '1e-23',
      '2.2250738585072014e-308',
      '5e-324',
      '3.4028234663852886e38',
      '-3.4028234663852886e38',
      '0.4589732885360718',
      '12345.678901234567',
      '1.00000000000000000000001',
      '0.000001',
      '100e-2',
      '7E0',
      '-0.0e5',
    ];
    for (let i = 0; i < texts.length; i++) {
      const a = texts[i] as string;
      const b = texts[(i + 7) % texts.length] as string;
      const c = texts[(i + 13) % texts.length] as string;
      const text = `{"rows":[{"f0":${a},"f1":${b},"x_long_name":${c}}]}`;
      const decoded = decodeNumericRows(body(text), features, 10);
      expect(decoded).toBeDefined();
      const expected = JSON.parse(text).rows[0];
      features.forEach((f, j) => expect(Object.is(decoded!.values[j], expected[f])).toBe(true));
    }
  });

  it('decodes random rows in any key order and spacing exactly as the general path reads them', () => {
    const rng = new Xoshiro128(7);
    const random = (): number => rng.nextFloat();
    for (let round = 0; round < 200; round++) {
      const rows = Array.from({ length: 1 + Math.floor(random() * 20) }, () => {
        const values = features.map(() => {
          const kind = random();
          if (kind < 0.3) return Math.fround((random() - 0.5) * 10 ** Math.floor(random() * 12 - 6));
          if (kind < 0.6) return (random() - 0.5) * 1e6;
          if (kind < 0.8) return Math.round((random() - 0.5) * 1e9);
          return Number(((random() - 0.5) * 1000).toExponential(Math.floor(random() * 16)));
        });
        const order = [...features].sort(() => random() - 0.5);
        return { order, values: Object.fromEntries(features.map((f, j) => [f, values[j] as number])) };
      });
      const space = (): string => [' ', '', '\n', '\t', '\r\n  '][Math.floor(random() * 5)] as string;
      const text = `${space()}{${space()}"rows"${space()}:${space()}[${rows
        .map((r) => `{${r.order.map((f) => `${space()}"${f}"${space()}:${space()}${JSON.stringify(r.values[f])}${space()}`).join(',')}}`)
        .join(`,${space()}`)}${space()}]${space()}}${space()}`;
      const general = generalPath(text)!;
      expect(general).toHaveLength(rows.length);
      const fast = checker.fastJson(body(text), 100)!;
      expect(fast.count).toBe(rows.length);
      const d = features.length;
      general.forEach((row, r) =>
        features.forEach((f, j) => {
          expect(Object.is(fast.numericRowMajor![r * d + j], row[f])).toBe(true);
          expect(Object.is(fast.value(r, f), row[f])).toBe(true);
        }),
      );
      // the model's inputs and the rows' digests are the general path's
      expect(Array.from(checker.inputs(fast).numeric)).toEqual(Array.from(checker.inputs(objectRows(general)).numeric));
      for (let r = 0; r < general.length; r++) expect(checker.digest(fast, r)).toBe(sha256Hex(canonicalJson(general[r])));
    }
  });

  it('leaves every body it cannot judge valid by itself to the general path, which decides as it always did', () => {
    const row = '"f0":1,"f1":2,"x_long_name":3';
    const cases: [string, 'valid' | 'invalid'][] = [
      [`{"rows":[]}`, 'invalid'], // no rows
      [`{"rows":[{"f0":1,"f1":2}]}`, 'invalid'], // missing feature
      [`{"rows":[{${row},"extra":4}]}`, 'invalid'], // extra feature
      [`{"rows":[{${row},"f0":5}]}`, 'valid'], // a feature twice: JSON.parse keeps the last, ajv accepts it
      [`{"rows":[{"f0":"1","f1":2,"x_long_name":3}]}`, 'invalid'], // a string
      [`{"rows":[{"f0":null,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":true,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":[1],"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":1e39,"f1":2,"x_long_name":3}]}`, 'invalid'], // out of float32
      [`{"rows":[{"f0":1e999,"f1":2,"x_long_name":3}]}`, 'invalid'], // Infinity
      [`{"rows":[{"f0":NaN,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":01,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":1.,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":.5,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":+1,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{"f0":1e,"f1":2,"x_long_name":3}]}`, 'invalid'],
      [`{"rows":[{${row}},]}`, 'invalid'], // trailing comma
      [`{"rows":[{${row}}]} x`, 'invalid'], // trailing bytes
      [`{"rows":[{${row}}]`, 'invalid'], // truncated
      [`{"rows":{"f0":1}}`, 'invalid'],
      [`[{${row}}]`, 'invalid'],
      [`{"rows":[{${row}}],"meta":{"who":"x"}}`, 'valid'], // other top-level fields: ignored by the general path
      [`{"meta":1,"rows":[{${row}}]}`, 'valid'],
      [`{"rows":[{"f\\u0030":1,"f1":2,"x_long_name":3}]}`, 'valid'], // an escaped key
      [`\ufeff{"rows":[{${row}}]}`, 'invalid'], // a byte order mark: not JSON for JSON.parse
      [`{"rows":[{${row}}],"rows":[{"f0":1}]}`, 'invalid'], // the last "rows" wins in JSON.parse
    ];
    for (const [text, general] of cases) {
      expect({ text, fast: decodeNumericRows(body(text), features, 10) }).toEqual({ text, fast: undefined });
      expect({ text, general: generalPath(text) === undefined ? 'invalid' : 'valid' }).toEqual({ text, general });
    }
  });

  it('stops at the row limit (the general path answers 413) and takes no model with a categorical feature', () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ f0: i, f1: i, x_long_name: i }));
    const text = JSON.stringify({ rows });
    expect(decodeNumericRows(body(text), features, 5)?.count).toBe(5);
    expect(decodeNumericRows(body(text), features, 4)).toBeUndefined();
    const mixed = new RowChecker({ ...signature, numericFeatures: ['f0'], categoricalFeatures: ['c'] });
    expect(mixed.fastJson(body('{"rows":[{"f0":1,"c":"a"}]}'), 10)).toBeUndefined();
  });

  it('grows past its first allocation and digests a large request on the worker thread as in place', async () => {
    const rng = new Xoshiro128(3);
    const random = (): number => rng.nextFloat();
    const rows = Array.from({ length: 1000 }, () => ({ f0: random(), f1: -random() * 1e5, x_long_name: Math.fround(random()) }));
    const fast = checker.fastJson(body(JSON.stringify({ rows })), 10_000)!;
    expect(fast.count).toBe(1000);
    const worker = new DigestWorker();
    try {
      const digests = await worker.digests(checker, fast);
      expect(worker.counts.offThread).toBe(1);
      expect(digests).toEqual(rows.map((r) => sha256Hex(canonicalJson(r))));
    } finally {
      await worker.close();
    }
  });
});
