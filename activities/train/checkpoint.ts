/**
 * Checkpoint bytes: a training run's full state, written deterministically (the same state gives
 * the same bytes) so that a retried activity resumes where the last one stopped.
 *
 * Format version 1, all integers little-endian:
 *   offset 0   8 bytes   magic "SLUICECK"
 *   offset 8   uint32    format version (1)
 *   offset 12  uint32    header length H in bytes
 *   offset 16  H bytes   UTF-8 JSON header, keys in this order:
 *                        {"trainer": string, "fingerprint": sha256 hex of the run's inputs,
 *                         "ints": [[name, integer], ...], "arrays": [[name, length], ...]}
 *   then zero bytes up to a multiple of 8
 *   then every array's float64 values (IEEE 754, little-endian), in header order
 * Only integers go in the JSON (exact there); every float travels as its 8 bytes, so values such
 * as Infinity and −0 survive and nothing is rounded through decimal text.
 *
 * Version 2 is the same layout for a checkpoint taken inside an epoch: its state also says where
 * the epoch stands (the MLP's int `batchStart`), which a version-1 reader would ignore and so
 * resume wrongly; the version makes such a reader refuse it instead. A checkpoint between epochs
 * is still written as version 1, byte for byte as before.
 */
import { CheckpointError } from './errors';
import type { EstimatorState } from './estimator';

export const CHECKPOINT_FORMAT_VERSION = 1;
/** The version of a checkpoint taken inside an epoch (see the module comment). */
export const MID_EPOCH_CHECKPOINT_FORMAT_VERSION = 2;
const MAGIC = 'SLUICECK';

export interface CheckpointContents {
  trainer: string;
  fingerprint: string;
  state: EstimatorState;
}

export function encodeCheckpoint(c: CheckpointContents): Uint8Array {
  for (const [name, v] of c.state.ints) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`checkpoint integer "${name}" is not a safe integer: ${v}`);
  }
  const header = new TextEncoder().encode(
    JSON.stringify({
      trainer: c.trainer,
      fingerprint: c.fingerprint,
      ints: c.state.ints,
      arrays: c.state.arrays.map(([n, a]) => [n, a.length]),
    }),
  );
  const dataStart = Math.ceil((16 + header.length) / 8) * 8;
  const total = dataStart + 8 * c.state.arrays.reduce((s, [, a]) => s + a.length, 0);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const midEpoch = c.state.ints.some(([name]) => name === 'batchStart');
  view.setUint32(8, midEpoch ? MID_EPOCH_CHECKPOINT_FORMAT_VERSION : CHECKPOINT_FORMAT_VERSION, true);
  view.setUint32(12, header.length, true);
  bytes.set(header, 16);
  let at = dataStart;
  for (const [, a] of c.state.arrays) {
    for (let i = 0; i < a.length; i++, at += 8) view.setFloat64(at, a[i] as number, true);
  }
  return bytes;
}

export function decodeCheckpoint(bytes: Uint8Array): CheckpointContents {
  if (bytes.length < 16 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new CheckpointError('NOT_A_CHECKPOINT', 'these bytes are not a sluice training checkpoint (magic "SLUICECK" missing)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_FORMAT_VERSION && version !== MID_EPOCH_CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      'UNSUPPORTED_VERSION',
      `checkpoint format version ${version} is not supported (this sluice reads versions ${CHECKPOINT_FORMAT_VERSION} and ${MID_EPOCH_CHECKPOINT_FORMAT_VERSION})`,
    );
  }
  const headerLength = view.getUint32(12, true);
  if (16 + headerLength > bytes.length) throw new CheckpointError('CORRUPT', 'checkpoint is truncated inside its header');
  let header: { trainer?: unknown; fingerprint?: unknown; ints?: unknown; arrays?: unknown };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + headerLength))) as typeof header;
  } catch (err) {
    throw new CheckpointError('CORRUPT', `checkpoint header is not valid JSON: ${(err as Error).message}`);
  }
  const isPairList = (v: unknown): v is [string, number][] =>
    Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && Number.isSafeInteger(p[1]));
  if (
    typeof header.trainer !== 'string' ||
    typeof header.fingerprint !== 'string' ||
    !isPairList(header.ints) ||
    !isPairList(header.arrays)
  ) {
    throw new CheckpointError('CORRUPT', 'checkpoint header lacks trainer, fingerprint, ints or arrays');
  }
  const dataStart = Math.ceil((16 + headerLength) / 8) * 8;
  const expected = dataStart + 8 * header.arrays.reduce((s, [, n]) => s + n, 0);
  if (expected !== bytes.length)
    throw new CheckpointError('CORRUPT', `checkpoint has ${bytes.length} bytes, its header describes ${expected}`);
  let at = dataStart;
  const arrays: [string, Float64Array][] = header.arrays.map(([name, n]) => {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++, at += 8) a[i] = view.getFloat64(at, true);
    return [name, a];
  });
  return { trainer: header.trainer, fingerprint: header.fingerprint, state: { ints: header.ints, arrays } };
}
