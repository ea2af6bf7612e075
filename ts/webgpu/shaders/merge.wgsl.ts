/**
 * Merge of the decode kernel's key-range partials by log-sum-exp: one thread per output row reads the n_splits
 * partial (normalised output, LSE) pairs from AUX and writes O = Σ exp(lse_s − LSE)·O_s, LSE = log Σ exp(lse_s).
 * A row whose every partial is empty (LSE −∞) gets zeros and LSE −∞; a row with a NaN partial LSE is NaN.
 */
import { WORKGROUP, commonWgsl } from './common.wgsl.js';

export function mergeWgsl(): string {
  return /* wgsl */ `${commonWgsl()}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = (wg.y * P.grid_x + wg.x) * ${WORKGROUP}u + t;
  if (row >= P.rows) { return; }
  let i = row % P.nq;
  let h = (row / P.nq) % P.hq;
  let b = row / (P.nq * P.hq);
  let obase = b * P.o_sb + h * P.o_sh + i * P.o_sr;

  var mx = NEG;
  var row_nan = false;
  for (var s = 0u; s < P.n_splits; s++) {
    let x = AUX[P.aux_lse + s * P.rows + row];
    if (is_nan(x)) { row_nan = true; }
    if (x > LIVE) { mx = max(mx, x); }
  }
  if (row_nan) { // a key range saw a NaN logit: the row is NaN, as a single range would make it
    for (var col = 0u; col < P.dv; col++) { OUT[obase + col] = nan(); }
    if (P.want_lse != 0u) { OUT[P.lse_base + row] = nan(); }
    return;
  }
  if (mx <= LIVE) {
    for (var col = 0u; col < P.dv; col++) { OUT[obase + col] = 0.0; }
    if (P.want_lse != 0u) { OUT[P.lse_base + row] = neg_inf(); }
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < P.n_splits; s++) {
    let x = AUX[P.aux_lse + s * P.rows + row];
    if (x > LIVE) { sum += exp(x - mx); }
  }
  let lse = mx + log(sum);
  for (var col = 0u; col < P.dv; col++) {
    var acc = 0.0;
    for (var s = 0u; s < P.n_splits; s++) {
      let x = AUX[P.aux_lse + s * P.rows + row];
      if (x > LIVE) { acc += exp(x - lse) * AUX[(s * P.rows + row) * P.dv + col]; }
    }
    OUT[obase + col] = acc;
  }
  if (P.want_lse != 0u) { OUT[P.lse_base + row] = lse; }
}
`;
}
