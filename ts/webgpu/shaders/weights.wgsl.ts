/**
 * The softmax weights [B, Hq, Nq, Nk] (only when the caller asks for them: the one N×N output). One thread per
 * (row, key): the attention kernel (or the decode merge) has left each row's running max m and sum l in AUX at
 * ml_base, so a weight is exp(s − m) / l (with ALiBi, s and m both of the shifted logits: see alibi_r) — 0 for keys
 * that are not allowed and for rows with no allowed key, NaN for the allowed keys of a row with a NaN logit. No thread loops over the keys: some drivers (Mesa's llvmpipe /
 * lavapipe in Debian 12) stop a shader invocation's loops after 65535 iterations in all, which the former one thread
 * per row (two passes over Nk keys of Dk columns) reached from Nk·Dk ≈ 30 000 on, silently leaving weights unwritten.
 */
import { WORKGROUP, commonWgsl } from './common.wgsl.js';

export function weightsWgsl(f16 = false): string {
  return /* wgsl */ `${commonWgsl(f16)}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let idx = (wg.y * P.grid_x + wg.x) * ${WORKGROUP}u + t;
  if (idx >= P.rows * P.nk) { return; }
  let row = idx / P.nk;
  let j = idx % P.nk;
  let i = row % P.nq;
  let h = (row / P.nq) % P.hq;
  let b = row / (P.nq * P.hq);
  let kvh = h / P.group;
  let m = AUX[P.ml_base + 2u * row];
  let l = AUX[P.ml_base + 2u * row + 1u];
  var x = NEG;
  if (pos_ok(P.q_start + i, P.k_start + j, q_len(b), k_len(b)) && mask_ok(b, h, i, j)) {
    let qo = b * P.q_sb + h * P.q_sh + i * P.q_sr;
    let ko = b * P.k_sb + kvh * P.k_sh + j * P.k_sr;
    var dot = 0.0;
    var bad = false;
    if (P.cosine != 0u) { // both rows scaled by powers of two first (cos_pow in common.wgsl.ts)
      var eq = 0u;
      var ek = 0u;
      for (var c = 0u; c < P.dk; c++) {
        eq = max(eq, exp_bits(ld_q(qo + c)));
        ek = max(ek, exp_bits(ld_k(ko + c)));
      }
      let qs = pow2(cos_pow(eq));
      let ks = pow2(cos_pow(ek));
      var qn = 0.0;
      var kn = 0.0;
      for (var c = 0u; c < P.dk; c++) {
        let qv = ld_q(qo + c) * qs;
        let kv = ld_k(ko + c) * ks;
        dot += qv * kv;
        qn += qv * qv;
        kn += kv * kv;
      }
      bad = is_nan(dot);
      dot = dot / (max(sqrt(qn), COSINE_EPS * qs) * max(sqrt(kn), COSINE_EPS * ks));
    } else {
      for (var c = 0u; c < P.dk; c++) { dot += ld_q(qo + c) * ld_k(ko + c); }
      bad = is_nan(dot);
    }
    x = finish_logit(dot, b, h, i, j);
    if (bad) { x = nan(); }
  }
  let row_nan = is_nan(m);
  OUT[idx] = select(select(0.0, exp(x - m) / l, x > LIVE && l > 0.0), nan(), row_nan && (x > LIVE || is_nan(x)));
}
`;
}
