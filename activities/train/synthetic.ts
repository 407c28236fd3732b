/**
 * A seeded classification dataset in the manner of scikit-learn's `make_classification`, for
 * benchmarks, demos and tests: each class is a few Gaussian clusters placed on vertices of a
 * hypercube (side 2·classSep) in the informative dimensions, each cluster with its own random
 * linear mixing; redundant features are random linear combinations of the informative ones, the
 * rest is N(0, 1) noise; a fraction `flipY` of labels is replaced by a random class. Rows and
 * columns are shuffled. The numbers differ from scikit-learn's (another PRNG) but the shape of the
 * problem is the same.
 */
import { Xoshiro128 } from './random';

export interface SyntheticClassificationOptions {
  rows: number;
  features: number;
  informative: number;
  redundant?: number;
  classes?: number;
  clustersPerClass?: number;
  classSep?: number;
  flipY?: number;
  seed: number;
}

export interface SyntheticClassification {
  /** Row-major [rows × features]. */
  x: Float64Array;
  /** Class index per row. */
  y: Int32Array;
}

export function makeClassification(o: SyntheticClassificationOptions): SyntheticClassification {
  const redundant = o.redundant ?? 2;
  const classes = o.classes ?? 2;
  const clustersPerClass = o.clustersPerClass ?? 2;
  const classSep = o.classSep ?? 1;
  const flipY = o.flipY ?? 0.01;
  const { rows: n, features: p, informative: inf } = o;
  if (inf + redundant > p) throw new RangeError(`informative + redundant (${inf + redundant}) exceeds features (${p})`);
  const rng = new Xoshiro128(o.seed);
  const clusters = classes * clustersPerClass;
  const x = new Float64Array(n * p);
  const y = new Int32Array(n);
  const centroid = new Float64Array(inf);
  const mixing = new Float64Array(inf * inf);
  const z = new Float64Array(inf);
  let row = 0;
  for (let c = 0; c < clusters; c++) {
    const count = Math.floor(n / clusters) + (c < n % clusters ? 1 : 0);
    for (let j = 0; j < inf; j++) centroid[j] = (rng.nextUint32() & 1 ? 1 : -1) * classSep;
    for (let j = 0; j < inf * inf; j++) mixing[j] = 2 * rng.nextFloat() - 1;
    for (let r = 0; r < count; r++, row++) {
      for (let j = 0; j < inf; j++) z[j] = rng.nextNormal();
      for (let j = 0; j < inf; j++) {
        let s = centroid[j] as number;
        for (let k = 0; k < inf; k++) s += (z[k] as number) * (mixing[k * inf + j] as number);
        x[row * p + j] = s;
      }
      y[row] = c % classes;
    }
  }
  const combo = new Float64Array(inf * redundant);
  for (let j = 0; j < combo.length; j++) combo[j] = 2 * rng.nextFloat() - 1;
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < redundant; k++) {
      let s = 0;
      for (let j = 0; j < inf; j++) s += (x[r * p + j] as number) * (combo[j * redundant + k] as number);
      x[r * p + inf + k] = s;
    }
    for (let j = inf + redundant; j < p; j++) x[r * p + j] = rng.nextNormal();
  }
  for (let r = 0; r < n; r++) if (rng.nextFloat() < flipY) y[r] = rng.nextInt(classes);
  // shuffle rows, then columns, so that neither position tells the class or the feature's role
  const rowOrder = new Uint32Array(n);
  for (let i = 0; i < n; i++) rowOrder[i] = i;
  rng.shuffle(rowOrder);
  const colOrder = new Uint32Array(p);
  for (let j = 0; j < p; j++) colOrder[j] = j;
  rng.shuffle(colOrder);
  const xs = new Float64Array(n * p);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const src = rowOrder[i] as number;
    ys[i] = y[src] as number;
    for (let j = 0; j < p; j++) xs[i * p + j] = x[src * p + (colOrder[j] as number)] as number;
  }
  return { x: xs, y: ys };
}
