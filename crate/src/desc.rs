//! The attention descriptor: the one record that flows from the TypeScript SDK to the kernels.
//!
//! It is written by `ts/core/descriptor.ts` as 4-byte words into wasm memory; the word order here and there must
//! match (`DESC_WORDS` and `DESC_MAGIC` are checked by the SDK at load time). Every integer is a u32 unless noted;
//! strides and lengths count elements (f32 or u8), not bytes; pointers are byte offsets into wasm memory, 0 = absent.

/// "WAT4" — bumped whenever the word layout changes (WAT2: ALiBi slopes; WAT3: relative-position bias table;
/// WAT4: block mask for structured sparsity).
pub const DESC_MAGIC: u32 = 0x5741_5434;
/// Number of 4-byte words in a descriptor.
pub const DESC_WORDS: usize = 68;

/// `similarity` values.
pub const SIM_DOT: u32 = 0;
pub const SIM_COSINE: u32 = 1;
/// `align` values: where the diagonal of causal / window masks sits.
/// top-left: query i's diagonal key is i. bottom-right: it is i + (keyLen − queryLen) (per batch lengths).
pub const ALIGN_TOP_LEFT: u32 = 0;
pub const ALIGN_BOTTOM_RIGHT: u32 = 1;
/// `win_left` / `win_right` value meaning "unbounded on that side".
pub const WINDOW_UNBOUNDED: i32 = -1;
/// `flags`: report lse − alibi[h]·R, R = `crate::alibi::row_shift` (for key-range partials merged by their LSEs).
pub const FLAG_LSE_ALIBI_SHIFTED: u32 = 1;

/// Strides of a 4-D operand indexed [batch, head, row, col]; the column stride is always 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strides {
    pub batch: u32,
    pub head: u32,
    pub row: u32,
}

/// An operand: byte pointer into wasm memory plus strides. A stride of 0 broadcasts over that dimension
/// (used by mask and bias; q/k/v/o must have nonzero row strides).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Operand {
    pub ptr: u32,
    pub strides: Strides,
}

/// Semantics (shared with the float64 reference in `ts/reference/attention.ts`).
/// For batch b, query head h (its kv head is h / (hq / hkv)), local query row i < nq, local key j < nk, with global
/// positions gi = q_start + i and gj = k_start + j:
///   qLen = q_lens[b] if given else (nq_full or nq);  kLen = k_lens[b] if given else (nk_full or nk)
///   diag = gi + (align == bottom-right ? kLen − qLen : 0)
///   allowed(i, j) = gi < qLen and gj < kLen
///                   and (win_left  < 0 or gj ≥ diag − win_left)
///                   and (win_right < 0 or gj ≤ diag + win_right)
///                   and (no mask or mask[b,h,i,j] != 0)            (causal is just win_right = 0)
///   sim = dot: q·k;  cosine: (q / max(|q|, 1e-12)) · (k / max(|k|, 1e-12))
///   s = sim · scale;  if softcap > 0: s = softcap · tanh(s / softcap);  if bias: s += bias[b,h,i,j]
///   if alibi: s += alibi[h] · (gj − diag)            (ALiBi: a linear bias per query head, no N×N array)
///   if rel:   s += rel[h · rel_len + clamp(gj − diag + rel_zero, 0, rel_len − 1)]   (T5-style table, no N×N array)
///   if sp_blocks > 0 (structured sparsity, `crate::sparse`), allowed(i, j) also needs sparse(gi, gj) = the OR of
///     window:  sp_window ≥ 0 and |sd − gj| ≤ sp_window·sp_dilation and (sd − gj) mod sp_dilation = 0,
///              sd = gi + (align == bottom-right ? nk_full − nq_full : 0)  (global counts, not per-batch lengths)
///     globals: gi or gj in sp_globals;   layout: layout[gi / bq, gj / bk] != 0;   csr: gj in csr row gi
///   and only the key blocks listed for query block gi / 32 are visited (kind FULL: sparse(gi, gj) holds on the
///   whole block; PARTIAL: it is evaluated per element).
///   o[b,h,i,:] = Σ_j softmax_j(s) v[b,kvh,j,:] over allowed j;  lse[b,h,i] = ln Σ_{allowed j} exp(s_j)
///   a row with no allowed key (padding rows included) gives o = 0 and lse = −∞, never NaN.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RawDesc {
    pub magic: u32,
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
    /// 0 = off; otherwise the cap c of c·tanh(s/c).
    pub softcap: f32,
    pub similarity: u32,
    pub align: u32,
    pub win_left: i32,
    pub win_right: i32,
    /// u32[b] of valid query rows per batch, 0 = all rows valid.
    pub q_lens_ptr: u32,
    /// u32[b] of valid keys per batch, 0 = all keys valid.
    pub k_lens_ptr: u32,
    /// u8 operand, nonzero = attend. Indexed by local (i, j).
    pub mask: Operand,
    /// f32 operand added to the logits. Indexed by local (i, j).
    pub bias: Operand,
    /// f32 [b, hq, nq] contiguous, 0 = not wanted.
    pub lse_ptr: u32,
    /// f32 [b, hq, nq, nk] contiguous, 0 = not wanted.
    pub weights_ptr: u32,
    /// Global index of local query row 0 and key 0 (for splitting work: the structural masks use global positions).
    pub q_start: u32,
    pub k_start: u32,
    /// Global query / key counts used for bottom-right alignment when no per-batch lengths are given; 0 = nq / nk.
    pub nq_full: u32,
    pub nk_full: u32,
    /// FLAG_LSE_ALIBI_SHIFTED or 0.
    pub flags: u32,
    /// Reserved, must be 0.
    pub reserved: u32,
    /// f32[hq] ALiBi slopes (finite), 0 = no ALiBi.
    pub alibi_ptr: u32,
    /// f32[hq, rel_len] relative-position bias table, 0 = none (then rel_len and rel_zero must be 0).
    pub rel_ptr: u32,
    /// Entries per head (≥ 1).
    pub rel_len: u32,
    /// Index of distance 0 (< rel_len).
    pub rel_zero: u32,
    /// Block mask: query blocks (ceil(nq_full / 32)); 0 = no structured sparsity (then every sp_* word is 0).
    pub sp_blocks: u32,
    /// u32[sp_blocks + 1] row pointers into sp_idx / sp_kind.
    pub sp_row_ptr: u32,
    /// u32[sp_nnz] global key block indices (128 keys each), strictly increasing per row.
    pub sp_idx: u32,
    /// u8[sp_nnz]: 1 = FULL, 2 = PARTIAL.
    pub sp_kind: u32,
    pub sp_nnz: u32,
    /// Dilated window half-width, −1 = none; dilation ≥ 1.
    pub sp_window: i32,
    pub sp_dilation: u32,
    /// u32[sp_globals_len] global tokens, strictly increasing.
    pub sp_globals: u32,
    pub sp_globals_len: u32,
    /// u8[ceil(nq_full / bq), ceil(nk_full / bk)] block layout, 0 = none (then bq = bk = 0).
    pub sp_layout: u32,
    pub sp_layout_bq: u32,
    pub sp_layout_bk: u32,
    /// u32[nq_full + 1] CSR row pointers and u32[sp_csr_nnz] sorted column indices, 0 = none.
    pub sp_csr_row_ptr: u32,
    pub sp_csr_col: u32,
    pub sp_csr_nnz: u32,
    /// Reserved, must be 0.
    pub sp_reserved: u32,
}

const _: () = assert!(core::mem::size_of::<RawDesc>() == DESC_WORDS * 4);
