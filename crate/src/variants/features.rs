//! The feature maps of the linear-time variants: softmax attention exp(s·q·k) is replaced by φ(q)·φ(k), so that
//! Σ_j φ(q)·φ(k_j) v_j = φ(q)ᵀ (Σ_j φ(k_j) v_jᵀ) costs O(F·Dv) per row instead of O(N·Dv).
//!
//! - `Elu1` (linear attention, Katharopoulos et al. 2020): φ(x) = elu(x) + 1, F = Dk.
//! - `Favor` (Performer FAVOR+, Choromanski et al. 2021): φ(x) = exp(ω_a·x' − |x'|²/2), a < m, x' = x·√scale, the
//!   rows ω_a of a given projection (positive random features: E[φ(q)·φ(k)] = exp(scale·q·k)).
//!
//! A map writes "pre-features" for a row: the features themselves (`EXP = false`) or their natural logarithms
//! (`EXP = true`), which the caller turns into features after subtracting shifts of its choice (one per feature for
//! the keys, one per row for a query: they cancel in the ratio numerator / denominator and keep exp in range). Lanes from F up to the padded width hold 0 (or −∞
//! in the log domain), so padded lanes never contribute.

use super::ops::{axpy, filled, map, padded, zip_map};
use crate::math::{exp2, LOG2_E};
use crate::problem::OutOfMemory;
use crate::simd::F32x4;

pub trait FeatureMap {
    /// Pre-features are logarithms (turned into features by `exp(pre − shift)`).
    const EXP: bool;
    /// Number of features F.
    fn dim(&self) -> usize;
    /// Writes the pre-features of row `x` (Dk values) into `out` (`padded(F)` values).
    fn pre(&self, x: &[f32], out: &mut [f32]);
}

/// `y = exp(y − shift)` per element (−∞ gives 0).
#[inline(always)]
pub fn exp_shifted(y: &mut [f32], shift: f32) {
    let s = F32x4::splat(shift);
    let l = F32x4::splat(LOG2_E);
    map(y, |x| exp2(x.sub(s).mul(l)));
}

/// `y = exp(y − shift[a])` for each row of `shift.len()` elements of `y` (lane a of every row by its own shift).
#[inline(always)]
pub fn exp_shifted_lanes(y: &mut [f32], shift: &[f32]) {
    let l = F32x4::splat(LOG2_E);
    for row in y.chunks_exact_mut(shift.len()) {
        zip_map(row, shift, |x, s| exp2(x.sub(s).mul(l)));
    }
}

/// φ(x) = elu(x) + 1 = (x > 0 ? x + 1 : e^x).
pub struct Elu1 {
    pub dk: usize,
}

impl FeatureMap for Elu1 {
    const EXP: bool = false;
    fn dim(&self) -> usize {
        self.dk
    }
    fn pre(&self, x: &[f32], out: &mut [f32]) {
        let dk = self.dk;
        out[..dk].copy_from_slice(&x[..dk]);
        let zero = F32x4::splat(0.0);
        let one = F32x4::splat(1.0);
        let l = F32x4::splat(LOG2_E);
        map(out, |x| x.select_lt(zero, exp2(x.mul(l)), x.add(one)));
        for y in &mut out[dk..] {
            *y = 0.0;
        }
    }
}

/// Positive random features exp(ω_a·x' − |x'|²/2) with x' = x·√scale. Holds the projection transposed and padded:
/// `wt[c·Fp + a] = ω_a[c]` (0 for a ≥ m), so one row's logits are Dk rank-1 updates of Fp lanes.
pub struct Favor {
    pub m: usize,
    pub dk: usize,
    sqrt_scale: f32,
    wt: Vec<f32>,
}

impl Favor {
    /// `projection` is [m, dk] row-major (row a = ω_a). `scale` must be ≥ 0.
    pub fn new(projection: &[f32], m: usize, dk: usize, scale: f32) -> Result<Self, OutOfMemory> {
        let fp = padded(m);
        let mut wt = filled(dk.checked_mul(fp).ok_or(OutOfMemory)?, 0.0)?;
        for a in 0..m {
            for c in 0..dk {
                wt[c * fp + a] = projection[a * dk + c];
            }
        }
        Ok(Favor { m, dk, sqrt_scale: scale.sqrt(), wt })
    }
}

impl FeatureMap for Favor {
    const EXP: bool = true;
    fn dim(&self) -> usize {
        self.m
    }
    fn pre(&self, x: &[f32], out: &mut [f32]) {
        let fp = out.len();
        for y in out.iter_mut() {
            *y = 0.0;
        }
        let mut norm2 = 0.0f32;
        for (c, &xv) in x[..self.dk].iter().enumerate() {
            let xc = xv * self.sqrt_scale;
            norm2 += xc * xc;
            axpy(out, xc, &self.wt[c * fp..(c + 1) * fp]);
        }
        let half = F32x4::splat(0.5 * norm2);
        map(out, |u| u.sub(half));
        for y in &mut out[self.m..] {
            *y = f32::NEG_INFINITY;
        }
    }
}
