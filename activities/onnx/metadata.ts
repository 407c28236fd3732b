/**
 * Reads ModelProto.metadata_props (field 14) of an ONNX file: onnxruntime-node 1.30 does not
 * expose custom metadata on its InferenceSession, and the scorer needs the feature order and the
 * classes that {@link exportModelToOnnx} records there. Walks the top-level protobuf fields only
 * (the graph is skipped by its length), so it costs microseconds on any model size.
 */

/** A file that is not a well-formed protobuf message. */
export class OnnxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxFormatError';
  }
}

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly end = bytes.length,
  ) {}

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new OnnxFormatError('truncated varint');
      const b = this.bytes[this.pos++] as number;
      // lengths and tags fit in 53 bits; multiply instead of shifting past 31
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new OnnxFormatError('varint longer than 10 bytes');
    }
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) {
      // read the length first: `this.pos += this.varint()` would add it to the position before the varint
      const len = this.varint();
      this.pos += len;
    } else if (wireType === 5) this.pos += 4;
    else throw new OnnxFormatError(`unsupported protobuf wire type ${wireType}`);
    if (this.pos > this.end) throw new OnnxFormatError('field runs past the end of the message');
  }

  bytesField(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new OnnxFormatError('field runs past the end of the message');
    const out = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The metadata_props of an ONNX model as a map (a later duplicate key wins). */
export function readOnnxMetadata(onnx: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const r = new Reader(onnx);
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 14 && wireType === 2) {
      const entry = new Reader(r.bytesField());
      let key = '';
      let value = '';
      while (entry.pos < entry.end) {
        const t = entry.varint();
        if (t === (1 << 3) + 2) key = utf8.decode(entry.bytesField());
        else if (t === (2 << 3) + 2) value = utf8.decode(entry.bytesField());
        else entry.skip(t & 7);
      }
      out.set(key, value);
    } else {
      r.skip(wireType);
    }
  }
  return out;
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const head = [...varintBytes(field * 8 + 2), ...varintBytes(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

const utf8Encoder = new TextEncoder();

/**
 * The same model with `entries` as metadata_props: every existing entry whose key starts with
 * `sluice.` is dropped first (only sluice says what a model's sluice metadata is), other entries
 * and every other field are kept byte for byte. Throws {@link OnnxFormatError} on a malformed file.
 */
export function withSluiceMetadata(onnx: Uint8Array, entries: readonly (readonly [string, string])[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const r = new Reader(onnx);
  while (r.pos < r.end) {
    const start = r.pos;
    const tag = r.varint();
    const wireType = tag & 7;
    if (Math.floor(tag / 8) === 14 && wireType === 2) {
      const body = r.bytesField();
      const entry = new Reader(body);
      let key = '';
      while (entry.pos < entry.end) {
        const t = entry.varint();
        if (t === (1 << 3) + 2) key = utf8.decode(entry.bytesField());
        else entry.skip(t & 7);
      }
      if (key.startsWith('sluice.')) continue;
    } else {
      r.skip(wireType);
    }
    parts.push(onnx.subarray(start, r.pos));
  }
  for (const [key, value] of entries) {
    const k = lengthDelimited(1, utf8Encoder.encode(key));
    const v = lengthDelimited(2, utf8Encoder.encode(value));
    const body = new Uint8Array(k.length + v.length);
    body.set(k, 0);
    body.set(v, k.length);
    parts.push(lengthDelimited(14, body));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
