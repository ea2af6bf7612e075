/**
 * WGSL shared by every kernel of the webgpu backend: the bindings (one bind group layout for all pipelines), the
 * uniform Params block, and the per-element semantics of the descriptor — which (query, key) pairs are allowed
 * (lengths, causal/window with either alignment, boolean mask) and how a similarity becomes a logit (scale,
 * softcap, additive bias). Exactly the rules of crate/src/desc.rs and ts/reference/attention.ts.
 */
import { paramsStruct } from '../params.js';

/** Binding numbers of the one bind group layout (group 0). */
export const BINDING = { params: 0, q: 1, k: 2, v: 3, bias: 4, meta: 5, out: 6, aux: 7 } as const;
export type BindingName = keyof typeof BINDING;

/** Threads per workgroup of every kernel (WebGPU compatibility mode guarantees 128). */
export const WORKGROUP = 64;

/** `f16`: q, k, v are stored as f16 (shader-f16); every product and sum stays f32. */
export function commonWgsl(f16 = false): string {
  const el = f16 ? 'f16' : 'f32';
  return /* wgsl */ `${f16 ? 'enable f16;\n' : ''}
${paramsStruct()}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> QM: array<${el}>;
@group(0) @binding(2) var<storage, read> KM: array<${el}>;
@group(0) @binding(3) var<storage, read> VM: array<${el}>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;
// Per-batch query lengths [B], key lengths [B], ALiBi slopes [Hq] and the relative-bias table [Hq, L] (f32 bits,
// when given), then the mask bytes packed 4 to a word (little endian).
@group(0) @binding(5) var<storage, read> META: array<u32>;
@group(0) @binding(6) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(7) var<storage, read> AUX: array<f32>;

// Masked logits are NEG (finite, so NEG - NEG is 0, never NaN); anything at or below LIVE contributes nothing.
// LIVE sits where the wasm kernel's range ends (it works on logits · log2 e, which is −∞ below −f32::MAX / log2 e ≈
// −2.3587e38), so a bias of −1e38 or −2e38 is a finite logit on both backends, as in the float64 reference.
const NEG: f32 = -3.0e38;
const LIVE: f32 = -2.36e38;
const COSINE_EPS: f32 = 1e-12;

// Cosine similarity multiplies each row by a power of two before any product, chosen from the exponent of its
// largest |x| so that it lands in [1, 4): exact, and then neither Σx² (which overflows f32 from |x| ≈ 1.8e19) nor
// q·k (which underflows for two rows below ~1e-19) leaves f32's range. The factors cancel in q·k / (|q| |k|); the
// norm floor of x / max(|x|, 1e-12) becomes COSINE_EPS · 2^p. exp_bits: the biased exponent (0 for 0, 255 for ±∞ /
// NaN, whose rows stay non-finite); cos_pow: p for a row whose largest exponent is e; pow2: 2^n, 0 below 2^-126.
fn exp_bits(x: f32) -> u32 { return (bitcast<u32>(x) >> 23u) & 0xffu; }
fn cos_pow(e: u32) -> i32 { return clamp(127 - i32(e), -126, 127); }
fn pow2(n: i32) -> f32 { return select(0.0, bitcast<f32>(u32(clamp(n, -126, 127) + 127) << 23u), n >= -126); }

fn neg_inf() -> f32 { return bitcast<f32>(P.neg_inf_bits); } // 0xff800000, never a constant: see params.ts
fn nan() -> f32 { return bitcast<f32>(P.neg_inf_bits | 0x00400000u); } // a quiet NaN, from the uniform for the same reason
// NaN tested on the bits: WGSL lets compilers assume floats are never NaN, so x != x may fold to false. A NaN logit
// makes its row NaN (output and LSE), as in the float64 reference: NaN inputs reach exactly the rows they touch.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn ld_q(i: u32) -> f32 { return f32(QM[i]); }
fn ld_k(i: u32) -> f32 { return f32(KM[i]); }
fn ld_v(i: u32) -> f32 { return f32(VM[i]); }
fn q_len(b: u32) -> u32 { return META[b]; }
fn k_len(b: u32) -> u32 { return META[P.b + b]; }

// Global query gi may see global key gj: inside both lengths and inside the window around its diagonal
// (causal is win_right = 0; bottom-right alignment moves the diagonal by kLen - qLen).
fn pos_ok(gi: u32, gj: u32, ql: u32, kl: u32) -> bool {
  if (gi >= ql || gj >= kl) { return false; }
  let diag = i32(gi) + select(0, i32(kl) - i32(ql), P.bottom_right != 0u);
  if (P.win_left >= 0 && i32(gj) < diag - P.win_left) { return false; }
  if (P.win_right >= 0 && i32(gj) > diag + P.win_right) { return false; }
  return true;
}

// The boolean mask (broadcast through its strides; nonzero = attend) at local row i, local key j.
fn mask_ok(b: u32, h: u32, i: u32, j: u32) -> bool {
  if (P.has_mask == 0u) { return true; }
  let byte = P.mask_byte + b * P.m_sb + h * P.m_sh + i * P.m_sr + j;
  return ((META[byte >> 2u] >> ((byte & 3u) * 8u)) & 0xffu) != 0u;
}

// ALiBi's per-row shift R ≥ 0: the largest gj − diag any key of row gi may have by the structural rules (key length,
// right window; global, so the same for every key range and k_start). Without a causal mask, keys right of the
// diagonal get slope·(gj − diag) up to ~2000, and a logit formed in f32 at that size loses ~1e-4 to rounding, which
// softmax turns into relative error of the weights. Softmax is shift-invariant per row, so the kernels add
// slope·(gj − diag − R) instead, whose largest values are near 0 (causal rows have R = 0: unchanged bit for bit), and
// the LSE gets slope·R back when it is written for the caller (alibi_lse); partials and (max, sum) stay shifted.
fn alibi_r(gi: u32, ql: u32, kl: u32) -> i32 {
  let diag = i32(gi) + select(0, i32(kl) - i32(ql), P.bottom_right != 0u);
  var r = i32(kl) - 1 - diag;
  if (P.win_right >= 0) { r = min(r, P.win_right); }
  return max(r, 0);
}

// What a row's shifted LSE lacks: slope_h·R (0 without ALiBi).
fn alibi_lse(b: u32, h: u32, i: u32) -> f32 {
  if (P.has_alibi == 0u) { return 0.0; }
  return bitcast<f32>(META[P.alibi_at + h]) * f32(alibi_r(P.q_start + i, q_len(b), k_len(b)));
}

// similarity -> logit: scale, then softcap c·tanh(s/c), then the additive bias, then ALiBi slope_h·(gj − diag − R)
// (R: alibi_r), then the relative bias table[h, clamp(gj − diag + zero, 0, L − 1)]. NEG when it contributes nothing.
fn finish_logit(sim: f32, b: u32, h: u32, i: u32, j: u32) -> f32 {
  var s = sim * P.scale;
  if (P.softcap > 0.0) {
    // tanh saturates to 1 in f32 beyond 15; clamping keeps exp-based tanh implementations away from inf/inf.
    s = P.softcap * tanh(clamp(s / P.softcap, -15.0, 15.0));
  }
  if (P.has_bias != 0u) { s = s + BIAS[b * P.b_sb + h * P.b_sh + i * P.b_sr + j]; }
  if (P.has_alibi != 0u || P.rel_len != 0u) {
    let ql = q_len(b);
    let kl = k_len(b);
    let dist = i32(P.k_start + j) - (i32(P.q_start + i) + select(0, i32(kl) - i32(ql), P.bottom_right != 0u));
    if (P.has_alibi != 0u) { s = s + bitcast<f32>(META[P.alibi_at + h]) * f32(dist - alibi_r(P.q_start + i, ql, kl)); }
    if (P.rel_len != 0u) {
      let at = u32(clamp(dist + P.rel_zero, 0, i32(P.rel_len) - 1));
      s = s + bitcast<f32>(META[P.rel_at + h * P.rel_len + at]);
    }
  }
  if (s <= LIVE) { s = NEG; }
  return s;
}
`;
}
