//! Single-precision GEMM for the layer projections: C = A·B (+ bias), B optionally given transposed (PyTorch
//! `Linear` weights are [out, in], so y = x·Wᵀ is the transposed case).
//!
//! The loop nest (`driver`) is the BLIS one, written once: column blocks of NC, depth blocks of KC with B packed into
//! NR-wide panels, row blocks of MC with A packed into MR-high panels, then the MR × NR register microkernel
//! (`kernel`). Block sizes live in `blocks`. Very short A (a decode step: m ≤ `GEMV_MAX_M`) skips packing and
//! streams B once per row (`gemv`). The ABI descriptor and its checks are in `desc`.

pub mod blocks;
pub mod desc;
mod driver;
mod gemv;
mod kernel;
mod pack;

#[cfg(test)]
mod tests;

pub use driver::gemm;

/// The operands of one product C[m, n] = A[m, k]·B[k, n] (+ bias[n]). Row-major with leading dimensions:
/// A(i, p) = a[i·lda + p]; B(p, j) = b[p·ldb + j], or b[j·ldb + p] when `trans_b` (B given as [n, k]).
#[derive(Clone, Copy, Debug)]
pub struct Gemm<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a [f32],
    pub lda: usize,
    pub b: &'a [f32],
    pub ldb: usize,
    pub trans_b: bool,
    pub bias: Option<&'a [f32]>,
}

impl<'a> Gemm<'a> {
    /// B(p, j).
    #[inline(always)]
    pub fn b_at(&self, p: usize, j: usize) -> f32 {
        if self.trans_b {
            self.b[j * self.ldb + p]
        } else {
            self.b[p * self.ldb + j]
        }
    }
}
