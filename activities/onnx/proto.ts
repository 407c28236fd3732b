/**
 * A minimal protobuf writer for ONNX ModelProto (onnx/onnx.proto3), enough to emit graphs that
 * sluice builds itself (models trained in TypeScript, runtime probes). Field numbers follow onnx.proto.
 */

class Writer {
  private readonly chunks: number[] = [];
  varint(value: number): this {
    let v = value;
    while (v > 0x7f) {
      this.chunks.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.chunks.push(v);
    return this;
  }
  tag(field: number, wire: 0 | 2 | 5): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    for (const b of data) this.chunks.push(b);
    return this;
  }
  fixed32(field: number, data: Uint8Array): this {
    this.tag(field, 5);
    for (const b of data) this.chunks.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

export const TensorElemType = { FLOAT: 1, INT64: 7, STRING: 8, BOOL: 9, DOUBLE: 11 } as const;

export interface TensorSpec {
  name: string;
  elemType: number;
  /** A number for a fixed dimension, a string for a symbolic one ("batch"). */
  dims: (number | string)[];
}

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: { name: string; ints?: number[]; int?: number; float?: number; string?: string }[];
}

/** A constant tensor: exactly one of `floats`, `int64s` or `strings`. */
export interface InitializerSpec {
  name: string;
  dims: number[];
  floats?: Float32Array;
  int64s?: BigInt64Array;
  strings?: string[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  initializers?: InitializerSpec[];
  opset?: number;
  /** ModelProto.ir_version (default 8; opset 18+ wants 9 or more by the ONNX checker's table). */
  irVersion?: number;
  producer?: string;
  docString?: string;
  /** ModelProto.metadata_props, written in the order given. */
  metadata?: [string, string][];
}

function valueInfo(t: TensorSpec): Writer {
  const shape = new Writer();
  for (const d of t.dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, t.elemType).message(2, shape);
  return new Writer().string(1, t.name).message(2, new Writer().message(1, tensorType));
}

function node(n: NodeSpec): Writer {
  const w = new Writer();
  n.inputs.forEach((i) => w.string(1, i));
  n.outputs.forEach((o) => w.string(2, o));
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) {
    const aw = new Writer().string(1, a.name);
    if (a.float !== undefined) {
      const buf = new Uint8Array(4);
      new DataView(buf.buffer).setFloat32(0, a.float, true);
      aw.fixed32(2, buf).int(20, 1); // AttributeType.FLOAT
    } else if (a.int !== undefined) {
      aw.int(3, a.int).int(20, 2); // INT
    } else if (a.string !== undefined) {
      aw.string(4, a.string).int(20, 3); // STRING
    } else if (a.ints) {
      a.ints.forEach((v) => aw.int(8, v));
      aw.int(20, 7); // INTS
    }
    w.message(5, aw);
  }
  return w;
}

function initializer(t: InitializerSpec): Writer {
  const w = new Writer();
  t.dims.forEach((d) => w.int(1, d));
  if (t.strings) {
    w.int(2, TensorElemType.STRING);
    t.strings.forEach((s) => w.string(6, s)); // string_data
    w.string(8, t.name);
    return w;
  }
  const data = t.floats ?? t.int64s;
  if (!data) throw new RangeError(`initializer "${t.name}" has no values`);
  w.int(2, t.floats ? TensorElemType.FLOAT : TensorElemType.INT64);
  w.string(8, t.name);
  // raw_data is little-endian; typed arrays are in the platform's order, little-endian on every platform Node supports but s390x
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return w;
}

/** Serialises a graph as ONNX ModelProto bytes (IR version 8 unless `irVersion` says otherwise). */
export function encodeModel(g: GraphSpec): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n) => graph.message(1, node(n)));
  graph.string(2, g.name);
  (g.initializers ?? []).forEach((t) => graph.message(5, initializer(t)));
  g.inputs.forEach((t) => graph.message(11, valueInfo(t)));
  g.outputs.forEach((t) => graph.message(12, valueInfo(t)));
  const model = new Writer().int(1, g.irVersion ?? 8).string(2, g.producer ?? 'sluice');
  if (g.docString) model.string(6, g.docString);
  model.message(7, graph);
  model.message(8, new Writer().string(1, '').int(2, g.opset ?? 13));
  for (const [key, value] of g.metadata ?? []) model.message(14, new Writer().string(1, key).string(2, value));
  return model.finish();
}
