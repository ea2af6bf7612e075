/**
 * Float64 reference of decoding (the semantics of crate/src/decode/desc.rs), written with plain loops from the full
 * key/value history: the oracle of the decode tests. Query i of Nq sits at position end − Nq + i; key p is allowed
 * iff first ≤ p < end, (not causal or p ≤ qp) and (no window or p ≥ qp − left); a sink adds exp(sink) to the
 * denominator only.
 */
export interface DecodeReferenceInput {
  /** [Hq, Nq, Dk] (BHND). */
  q: ArrayLike<number>;
  hq: number;
  nq: number;
  /** [Hkv, N, Dk] and [Hkv, N, Dv]: the keys and values at positions first … first + N − 1. */
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  hkv: number;
  dk: number;
  dv: number;
  /** Position of row 0 of k / v. Default 0. */
  first?: number;
  scale?: number;
  /** Default true. */
  causal?: boolean;
  /** Window left; undefined = unbounded. */
  left?: number;
  /** [Hq] natural-log sink logits. */
  sinks?: ArrayLike<number>;
}

export interface DecodeReferenceResult {
  /** [Hq, Nq, Dv]. */
  output: Float64Array;
  /** [Hq, Nq]; −∞ for a row with no key and no sink. */
  lse: Float64Array;
}

export function referenceDecode(x: DecodeReferenceInput): DecodeReferenceResult {
  const { hq, nq, hkv, dk, dv } = x;
  const n = x.k.length / (hkv * dk);
  const first = x.first ?? 0;
  const end = first + n;
  const scale = x.scale ?? 1 / Math.sqrt(dk);
  const causal = x.causal ?? true;
  const output = new Float64Array(hq * nq * dv);
  const lse = new Float64Array(hq * nq);
  const logits = new Float64Array(n);
  for (let h = 0; h < hq; h++) {
    const g = Math.floor(h / (hq / hkv));
    for (let i = 0; i < nq; i++) {
      const qp = end - nq + i;
      let max = x.sinks ? x.sinks[h]! : -Infinity;
      for (let j = 0; j < n; j++) {
        const p = first + j;
        if ((causal && p > qp) || (x.left !== undefined && p < qp - x.left)) {
          logits[j] = -Infinity;
          continue;
        }
        let s = 0;
        for (let c = 0; c < dk; c++) s += x.q[(h * nq + i) * dk + c]! * x.k[(g * n + j) * dk + c]!;
        logits[j] = s * scale;
        if (logits[j]! > max) max = logits[j]!;
      }
      const row = (h * nq + i) * dv;
      let l = x.sinks ? Math.exp(x.sinks[h]! - max) : 0;
      for (let j = 0; j < n; j++) {
        if (logits[j] === -Infinity) continue;
        const e = Math.exp(logits[j]! - max);
        l += e;
        for (let c = 0; c < dv; c++) output[row + c]! += e * x.v[(g * n + j) * dv + c]!;
      }
      if (l === 0 || max === -Infinity) {
        output.fill(0, row, row + dv);
        lse[h * nq + i] = -Infinity;
        continue;
      }
      for (let c = 0; c < dv; c++) output[row + c]! /= l;
      lse[h * nq + i] = max + Math.log(l);
    }
  }
  return { output, lse };
}
