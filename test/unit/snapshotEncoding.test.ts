// The pure parts of the snapshot step: the split hash and rule, the .npy header, the binary COPY
// reader across chunk boundaries, and the generated row decoder.
import { BinaryCopyReader } from '../../activities/snapshot/copyBinary';
import { ColumnBuilder, makeRowDecoder, planColumn } from '../../activities/snapshot/columns';
import { npyHeader } from '../../activities/snapshot/npy';
import { murmur3, murmur3OfInteger, splitOf, splitRule } from '../../activities/snapshot/split';
import { DatasetInvalidError } from '../../activities/snapshot/errors';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('split rule', () => {
  it('murmur3 is MurmurHash3 x86_32 with seed 0 (the published test vectors; Python: mmh3.hash(s, signed=False))', () => {
    expect(murmur3(bytes(''), 0, 0)).toBe(0);
    expect(murmur3(bytes('hello'), 0, 5)).toBe(0x248bfa47);
    const fox = bytes('The quick brown fox jumps over the lazy dog');
    expect(murmur3(fox, 0, fox.length)).toBe(0x2e4ff723);
    // integers hash as their decimal text
    expect(murmur3OfInteger(42)).toBe(murmur3(bytes('42'), 0, 2));
    expect(murmur3OfInteger(-9007199254740993n)).toBe(murmur3(bytes('-9007199254740993'), 0, 17));
  });

  it('defaults to 0.8/0.1/0.1 keyed by seq, takes the rest as test, and refuses parts that do not add up to 1', () => {
    expect(splitRule(undefined)).toMatchObject({
      key: 'seq',
      train: 0.8,
      validation: 0.1,
      test: 0.1,
      thresholds: [3435973836, 3865470566],
    });
    expect(splitRule({ key: 'user_id', train: 0.7, validation: 0.2 })).toMatchObject({ key: 'user_id', test: 0.1 });
    expect(splitRule({ train: 0.9, validation: 0.1 }).thresholds).toEqual([3865470566, 2 ** 32]);
    expect(() => splitRule({ train: 0.9, validation: 0.3 })).toThrow(DatasetInvalidError);
    expect(() => splitRule({ train: 0.5, validation: 0.1, test: 0.1 })).toThrow(/add up to 1/);
    const rule = splitRule({ train: 0.5, validation: 0.25 });
    expect([splitOf(0, rule), splitOf(2 ** 31 - 1, rule), splitOf(2 ** 31, rule), splitOf(2 ** 32 - 1, rule)]).toEqual([0, 0, 1, 2]);
  });

  it('puts about the fractions of many keys in each part', () => {
    const rule = splitRule(undefined);
    const counts: [number, number, number] = [0, 0, 0];
    for (let i = 0; i < 100_000; i++) counts[splitOf(murmur3OfInteger(i), rule)]++;
    expect(counts[0] / 100_000).toBeCloseTo(0.8, 2);
    expect(counts[1] / 100_000).toBeCloseTo(0.1, 2);
  });
});

describe('.npy header', () => {
  it('is version 1.0, padded to 64 bytes, ending in a newline', () => {
    const h = npyHeader([3, 2], '<f4');
    expect(h.length % 64).toBe(0);
    expect(Buffer.from(h.subarray(0, 6)).toString('latin1')).toBe('\x93NUMPY');
    const text = Buffer.from(h.subarray(10)).toString('latin1');
    expect(text).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 2\), \} *\n$/);
    expect(h[8]! + h[9]! * 256).toBe(text.length);
    expect(Buffer.from(npyHeader([5], '<f4').subarray(10)).toString('latin1')).toMatch(/'shape': \(5,\)/);
  });
});

describe('binary COPY rows', () => {
  /** COPY binary output of (seq bigint, v text) rows. */
  function copyOutput(rows: [number, string][]): Buffer {
    const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
    for (const [seq, v] of rows) {
      const head = Buffer.alloc(2 + 4 + 8 + 4);
      head.writeInt16BE(2, 0);
      head.writeInt32BE(8, 2);
      head.writeBigInt64BE(BigInt(seq), 6);
      const text = bytes(v);
      head.writeInt32BE(text.length, 14);
      parts.push(head, text);
    }
    const trailer = Buffer.alloc(2);
    trailer.writeInt16BE(-1, 0);
    parts.push(trailer);
    return Buffer.concat(parts);
  }

  /** Decodes through the generated decoder into builders, feeding the output in chunks of `chunkSize` bytes. */
  function decoded(out: Buffer, chunkSize: number): string[] {
    const plans = [planColumn('seq', 'int8', 'bigint'), planColumn('v', 'text', 'text')];
    const builders = plans.map((p) => new ColumnBuilder(p, 64));
    const decode = makeRowDecoder(plans)(builders);
    const reader = new BinaryCopyReader(2);
    let i = 0;
    const readRow = (buf: Buffer, view: DataView, p: number): number => {
      const end = decode(buf, view, p, i);
      if (end >= 0) i++;
      return end;
    };
    for (let at = 0; at < out.length; at += chunkSize) reader.push(out.subarray(at, at + chunkSize), readRow);
    reader.finish();
    const [seq, v] = builders as [ColumnBuilder, ColumnBuilder];
    expect(v.nullCount).toBe(0);
    return Array.from(
      { length: i },
      (_, r) =>
        `${(seq.values as BigInt64Array)[r]}:${Buffer.from(v.values as Uint8Array).toString('utf8', v.offsets![r], v.offsets![r + 1])}`,
    );
  }

  it('decodes every row once, in order, however the stream is cut (a cut row is undone and decoded again)', () => {
    const rows: [number, string][] = [
      [1, 'a'],
      [2, 'zz'],
      [2, 'b'],
      [3, 'héllo wörld'],
      [4, ''],
      [5, 'x'.repeat(700)],
    ];
    const out = copyOutput(rows);
    const expected = rows.map(([s, v]) => `${s}:${v}`);
    for (const size of [1, 3, 7, 16, 64, 300, out.length]) expect(decoded(out, size)).toEqual(expected);
  });

  it('refuses output that ends in the middle of a row', () => {
    const out = copyOutput([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(() => decoded(out.subarray(0, out.length - 5), 8)).toThrow(/ended without its trailer/);
  });
});
