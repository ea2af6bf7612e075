/** Float64 reference of Performer FAVOR+ (Choromanski et al. 2021) with the exact projection the kernel gets:
 * φ(x)_a = exp(pre_a(x)), pre_a(x) = ω_a·x' − |x'|²/2, x' = x·√scale, then o_i = Σ_j w_ij v_j / Σ_j w_ij with
 * w_ij = φ(q_i)·φ(k_j) = Σ_a exp(pre_a(q_i) + pre_a(k_j)).
 *
 * Evaluated in log space: a row's weights are all divided by exp(T_i), T_i the largest pre_a(q_i) + pre_a(k_j) over
 * the features and the keys the row sees, which cancels in the ratio. Then its largest term is exactly 1, every term
 * is ≤ 1, and a term can only underflow when it is below e^−745 of that one, so no row is 0/0. Plain exp(pre) is not
 * enough: for Gaussian inputs with σ ≳ 10 (D = 64) every pre_a is below −745 and all features underflow to 0. Shifting
 * queries and keys separately is not enough either: under causal masking a row's visible keys can lie far below a
 * shift taken over all keys, and the two factors then overflow and underflow (∞·0). */
import type { AttentionDescriptor } from '../../descriptor.js';
import { dot, emptyResult, keyCount, row, weightedRows, type VariantReferenceResult } from './common.js';

/** pre_a(x) = ω_a·x' − |x'|²/2 for each feature a (the logarithms of the FAVOR+ features). */
export function favorLogFeatures(x: Float64Array, projection: Float32Array, features: number, scale: number): Float64Array {
  const xs = x.map((t) => t * Math.sqrt(scale));
  const half = dot(xs, xs) / 2;
  return Float64Array.from({ length: features }, (_, a) => dot(xs, projection.subarray(a * x.length, (a + 1) * x.length)) - half);
}

export function referencePerformer(d: AttentionDescriptor, projection: Float32Array, features: number): VariantReferenceResult {
  const r = emptyResult(d);
  const group = d.hq / d.hkv;
  const pre = (x: Float64Array): Float64Array => favorLogFeatures(x, projection, features, d.scale);
  for (let b = 0; b < d.b; b++) {
    for (let h = 0; h < d.hq; h++) {
      const g = Math.floor(h / group);
      const preK = Array.from({ length: d.nk }, (_, j) => pre(row(d.k, b, g, j, d.dk)));
      // topK[n][a]: the largest pre_a over keys 0..n−1, so that a row's shift only counts the keys it sees.
      const topK = [new Float64Array(features).fill(-Infinity)];
      preK.forEach((p, j) => topK.push(topK[j]!.map((t, a) => Math.max(t, p[a]!))));
      // Row i's pre_a(q_i) − T_i (−∞ when it sees no key, or no key with a finite term: its weights are then 0).
      const shiftedQ = Array.from({ length: d.nq }, (_, i) => {
        const p = pre(row(d.q, b, h, i, d.dk));
        const top = Math.max(...p.map((t, a) => t + topK[keyCount(d, i)]![a]!));
        return top === -Infinity ? null : p.map((t) => t - top);
      });
      weightedRows(d, r, b, h, g, (i, j) => {
        const u = shiftedQ[i];
        if (!u) return 0;
        const k = preK[j]!;
        let w = 0;
        for (let a = 0; a < features; a++) w += Math.exp(u[a]! + k[a]!);
        return w;
      });
    }
  }
  return r;
}
