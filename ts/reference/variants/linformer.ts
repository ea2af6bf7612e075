/** Float64 reference of Linformer (Wang et al. 2020): K' = E·K, V' = F·V per (batch, kv head), then exact softmax
 * attention o_i = Σ_r softmax_r(scale · q_i·K'_r) V'_r over the projected rows. */
import type { AttentionDescriptor } from '../../descriptor.js';
import { dot, emptyResult, row, type VariantReferenceResult } from './common.js';

/** proj [rows, nk] times the [nk, width] rows of (b, g). */
function project(d: AttentionDescriptor, x: AttentionDescriptor['k'], width: number, proj: Float32Array, rows: number, b: number, g: number): Float64Array[] {
  const out = Array.from({ length: rows }, () => new Float64Array(width));
  for (let j = 0; j < d.nk; j++) {
    const xj = row(x, b, g, j, width);
    for (let r = 0; r < rows; r++) {
      const e = proj[r * d.nk + j]!;
      for (let c = 0; c < width; c++) out[r]![c]! += e * xj[c]!;
    }
  }
  return out;
}

export function referenceLinformer(d: AttentionDescriptor, e: Float32Array, f: Float32Array, rows: number): VariantReferenceResult {
  const r = emptyResult(d);
  const group = d.hq / d.hkv;
  for (let b = 0; b < d.b; b++) {
    for (let g = 0; g < d.hkv; g++) {
      const kp = project(d, d.k, d.dk, e, rows, b, g);
      const vp = project(d, d.v, d.dv, f, rows, b, g);
      for (let h = g * group; h < (g + 1) * group; h++) {
        for (let i = 0; i < d.nq; i++) {
          const q = row(d.q, b, h, i, d.dk);
          const s = kp.map((k) => d.scale * dot(q, k));
          const m = Math.max(...s);
          const p = s.map((x) => Math.exp(x - m));
          const l = p.reduce((a, x) => a + x, 0);
          const o = b * d.o.batch + h * d.o.head + i * d.o.row;
          for (let c = 0; c < d.dv; c++) {
            let acc = 0;
            for (let t = 0; t < rows; t++) acc += p[t]! * vp[t]![c]!;
            r.output[o + c] = acc / l;
          }
        }
      }
    }
  }
  return r;
}
