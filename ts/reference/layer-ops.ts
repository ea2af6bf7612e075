/**
 * Float64 references of the layer's building blocks (the oracles of test/layer*.test.ts): plain loops over the
 * definitions, no blocking.
 */

/** C[i, j] = Σ_p A[i, p]·B(p, j) + bias[j], B(p, j) = b[p·n + j] or, with `transB`, b[j·k + p]. Row-major [m, n]. */
export function referenceMatmul(
  a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number,
  options: { transB?: boolean; bias?: ArrayLike<number> | undefined } = {},
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = options.bias ? options.bias[j]! : 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * (options.transB ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = s;
    }
  }
  return out;
}
