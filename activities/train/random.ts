/**
 * The one PRNG of training: xoshiro128** (Blackman & Vigna, 2018) on four 32-bit words, seeded by
 * splitmix32 from a 32-bit seed. Chosen because it is small, well studied, works on 32-bit integer
 * arithmetic (exact in JavaScript via Math.imul and >>>), and its whole state is four integers,
 * so a checkpoint can save and restore it exactly. Training never uses Math.random.
 *
 * Normal draws use Box–Muller with Math.log/Math.cos/Math.sqrt. V8 implements log and cos with
 * its own port of fdlibm, so the values are the same on every platform for a given Node version;
 * a different Node major may in principle change the last bit of an initial weight.
 */

export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is taken modulo 2^32; seeds that differ there give unrelated streams. */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`a training seed must be an integer, got ${seed}`);
    const next = splitmix32(seed);
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  static fromState(state: readonly number[]): Xoshiro128 {
    const r = new Xoshiro128(0);
    r.setState(state);
    return r;
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  setState(state: readonly number[]): void {
    const [a, b, c, d] = state;
    if (state.length !== 4 || [a, b, c, d].some((v) => v === undefined || !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError('a PRNG state is four unsigned 32-bit integers');
    }
    if (((a as number) | (b as number) | (c as number) | (d as number)) === 0)
      throw new RangeError('the all-zero PRNG state is not valid for xoshiro128**');
    this.s0 = a as number;
    this.s1 = b as number;
    this.s2 = c as number;
    this.s3 = d as number;
  }

  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits (two draws). */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n), without modulo bias (rejection sampling). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`nextInt needs 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A standard normal draw (Box–Muller; one of the pair is used so that the state alone says what comes next). */
  nextNormal(): number {
    const u1 = 1 - this.nextFloat(); // (0, 1]: log stays finite
    const u2 = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle(a: Uint32Array | Int32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i] as number;
      a[i] = a[j] as number;
      a[j] = t;
    }
  }
}
