//! The variant descriptor: the record the SDK (ts/variants/descriptor.ts) writes into wasm memory for
//! `wa_variant_attention`. Separate from the exact kernel's `RawDesc`; same conventions: 4-byte words, element
//! strides, byte pointers (0 = absent). `VAR_MAGIC` and `VAR_WORDS` are checked by the SDK before its first call.
//!
//! Semantics (float64 definitions in ts/reference/variants/), for batch b, query head h (kv head g = h / (hq / hkv)),
//! query row i, keys j < nk:
//! - linear: φ(x) = elu(x) + 1;  o_i = Σ_j (φ(q_i)·φ(k_j)) v_j / Σ_j φ(q_i)·φ(k_j)
//! - performer: φ(x) = exp(ω_a·x' − |x'|²/2) for a < features, x' = x·√scale, ω_a row a of `proj_a`
//!   ([features, dk]); o_i as for linear. `scale` ≥ 0.
//! - linformer: K' = E·K_{b,g}, V' = F·V_{b,g} (E = `proj_a`, F = `proj_b`, both [features, nk]);
//!   o_i = Σ_r softmax_r(scale · q_i·K'_r) V'_r over r < features.
//! - lsh: Reformer shared-QK LSH attention (nq = nk, hkv = hq, `k` not read): `features` buckets (even),
//!   `rounds` rounds of rotations `proj_a` ([rounds, dk, features / 2]), chunks of `chunk` sorted
//!   positions; the full definition is in variants/lsh.rs. Causal: key j only for queries i ≥ j.
//!
//! Causal (linear, performer): the sums run over j ≤ i + offset, offset = 0 (top-left) or nk − nq (bottom-right);
//! a row with no such key (or a zero denominator) outputs 0.

use crate::desc::Operand;

/// "WAV1" — bumped whenever the word layout changes.
pub const VAR_MAGIC: u32 = 0x5741_5631;
/// Number of 4-byte words in a `VarDesc`.
pub const VAR_WORDS: usize = 32;

/// `kind` values.
pub const KIND_LINEAR: u32 = 1;
pub const KIND_PERFORMER: u32 = 2;
pub const KIND_LINFORMER: u32 = 3;
pub const KIND_LSH: u32 = 4;

/// `flags` bits.
pub const FLAG_CAUSAL: u32 = 1;
/// With `FLAG_CAUSAL`: the diagonal is bottom-right aligned (query i sees keys j ≤ i + nk − nq).
pub const FLAG_BOTTOM_RIGHT: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VarDesc {
    pub magic: u32,
    pub kind: u32,
    pub flags: u32,
    pub b: u32,
    pub hq: u32,
    pub hkv: u32,
    pub nq: u32,
    pub nk: u32,
    pub dk: u32,
    pub dv: u32,
    pub q: Operand,
    pub k: Operand,
    pub v: Operand,
    pub o: Operand,
    pub scale: f32,
    /// Performer: number of random features m; linformer: projected rows; lsh: buckets; linear: must be 0.
    pub features: u32,
    /// Performer: f32 [features, dk]; linformer: E, f32 [features, nk]; lsh: rotations; linear: must be 0.
    pub proj_a: u32,
    /// Linformer: F, f32 [features, nk]; others: must be 0.
    pub proj_b: u32,
    /// LSH: hash rounds (1..=MAX_ROUNDS); others: must be 0.
    pub rounds: u32,
    /// LSH: chunk length (1..=MAX_FEATURES); others: must be 0.
    pub chunk: u32,
}

const _: () = assert!(core::mem::size_of::<VarDesc>() == VAR_WORDS * 4);
