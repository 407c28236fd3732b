/**
 * The train/validation/test rule, defined once here and recorded with every dataset so that any
 * reader can recompute it:
 *
 *   h = murmur3_x86_32(UTF-8 bytes of the key's text, seed 0), an unsigned 32-bit integer
 *   split = 0 (train) if h < thresholds[0], 1 (validation) if h < thresholds[1], else 2 (test)
 *   thresholds = [floor(train × 2^32), floor((train + validation) × 2^32)]
 *
 * The key's text is the value itself for text columns and its decimal digits for integer columns
 * (PostgreSQL's `key::text`). A row's split depends on its key alone: adding rows never moves
 * another row, and rows that share a key (one user's events) land in the same part.
 * MurmurHash3 rather than sha256: it is as stable and as available (Python `mmh3.hash(key,
 * signed=False)`), and a few dozen nanoseconds per row instead of a microsecond.
 */
import { DatasetInvalidError } from './errors';

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export const DEFAULT_FRACTIONS = { train: 0.8, validation: 0.1 } as const;

export interface SplitRule {
  key: string;
  hash: 'murmur3_x86_32(utf8(key::text), seed=0)';
  train: number;
  validation: number;
  test: number;
  /** Integer bounds on h: what readers should compare against (no floating point). */
  thresholds: [number, number];
  /** The value of the `__split` column for each part. */
  codes: { train: 0; validation: 1; test: 2 };
}

/** Fills in the defaults (train 0.8, validation 0.1, test the rest) and checks that the parts add up to 1. */
export function splitRule(input: { key?: string; train?: number; validation?: number; test?: number } | undefined): SplitRule {
  const train = input?.train ?? DEFAULT_FRACTIONS.train;
  const validation = input?.validation ?? DEFAULT_FRACTIONS.validation;
  // Rounded so that the default parts read 0.8/0.1/0.1, not 0.09999999999999995.
  const test = input?.test ?? Math.max(0, Math.round((1 - train - validation) * 1e12) / 1e12);
  const sum = train + validation + test;
  if (!(train > 0) || validation < 0 || test < 0 || Math.abs(sum - 1) > 1e-9) {
    throw new DatasetInvalidError(
      'INVALID_SPLIT',
      `split fractions must be ≥ 0 (train > 0) and add up to 1; got train ${train}, validation ${validation}, test ${test} (sum ${sum})`,
    );
  }
  const t0 = Math.min(2 ** 32, Math.floor(train * 2 ** 32));
  const t1 = test === 0 ? 2 ** 32 : Math.min(2 ** 32, Math.floor((train + validation) * 2 ** 32));
  return {
    key: input?.key ?? 'seq',
    hash: 'murmur3_x86_32(utf8(key::text), seed=0)',
    train,
    validation,
    test,
    thresholds: [t0, Math.max(t0, t1)],
    codes: { train: 0, validation: 1, test: 2 },
  };
}

/** MurmurHash3 x86_32 of bytes[start, end), seed 0, as an unsigned integer. */
export function murmur3(bytes: Uint8Array, start: number, end: number): number {
  let h = 0;
  const len = end - start;
  const whole = start + (len & ~3);
  let i = start;
  for (; i < whole; i += 4) {
    let k = (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = len & 3;
  if (rest === 3) k ^= (bytes[i + 2] as number) << 16;
  if (rest >= 2) k ^= (bytes[i + 1] as number) << 8;
  if (rest >= 1) {
    k ^= bytes[i] as number;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  return fmix32(h);
}

/** MurmurHash3's finaliser: a cheap, well-mixed 32-bit permutation (also the row sample's priorities). */
export function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const scratch = new Uint8Array(24);

/** murmur3 of the decimal text of an integer (exact for |v| ≤ 2^53; larger int64 keys come as bigint). */
export function murmur3OfInteger(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v <= 0x7fffffff) {
    // Digits written right to left without making a string: most keys are small ids.
    let x = v;
    let at = scratch.length;
    do {
      const q = (x / 10) | 0;
      scratch[--at] = 48 + x - q * 10;
      x = q;
    } while (x > 0);
    return murmur3(scratch, at, scratch.length);
  }
  const text = String(v);
  for (let j = 0; j < text.length; j++) scratch[j] = text.charCodeAt(j);
  return murmur3(scratch, 0, text.length);
}

export function splitOf(h: number, rule: SplitRule): 0 | 1 | 2 {
  return h < rule.thresholds[0] ? 0 : h < rule.thresholds[1] ? 1 : 2;
}
