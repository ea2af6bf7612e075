/**
 * Merge of the decode kernel's key-range partials by log-sum-exp: one thread per output element reads the n_splits
 * partials (normalised output O_s, running max m_s, sum l_s) from AUX and writes, with M = max m_s and
 * L = Σ l_s·exp(m_s − M): O = Σ (l_s·exp(m_s − M) / L)·O_s, LSE = M + log L.
 * A row whose every partial is empty (l_s = 0) gets zeros and LSE −∞; a row with a NaN partial max is NaN.
 */
import { WORKGROUP, commonWgsl } from './common.wgsl.js';

export function mergeWgsl(): string {
  return /* wgsl */ `${commonWgsl()}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // One thread per (row, output column): each walks the n_splits ranges three times and no more (a thread per row
  // walked n_splits × Dv partials, past what llvmpipe lets one invocation loop: see plan.ts).
  let idx = (wg.y * P.grid_x + wg.x) * ${WORKGROUP}u + t;
  if (idx >= P.rows * P.dv) { return; }
  let row = idx / P.dv;
  let col = idx % P.dv;
  let i = row % P.nq;
  let h = (row / P.nq) % P.hq;
  let b = row / (P.nq * P.hq);
  let at = b * P.o_sb + h * P.o_sh + i * P.o_sr + col;
  let first = col == 0u; // writes the row's LSE and (max, sum)

  // Range s: running max m_s at aux_lse + s·rows + row, sum l_s one block of rows further (l_s = 0: no allowed key).
  let aux_l = P.aux_lse + P.n_splits * P.rows;
  var mx = NEG;
  var row_nan = false;
  for (var s = 0u; s < P.n_splits; s++) {
    let m_s = AUX[P.aux_lse + s * P.rows + row];
    if (is_nan(m_s)) { row_nan = true; }
    if (AUX[aux_l + s * P.rows + row] > 0.0) { mx = max(mx, m_s); }
  }
  if (row_nan) { // a key range saw a NaN logit: the row is NaN, as a single range would make it
    OUT[at] = nan();
    if (first && P.want_lse != 0u) { OUT[P.lse_base + row] = nan(); }
    if (first && P.ml_base != 0u) { OUT[P.ml_base + 2u * row] = nan(); OUT[P.ml_base + 2u * row + 1u] = nan(); }
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < P.n_splits; s++) {
    let l_s = AUX[aux_l + s * P.rows + row];
    if (l_s > 0.0) { sum += l_s * exp(AUX[P.aux_lse + s * P.rows + row] - mx); }
  }
  if (!(sum > 0.0)) {
    OUT[at] = 0.0;
    if (first && P.want_lse != 0u) { OUT[P.lse_base + row] = neg_inf(); }
    if (first && P.ml_base != 0u) { OUT[P.ml_base + 2u * row] = NEG; OUT[P.ml_base + 2u * row + 1u] = 0.0; }
    return;
  }
  var acc = 0.0;
  for (var s = 0u; s < P.n_splits; s++) {
    let l_s = AUX[aux_l + s * P.rows + row];
    if (l_s > 0.0) { acc += (l_s * exp(AUX[P.aux_lse + s * P.rows + row] - mx) / sum) * AUX[(s * P.rows + row) * P.dv + col]; }
  }
  OUT[at] = acc;
  if (first && P.want_lse != 0u) { OUT[P.lse_base + row] = (mx + log(sum)) + alibi_lse(b, h, i); } // partials are shifted
  if (first && P.ml_base != 0u) { OUT[P.ml_base + 2u * row] = mx; OUT[P.ml_base + 2u * row + 1u] = sum; } // for the weights
}
`;
}
