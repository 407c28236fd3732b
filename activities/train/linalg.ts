/** Dense symmetric positive-definite solve for the small systems of ridge regression (d ≲ 1000). */

/**
 * Solves A·x = b for symmetric positive-definite A [n × n] (row-major; only the lower triangle is
 * read) by Cholesky factorisation, A = L·Lᵀ. Returns null when A is not positive definite.
 */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * n + k] as number) * (l[j * n + k] as number);
      if (i === j) {
        // relative pivot floor: a pivot this small means the columns are linearly dependent
        if (!(s > 1e-12 * Math.max(1, Math.abs(a[i * n + i] as number)))) return null;
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / (l[j * n + j] as number);
      }
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i] as number;
    for (let k = 0; k < i; k++) s -= (l[i * n + k] as number) * (z[k] as number);
    z[i] = s / (l[i * n + i] as number);
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i] as number;
    for (let k = i + 1; k < n; k++) s -= (l[k * n + i] as number) * (x[k] as number);
    x[i] = s / (l[i * n + i] as number);
  }
  return x;
}
