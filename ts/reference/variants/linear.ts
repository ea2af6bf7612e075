/** Float64 reference of linear attention (Katharopoulos et al. 2020): φ(x) = elu(x) + 1,
 * o_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j) over the keys row i sees. */
import type { AttentionDescriptor } from '../../descriptor.js';
import { dot, emptyResult, row, weightedRows, type VariantReferenceResult } from './common.js';

export const elu1 = (x: Float64Array): Float64Array => x.map((t) => (t > 0 ? t + 1 : Math.exp(t)));

export function referenceLinear(d: AttentionDescriptor): VariantReferenceResult {
  const r = emptyResult(d);
  const group = d.hq / d.hkv;
  for (let b = 0; b < d.b; b++) {
    for (let h = 0; h < d.hq; h++) {
      const g = Math.floor(h / group);
      const phiK = Array.from({ length: d.nk }, (_, j) => elu1(row(d.k, b, g, j, d.dk)));
      const phiQ = Array.from({ length: d.nq }, (_, i) => elu1(row(d.q, b, h, i, d.dk)));
      weightedRows(d, r, b, h, g, (i, j) => dot(phiQ[i]!, phiK[j]!));
    }
  }
  return r;
}
