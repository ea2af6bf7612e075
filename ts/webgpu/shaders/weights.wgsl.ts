/**
 * The softmax weights [B, Hq, Nq, Nk] (only when the caller asks for them: the one N×N output). One thread per
 * query row: a first pass over the keys keeps the online (max, sum), a second writes exp(s − max) / sum, 0 for
 * keys that are not allowed and for rows with no allowed key; NaN for the allowed keys of a row with a NaN logit.
 */
import { WORKGROUP, commonWgsl } from './common.wgsl.js';

export function weightsWgsl(f16 = false): string {
  return /* wgsl */ `${commonWgsl(f16)}
fn logit_at(b: u32, h: u32, kvh: u32, i: u32, j: u32, gi: u32, ql: u32, kl: u32, qn: f32) -> f32 {
  if (!pos_ok(gi, P.k_start + j, ql, kl) || !mask_ok(b, h, i, j)) { return NEG; }
  let qo = b * P.q_sb + h * P.q_sh + i * P.q_sr;
  let ko = b * P.k_sb + kvh * P.k_sh + j * P.k_sr;
  var dot = 0.0;
  var kn = 0.0;
  for (var c = 0u; c < P.dk; c++) {
    let kv = ld_k(ko + c);
    dot += ld_q(qo + c) * kv;
    kn += kv * kv;
  }
  if (is_nan(dot)) { return nan(); }
  if (P.cosine != 0u) { dot = dot / (max(sqrt(qn), COSINE_EPS) * max(sqrt(kn), COSINE_EPS)); }
  return finish_logit(dot, b, h, i, j);
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = (wg.y * P.grid_x + wg.x) * ${WORKGROUP}u + t;
  if (row >= P.rows) { return; }
  let i = row % P.nq;
  let h = (row / P.nq) % P.hq;
  let b = row / (P.nq * P.hq);
  let kvh = h / P.group;
  let gi = P.q_start + i;
  let ql = q_len(b);
  let kl = k_len(b);
  var qn = 0.0;
  let qo = b * P.q_sb + h * P.q_sh + i * P.q_sr;
  for (var c = 0u; c < P.dk; c++) { let x = ld_q(qo + c); qn += x * x; }

  var m = NEG;
  var l = 0.0;
  var row_nan = false;
  for (var j = 0u; j < P.nk; j++) {
    let x = logit_at(b, h, kvh, i, j, gi, ql, kl, qn);
    if (is_nan(x)) { row_nan = true; }
    if (x > LIVE) {
      if (x > m) { l = l * exp(m - x) + 1.0; m = x; } else { l += exp(x - m); }
    }
  }
  for (var j = 0u; j < P.nk; j++) {
    let x = logit_at(b, h, kvh, i, j, gi, ql, kl, qn);
    // A row with a NaN logit: NaN for every key it may attend, 0 elsewhere (as in the reference).
    let w = select(select(0.0, exp(x - m) / l, x > LIVE && l > 0.0), nan(), row_nan && (x > LIVE || is_nan(x)));
    OUT[row * P.nk + j] = w;
  }
}
`;
}
