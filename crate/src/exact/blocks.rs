//! Block and tile sizes of the exact kernel, in one place.
//!
//! A query block stacks the query rows of the heads that share one kv head (GQA), `BR` rows at most; a key block
//! is `BC` keys. Scratch per call is O(BR·BC + BR·D + BC·D); nothing N×N is ever allocated.

/// Query rows (of all stacked heads) per block.
pub const BR: usize = 64;
/// Keys per block; a multiple of `NR`.
pub const BC: usize = 64;
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
