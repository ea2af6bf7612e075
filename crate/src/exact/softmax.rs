//! The online-softmax step shared by every block (log2 domain: logits are pre-multiplied by log2 e).

use crate::math::{exp2_scalar, Exp2, LN_2};
use crate::simd::F32x4;

/// Start value of the running maximum: the lowest finite float, so that m − m' is never −∞ − (−∞).
pub const M_INIT: f32 = f32::MIN;

/// One step for one row: `s` (a multiple of 8 logits, −∞ where not allowed) becomes P = 2^(s − m') in place, where
/// m' = max(m, max s); then l ← l·2^(m − m') + Σ P and m ← m'. Returns α = 2^(m − m') (exactly 1 when m is unchanged)
/// for rescaling the row's output accumulator. s − m' ≤ 0 (or NaN) everywhere, so `e` needs only its lower clamp.
#[inline(never)]
pub fn step(s: &mut [f32], m: &mut f32, l: &mut f32, e: Exp2) -> f32 {
    debug_assert!(s.len() % 8 == 0);
    let mut mx0 = F32x4::splat(f32::NEG_INFINITY);
    let mut mx1 = mx0;
    for c in s.chunks_exact(8) {
        // SAFETY: chunks_exact gives 8 readable floats.
        unsafe {
            mx0 = mx0.pmax(F32x4::load(c.as_ptr()));
            mx1 = mx1.pmax(F32x4::load(c.as_ptr().add(4)));
        }
    }
    let row_max = mx0.pmax(mx1).hmax();
    let m_new = if row_max > *m { row_max } else { *m };
    let mv = F32x4::splat(m_new);
    let mut sum0 = F32x4::splat(0.0);
    let mut sum1 = sum0;
    for c in s.chunks_exact_mut(8) {
        // SAFETY: chunks_exact_mut gives 8 writable floats.
        unsafe {
            let p0 = e.eval_nonpos(F32x4::load(c.as_ptr()).sub(mv));
            let p1 = e.eval_nonpos(F32x4::load(c.as_ptr().add(4)).sub(mv));
            p0.store(c.as_mut_ptr());
            p1.store(c.as_mut_ptr().add(4));
            sum0 = sum0.add(p0);
            sum1 = sum1.add(p1);
        }
    }
    let alpha = if m_new == *m { 1.0 } else { exp2_scalar(*m - m_new) };
    *l = *l * alpha + sum0.add(sum1).hsum();
    *m = m_new;
    alpha
}

/// The factor that normalises a finished row (0 for a row with no allowed key) and its natural-log LSE plus `lse_add`
/// (−∞ for such a row). A NaN sum stays NaN in both.
#[inline(always)]
pub fn finish(m: f32, l: f32, lse_add: f64) -> (f32, f32) {
    if l == 0.0 {
        (0.0, f32::NEG_INFINITY)
    } else {
        (1.0 / l, ((m as f64 + (l as f64).log2()) * LN_2 + lse_add) as f32)
    }
}
