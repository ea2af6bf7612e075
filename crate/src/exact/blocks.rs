//! Block and tile sizes of the exact kernel, in one place.
//!
//! A query block stacks the query rows of the heads that share one kv head (GQA), `BR` rows at most; a key block
//! is `BC` keys. Scratch per call is O(BR·BC + BR·D + Nk·D) (the keys of one kv head are packed once); nothing N×N
//! is ever allocated. Measured under V8 on (1,12,512,64) and (1,8,2048,64), CPU-time GFLOP/s: (BR, BC) = (32, 128)
//! was 2-4 % faster than (64, 64) non-causal and 5-6 % causal (smaller diagonal triangles); BC = 32 was slower,
//! BC = 256 no better; MR = 5 (10 accumulators) was 8-10 % slower than MR = 4 (register spills).

/// Query rows (of all stacked heads) per block.
pub const BR: usize = 32;
/// Keys per block; a multiple of `NR`.
pub const BC: usize = 128;
/// Query rows per microkernel tile.
pub const MR: usize = 4;
/// Keys per packed K panel (two f32x4): the Q·Kᵀ tile is MR × NR.
pub const NR: usize = 8;
/// Value columns per P·V tile (two f32x4): the P·V tile is MR × NC.
pub const NC: usize = 8;

/// `x` rounded up to a multiple of `m`.
#[inline(always)]
pub fn round_up(x: usize, m: usize) -> usize {
    (x + m - 1) / m * m
}

const _: () = assert!(BC % NR == 0 && NR == 8 && NC == 8 && BR % MR == 0);
