//! Decoding against a KV cache (flash-decoding): a few new queries (1…16) against a long cache of keys held in f32,
//! f16 or int8. The key range is split into fixed-size parts; each part runs an online softmax over tiles of keys
//! and leaves a partial (m, l, O); the parts are merged by log-sum-exp, with an optional per-head attention sink in
//! the denominator. Query heads sharing a kv head (GQA / MQA) are stacked as rows, so each K/V tile is read once per
//! kv head. Semantics: `desc.rs`.

pub mod check;
pub mod desc;
pub mod elem;
mod kernel;
mod merge;
mod micro;
pub mod probe;
mod wide8;

#[cfg(test)]
mod tests;

pub use elem::{F16Raw, F16};
pub use kernel::decode;

/// Where position p of kv head g lives, as a row index of K (element offset row · dk) and of the scales.
#[derive(Clone, Copy, Debug)]
pub enum Slots<'a> {
    /// Row g · capacity + p mod capacity (linear or ring).
    Ring { capacity: usize },
    /// Row (g · pages + table[p / page_size]) · page_size + p mod page_size: head-major pages, so a sequence whose
    /// pages were taken in order reads each head as one stream.
    Paged { page_size: usize, pages: usize, table: &'a [u32] },
}

impl<'a> Slots<'a> {
    /// The row of position t for kv head g, and how many following positions sit in consecutive rows.
    #[inline(always)]
    pub fn locate(&self, g: usize, t: u64) -> (usize, usize) {
        match *self {
            Slots::Ring { capacity } => {
                let slot = (t % capacity as u64) as usize;
                (g * capacity + slot, capacity - slot)
            }
            Slots::Paged { page_size, pages, table } => {
                let off = (t % page_size as u64) as usize;
                let page = table[(t / page_size as u64) as usize] as usize;
                ((g * pages + page) * page_size + off, page_size - off)
            }
        }
    }
}

/// The cache contents: K and V rows (dk and dv wide) and, for int8, one scale per row; `Slots` says which row holds
/// a position.
#[derive(Clone, Copy, Debug)]
pub enum CacheData<'a> {
    F32 {
        k: &'a [f32],
        v: &'a [f32],
    },
    F16 {
        k: &'a [F16],
        v: &'a [F16],
    },
    /// An f16 cache known to hold only finite halves (read without the ∞ / NaN fix-up).
    F16Finite {
        k: &'a [F16Raw],
        v: &'a [F16Raw],
    },
    I8 {
        k: &'a [i8],
        v: &'a [i8],
        k_scale: &'a [f32],
        v_scale: &'a [f32],
    },
}

/// A validated decode call (built by abi/decode.rs from wasm memory, or by tests from vectors). Every index the
/// dimensions reach lies inside the slices.
#[derive(Clone, Copy, Debug)]
pub struct DecodeProblem<'a> {
    pub hq: usize,
    pub hkv: usize,
    pub nq: usize,
    pub dk: usize,
    pub dv: usize,
    pub slots: Slots<'a>,
    /// Absolute positions held by the cache: [start, end).
    pub start: u64,
    pub end: u64,
    /// Position just after the last query row (≥ nq; the descriptor's 0 is resolved to `end` by the ABI).
    pub q_end: u64,
    /// q [hq, nq, dk] with element strides (head, row).
    pub q: &'a [f32],
    pub q_head: usize,
    pub q_row: usize,
    pub scale: f32,
    pub causal: bool,
    pub win_left: Option<u64>,
    /// Per query head sink logit (natural log).
    pub sinks: Option<&'a [f32]>,
    /// Keys per split (≥ 1).
    pub split: usize,
    pub cache: CacheData<'a>,
}

impl<'a> DecodeProblem<'a> {
    /// Position of query row i: q_end − nq + i.
    #[inline(always)]
    pub fn query_pos(&self, i: usize) -> u64 {
        self.q_end - self.nq as u64 + i as u64
    }

    /// Allowed key positions [lo, hi) of query row i, inside [start, end); empty (lo ≥ hi) when none.
    #[inline(always)]
    pub fn key_span(&self, i: usize) -> (u64, u64) {
        let qp = self.query_pos(i);
        let lo = match self.win_left {
            Some(w) => qp.saturating_sub(w).max(self.start),
            None => self.start,
        };
        let hi = if self.causal { (qp + 1).min(self.end) } else { self.end };
        (lo, hi)
    }
}

/// o [hq, nq, dv] with element strides (head, row); lse [hq, nq] contiguous.
pub struct DecodeOutputs<'a> {
    pub o: &'a mut [f32],
    pub o_head: usize,
    pub o_row: usize,
    pub lse: Option<&'a mut [f32]>,
}
