//! The decode descriptor: the record `ts/decode/descriptor.ts` writes into wasm memory for `wa_decode`, separate from
//! the exact kernel's `RawDesc`. Words are u32 unless noted; pointers are byte offsets into wasm memory (0 = absent),
//! strides count elements.
//!
//! Semantics (shared with the float64 reference in `ts/decode/reference.ts`). The cache holds the tokens at absolute
//! positions [start, end). Contiguous (page_size = 0): position p lives in slot p mod capacity of K [hkv, capacity, dk]
//! and V [hkv, capacity, dv] (a linear cache never wraps: end ≤ capacity; a ring buffer does). Paged (page_size > 0):
//! K is a pool of `capacity` pages [hkv, capacity, page_size, dk] (V likewise) and position p lives in page
//! page_table[p / page_size] at offset p mod page_size (vLLM / FlashAttention `block_table`), so many sequences share
//! one pool without copying. Query row i < nq of query head h sits at position qp = q_end − nq + i, where q_end = end
//! when the field is 0 (the last nq tokens: bottom-right alignment), and reads kv head h / (hq / hkv). Key p is
//! allowed iff
//!   start ≤ p < end  and  (not causal or p ≤ qp)  and  (win_left < 0 or p ≥ qp − win_left).
//! k = dtype f32: K[p]; f16: the half value; int8: K[p] · k_scale[kvh, slot] (V likewise).
//! s_p = scale · q·k_p;  o = Σ_p softmax(s)_p v_p,  where the softmax denominator also holds exp(sinks[h]) when sinks
//! are given (attention sinks: a per-head logit with no value);  lse = ln(Σ_p exp(s_p) [+ exp(sinks[h])]).
//! A row with no allowed key (and no sink) gives o = 0 and lse = −∞; with a sink, o = 0 and lse = sinks[h].
//! With q_end = 0, every key a query may see must still be in the cache: (end − nq) − win_left ≥ start (or start = 0
//! without a window), and end ≥ nq.
//!
//! q_end ≠ 0 (q_end ≥ nq) decodes one chunk [start, end) of a longer history whose queries sit at q_end − nq … q_end − 1
//! (flash-decoding across shards: each worker decodes its chunks, the caller merges the (o, lse) by log-sum-exp). The
//! caller then answers for the keys outside [start, end) (other shards hold them), so the "still in the cache" check
//! is skipped; rows whose allowed keys all lie outside the chunk give o = 0, lse = −∞, which the merge ignores. A sink
//! belongs to the whole softmax: give it to no chunk and add exp(sink) once to the merged denominator.

/// "WAD3".
pub const DECODE_MAGIC: u32 = 0x5741_4433;
pub const DECODE_WORDS: usize = 31;

pub const DTYPE_F32: u32 = 0;
pub const DTYPE_F16: u32 = 1;
pub const DTYPE_I8: u32 = 2;

/// `flags` bit: every half stored in this f16 cache is finite (no ∞ / NaN), so the kernel may widen halves without
/// the ∞ / NaN fix-up and fold their rebias (2^112) into q and p. Only meaningful with DTYPE_F16.
pub const FLAG_F16_FINITE: u32 = 1;

/// At most this many new queries per call (decoding and speculative verification; longer blocks use attention()).
pub const MAX_QUERIES: u32 = 16;
/// Keys per split when `split` is 0.
pub const DEFAULT_SPLIT: u32 = 1024;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecodeDesc {
    pub magic: u32,
    pub hq: u32,
    pub hkv: u32,
    pub nq: u32,
    pub dk: u32,
    pub dv: u32,
    pub dtype: u32,
    pub capacity: u32,
    /// Absolute positions held: [start, end).
    pub start: u32,
    pub end: u32,
    pub k_ptr: u32,
    pub v_ptr: u32,
    /// int8 only: f32 [hkv, capacity] (paged: [hkv, capacity, page_size]) per-token-per-head scales; 0 otherwise.
    pub k_scale_ptr: u32,
    pub v_scale_ptr: u32,
    /// f32 q [hq, nq, dk] with element strides (head, row).
    pub q_ptr: u32,
    pub q_head: u32,
    pub q_row: u32,
    /// f32 o [hq, nq, dv] with element strides (head, row).
    pub o_ptr: u32,
    pub o_head: u32,
    pub o_row: u32,
    /// f32 [hq, nq] contiguous, 0 = not wanted.
    pub lse_ptr: u32,
    /// f32 [hq] sink logits (natural-log domain, not scaled), 0 = none.
    pub sinks_ptr: u32,
    pub scale: f32,
    /// 0 = every held key, 1 = causal (key position ≤ query position).
    pub causal: u32,
    /// −1 = unbounded.
    pub win_left: i32,
    /// Keys per split (partial results merged by log-sum-exp); 0 = DEFAULT_SPLIT.
    pub split: u32,
    /// 0 = contiguous slots; else tokens per page of a paged pool (`capacity` then counts pages).
    pub page_size: u32,
    /// Paged only: u32 [page_count] page index of each page_size positions of the sequence.
    pub page_table_ptr: u32,
    pub page_count: u32,
    /// FLAG_F16_FINITE or 0.
    pub flags: u32,
    /// Position just after the last query row (same coordinates as start / end), ≥ nq; 0 = end.
    pub q_end: u32,
}

const _: () = assert!(core::mem::size_of::<DecodeDesc>() == DECODE_WORDS * 4);
