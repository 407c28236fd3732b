/**
 * A decoder of predict bodies `{"rows": [{<feature>: <number>, ...}, ...]}` specialised to a model
 * whose features are all numeric: it reads the bytes once and writes every value into one
 * Float64Array, without the row objects `JSON.parse` builds (which cost more than scoring them:
 * 5 ms for 1,000 rows of 30 features here) and without ajv's walk over them.
 *
 * It answers only for bodies it can judge valid by itself: a row with exactly the model's features,
 * each once, each a JSON number finite in float32, keys without escapes, and nothing else in the
 * body. For anything else, valid or not, it answers `undefined` and the caller takes the general
 * path (JSON.parse, the JSON Schema check), which gives the same result a body always had and the
 * error that names the row and field. So this decoder never decides that a body is wrong.
 *
 * Numbers are the doubles `JSON.parse` gives, bit for bit: a mantissa below 2^53 with a decimal
 * exponent within ±22 is one exact multiplication or division of two exactly representable doubles
 * (correctly rounded, as Clinger showed); any other number goes through `Number()` of its text.
 */

const P10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const TWO_53 = 9007199254740992;
const ROWS_KEY = Buffer.from('"rows"');

export interface DecodedRows {
  count: number;
  /** Row-major [count × features.length], in the order of `features`. */
  values: Float64Array;
}

/**
 * Decodes bodies for a model taking `features` (all numeric); built once per model, so that a
 * one-row request pays for no set-up.
 */
export class NumericRowsDecoder {
  private readonly d: number;
  private readonly keys: Buffer[];
  private readonly index: Map<string, number>;
  /** The feature seen at each position of the last row: rows usually repeat their key order. */
  private readonly order: Int32Array;
  /** The row (+1) in which each feature was last seen, stamped per call: duplicates without clearing. */
  private readonly seen: Int32Array;
  private stamp = 0;
  private body: Buffer = Buffer.alloc(0);
  private n = 0;
  private i = 0;

  constructor(readonly features: readonly string[]) {
    this.d = features.length;
    this.keys = features.map((f) => Buffer.from(JSON.stringify(f), 'utf8'));
    this.index = new Map(features.map((f, j) => [JSON.stringify(f), j]));
    this.order = new Int32Array(this.d).fill(-1);
    this.seen = new Int32Array(this.d);
  }

  /** The rows of `body`, at most `maxRows`; `undefined` when the body is anything else (see the module comment). */
  decode(body: Buffer, maxRows: number): DecodedRows | undefined {
    if (this.d === 0) return undefined;
    this.body = body;
    this.n = body.length;
    this.i = 0;
    try {
      return this.rows(maxRows);
    } finally {
      this.body = EMPTY;
    }
  }

