//! The MR × NR register microkernel. Contract (in the style of bluss/matrixmultiply's `kernel`):
//! `a` is one packed A micro-panel (for each depth p, the MR rows' values side by side: a[p·MR + r]), `b` one packed
//! B micro-panel (b[p·NR + x]); the MR × NR tile of C at `c` (row stride `ldc`) becomes
//! init + Σ_{p<kc} a[p·MR + r]·b[p·NR + x], where init is 0, a bias row (the same NR values for every row) or the
//! tile's current contents. Bounds are asserted once at entry; the loop then walks raw pointers inside them.

use super::blocks::{MR, NR};
use crate::simd::F32x4;

/// f32x4 vectors per tile row.
const NV: usize = NR / 4;

/// What the accumulators start from.
#[derive(Clone, Copy, Debug)]
pub enum Init<'a> {
    Zero,
    /// NR values added to every row (a slice of at least NR elements).
    Bias(&'a [f32]),
    /// The tile's current contents (C += A·B).
    Load,
}

pub fn tile(kc: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, init: Init) {
    assert!(kc * MR <= a.len() && kc * NR <= b.len() && (MR - 1) * ldc + NR <= c.len());
    let zero = F32x4::splat(0.0);
    let mut acc = [[zero; NV]; MR];
    let cp = c.as_mut_ptr();
    // SAFETY: p < kc, r < MR, v < NV: a index < kc·MR, b index < kc·NR, c index ≤ (MR−1)·ldc + NR − 1, all asserted
    // above; a bias slice is asserted to hold NR values.
    unsafe {
        match init {
            Init::Zero => {}
            Init::Bias(bias) => {
                assert!(bias.len() >= NR);
                for v in 0..NV {
                    let x = F32x4::load(bias.as_ptr().add(4 * v));
                    for row in acc.iter_mut() {
                        row[v] = x;
                    }
                }
            }
            Init::Load => {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (v, x) in row.iter_mut().enumerate() {
                        *x = F32x4::load(cp.add(r * ldc + 4 * v));
                    }
                }
            }
        }
        let mut ap = a.as_ptr();
        let mut bp = b.as_ptr();
        for _ in 0..kc {
            let mut bv = [zero; NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = F32x4::load(bp.add(4 * v));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let x = F32x4::load_splat(ap.add(r));
                for v in 0..NV {
                    row[v] = row[v].add(x.mul(bv[v]));
                }
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                x.store(cp.add(r * ldc + 4 * v));
            }
        }
    }
}
