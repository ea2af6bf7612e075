/** Shared pieces of the float64 variant references: row access through strides, the causal key prefix, and the
 * "kernelised attention" ratio o_i = Σ_j w_ij v_j / Σ_j w_ij that linear attention and Performer share. */
import { ALIGN_BOTTOM_RIGHT, type AttentionDescriptor, type Strides, type StridedView } from '../../descriptor.js';

export interface VariantReferenceResult {
  /** [B, Hq, Nq, Dv] in BHND or [B, Nq, Hq, Dv] in BNHD (the descriptor's output strides `d.o`). */
  output: Float64Array;
  shape: [number, number, number, number];
}

const at = (s: Strides, b: number, h: number, row: number): number => b * s.batch + h * s.head + row * s.row;

/** Row (b, h, row) of a strided operand as float64. */
export function row(x: StridedView<Float32Array>, b: number, h: number, r: number, len: number): Float64Array {
  const from = at(x.strides, b, h, r);
  return Float64Array.from(x.data.subarray(from, from + len));
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Keys query row i may see: all Nk, or under causal the prefix j ≤ i + offset (offset 0 top-left, Nk − Nq
 * bottom-right), clamped to [0, Nk]. */
export function keyCount(d: AttentionDescriptor, i: number): number {
  if (d.winRight !== 0) return d.nk;
  const offset = d.align === ALIGN_BOTTOM_RIGHT ? d.nk - d.nq : 0;
  return Math.max(0, Math.min(d.nk, i + offset + 1));
}

export function emptyResult(d: AttentionDescriptor): VariantReferenceResult {
  return {
    output: new Float64Array(d.b * d.hq * d.nq * d.dv),
    shape: d.layout === 'BNHD' ? [d.b, d.nq, d.hq, d.dv] : [d.b, d.hq, d.nq, d.dv],
  };
}

/** Writes o_i = Σ_j w(i, j) v_j / Σ_j w(i, j) over the keys row i sees (0 when the sum of weights is 0). */
export function weightedRows(
  d: AttentionDescriptor, into: VariantReferenceResult, b: number, h: number, g: number,
  weight: (i: number, j: number) => number,
): void {
  for (let i = 0; i < d.nq; i++) {
    const num = new Float64Array(d.dv);
    let den = 0;
    for (let j = 0; j < keyCount(d, i); j++) {
      const w = weight(i, j);
      den += w;
      const vj = row(d.v, b, g, j, d.dv);
      for (let c = 0; c < d.dv; c++) num[c]! += w * vj[c]!;
    }
    const o = at(d.o, b, h, i);
    for (let c = 0; c < d.dv; c++) into.output[o + c] = den === 0 ? 0 : num[c]! / den;
  }
}
