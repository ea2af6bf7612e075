//! Exact attention (FlashAttention-2 forward): the loop nest in `flash`, the shared per-block logits in `scores`,
//! the online-softmax step in `softmax`, the register microkernels in `microkernel`, the optional weights pass in
//! `weights`.

pub mod blocks;
mod flash;
mod microkernel;
mod pack;
mod scores;
mod softmax;
mod weights;
mod workspace;

pub use flash::forward;

/// One query block: `npos` query positions starting at `i0`, for the `hc` query heads starting at `h0` (all sharing
/// kv head `kvh`) of batch `b`. Row r of the block is head h0 + r / npos at position i0 + r % npos.
#[derive(Clone, Copy, Debug)]
pub struct QueryBlock {
    pub b: usize,
    pub kvh: usize,
    pub h0: usize,
    pub hc: usize,
    pub i0: usize,
    pub npos: usize,
}

impl QueryBlock {
    #[inline(always)]
    pub fn rows(&self) -> usize {
        self.hc * self.npos
    }

    /// (query head, local query row) of block row r.
    #[inline(always)]
    pub fn row(&self, r: usize) -> (usize, usize) {
        (self.h0 + r / self.npos, self.i0 + r % self.npos)
    }
}
