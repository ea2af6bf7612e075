//! Block and tile sizes of the GEMM, in one place.
//!
//! The microkernel keeps an MR × NR tile of C in registers (MR·NR/4 f32x4 accumulators, plus NR/4 B vectors and one
//! broadcast A value: within the 16 vector registers of x86-64 and far within ARM's 32). A packed B block (KC × NC)
//! is sized for L2, an A block (MC × KC) for L2 as well, and one B micro-panel (KC × NR) for L1.

/// Rows of the register tile.
pub const MR: usize = 4;
/// Columns of the register tile (two f32x4).
pub const NR: usize = 8;
/// Depth of a packed block.
pub const KC: usize = 256;
/// Rows of a packed A block (a multiple of MR).
pub const MC: usize = 64;
/// Columns of a packed B block (a multiple of NR).
pub const NC: usize = 1024;
/// Products with at most this many rows of A skip packing and stream B (matrix-vector form).
pub const GEMV_MAX_M: usize = 2;

/// `x` rounded up to a multiple of `m`.
#[inline(always)]
pub fn round_up(x: usize, m: usize) -> usize {
    (x + m - 1) / m * m
}

const _: () = assert!(NR % 4 == 0 && MC % MR == 0 && NC % NR == 0);
