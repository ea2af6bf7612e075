/** Float64 reference of Performer FAVOR+ (Choromanski et al. 2021) with the exact projection the kernel gets:
 * φ(x)_a = exp(ω_a·x' − |x'|²/2), x' = x·√scale, then o_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j). No shifts:
 * in float64 the features of test inputs stay far from overflow, and the kernel's shifts cancel in the ratio. */
import type { AttentionDescriptor } from '../../descriptor.js';
import { dot, emptyResult, row, weightedRows, type VariantReferenceResult } from './common.js';

export function favorFeatures(x: Float64Array, projection: Float32Array, features: number, scale: number): Float64Array {
  const xs = x.map((t) => t * Math.sqrt(scale));
  const half = dot(xs, xs) / 2;
  return Float64Array.from({ length: features }, (_, a) => Math.exp(dot(xs, projection.subarray(a * x.length, (a + 1) * x.length)) - half));
}

export function referencePerformer(d: AttentionDescriptor, projection: Float32Array, features: number): VariantReferenceResult {
  const r = emptyResult(d);
  const group = d.hq / d.hkv;
  const phi = (x: Float64Array): Float64Array => favorFeatures(x, projection, features, d.scale);
  for (let b = 0; b < d.b; b++) {
    for (let h = 0; h < d.hq; h++) {
      const g = Math.floor(h / group);
      const phiK = Array.from({ length: d.nk }, (_, j) => phi(row(d.k, b, g, j, d.dk)));
      const phiQ = Array.from({ length: d.nq }, (_, i) => phi(row(d.q, b, h, i, d.dk)));
      weightedRows(d, r, b, h, g, (i, j) => dot(phiQ[i]!, phiK[j]!));
    }
  }
  return r;
}