  private skip(): void {
    const b = this.body;
    const n = this.n;
    let i = this.i;
    while (i < n) {
      const c = b[i] as number;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.i = i;
  }

  /** The index of the feature whose quoted key starts here (a plain ASCII key), or -1. */
  private key(position: number): number {
    const b = this.body;
    const n = this.n;
    const i = this.i;
    if (b[i] !== 0x22) return -1;
    const expected = this.order[position] as number;
    if (expected >= 0) {
      // byte by byte: Buffer#compare's argument checks cost more than a short key
      const k = this.keys[expected] as Buffer;
      const m = k.length;
      if (i + m <= n) {
        let q = 1; // the opening quote matched above
        while (q < m && b[i + q] === k[q]) q++;
        if (q === m) {
          this.i = i + m;
          return expected;
        }
      }
    }
    let e = i + 1;
    while (e < n) {
      const c = b[e] as number;
      if (c === 0x22) break;
      if (c === 0x5c || c < 0x20 || c > 0x7e) return -1; // escapes, control or non-ASCII bytes: the general path
      e++;
    }
    if (e >= n) return -1;
    const j = this.index.get(latin1(b, i, e + 1));
    if (j === undefined) return -1;
    this.order[position] = j;
    this.i = e + 1;
    return j;
  }

  /** The JSON number here (advancing past it), or NaN when there is none. */
  private number(): number {
    const b = this.body;
    const n = this.n;
    let i = this.i;
    const start = i;
    let negative = false;
    if (b[i] === 0x2d) {
      negative = true;
      i++;
    }
    let mantissa = 0;
    let exact = true;
    let scale = 0;
    let c = b[i] as number;
    if (c === 0x30) {
      i++;
    } else if (c >= 0x31 && c <= 0x39) {
      while (i < n && (c = b[i] as number) >= 0x30 && c <= 0x39) {
        if (exact) {
          mantissa = mantissa * 10 + (c - 0x30);
          if (mantissa >= TWO_53) exact = false;
        }
        i++;
      }
    } else {
      this.i = i;
      return NaN;
    }
    if (b[i] === 0x2e) {
      i++;
      const from = i;
      while (i < n && (c = b[i] as number) >= 0x30 && c <= 0x39) {
        if (exact) {
          mantissa = mantissa * 10 + (c - 0x30);
          if (mantissa >= TWO_53) exact = false;
          else scale--;
        }
        i++;
      }
      if (i === from) {
        this.i = i;
        return NaN;
      }
    }
    c = b[i] as number;
    if (c === 0x65 || c === 0x45) {
      i++;
      let sign = 1;
      if (b[i] === 0x2b) i++;
      else if (b[i] === 0x2d) {
        sign = -1;
        i++;
      }
      const from = i;
      let exponent = 0;
      while (i < n && (c = b[i] as number) >= 0x30 && c <= 0x39) {
        if (exponent < 100_000) exponent = exponent * 10 + (c - 0x30);
        i++;
      }
      if (i === from) {
        this.i = i;
        return NaN;
      }
      scale += sign * exponent;
    }
    this.i = i;
    if (exact && scale >= -22 && scale <= 22) {
      const v = scale === 0 ? mantissa : scale > 0 ? mantissa * (P10[scale] as number) : mantissa / (P10[-scale] as number);
      return negative ? -v : v;
    }
    return Number(latin1(b, start, i));
  }

  /** Steps past the byte `c` and the whitespace after it when it comes next; false (and no step) otherwise. */
  private eat(c: number): boolean {
    if (this.body[this.i] !== c) return false;
    this.i++;
    this.skip();
    return true;
  }

  /** One row object here into `values` at row `r`; false when it is not one the fast path can take. */
  private row(values: Float64Array, r: number, mark: number): boolean {
    const b = this.body;
    const d = this.d;
    if (!this.eat(0x7b)) return false;
    const base = r * d;
    let position = 0;
    for (;;) {
      this.skip();
      if (position >= d) return false; // more keys than features: an extra or repeated one
      const j = this.key(position);
      if (j < 0 || this.seen[j] === mark) return false;
      this.seen[j] = mark;
      this.skip();
      if (!this.eat(0x3a)) return false;
      const v = this.number();
      if (!Number.isFinite(Math.fround(v))) return false; // NaN (not a number) or out of float32: the general path says which
      values[base + j] = v;
      position++;
      this.skip();
      const c = b[this.i];
      this.i++;
      if (c === 0x7d) break;
      if (c !== 0x2c) return false;
    }
    return position === d;
  }

  private rows(maxRows: number): DecodedRows | undefined {
    const b = this.body;
    const d = this.d;
    this.skip();
    if (!this.eat(0x7b)) return undefined;
    const i = this.i;
    if (i + ROWS_KEY.length > this.n || b.compare(ROWS_KEY, 0, ROWS_KEY.length, i, i + ROWS_KEY.length) !== 0) return undefined;
    this.i += ROWS_KEY.length;
    this.skip();
    if (!this.eat(0x3a) || !this.eat(0x5b)) return undefined;
    if (b[this.i] === 0x5d) return undefined; // no rows: the general path's error
    // a row takes at least 4 bytes a feature ("k":0 and a separator): room for every row the body can hold
    const capacity = Math.max(1, Math.min(maxRows, Math.ceil(this.n / (4 * d))));
    let values = new Float64Array(Math.min(capacity, 256) * d);
    let count = 0;
    if (this.stamp > 0x3fffffff) {
      this.stamp = 0;
      this.seen.fill(0);
    }
    for (;;) {
      if (count >= maxRows) return undefined; // over the limit: the general path's 413
      if (count * d === values.length) {
        if (count >= capacity) return undefined; // cannot happen (see capacity); the general path decides
        const grown = new Float64Array(Math.min(count * 2, capacity) * d);
        grown.set(values);
        values = grown;
      }
      if (!this.row(values, count, ++this.stamp)) return undefined;
      count++;
      this.skip();
      const c = b[this.i];
      this.i++;
      if (c === 0x5d) break;
      if (c !== 0x2c) return undefined;
      this.skip();
    }
    this.skip();
    if (!this.eat(0x7d)) return undefined;
    if (this.i !== this.n) return undefined;
    if (values.length !== count * d) values = values.slice(0, count * d);
    return { count, values };
  }
}

const EMPTY = Buffer.alloc(0);

/** Text of bytes known to be ASCII (a number's characters): Buffer#latin1Slice without toString's argument checks. */
const latin1 = (b: Buffer, start: number, end: number): string =>
  (b as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);

/** {@link NumericRowsDecoder.decode} once (tests; the service keeps a decoder per model). */
export function decodeNumericRows(body: Buffer, features: readonly string[], maxRows: number): DecodedRows | undefined {
  return new NumericRowsDecoder(features).decode(body, maxRows);
}
