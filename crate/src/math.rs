//! Vectorised exp2 and tanh (the scalar libm calls are slow and not vectorised).

use crate::simd::F32x4;

pub const LOG2_E: f32 = core::f32::consts::LOG2_E;
pub const LN_2: f64 = core::f64::consts::LN_2;

/// 1.5 · 2^23: adding it rounds an |x| < 2^22 to the nearest integer, which then sits in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// 2^f on f ∈ [−0.5, 0.5]: degree-6 polynomial fitted in relative error (≤ 1e-7, under 1 ulp of [1, 2)).
/// The constant term is exactly 1 so that 2^0 is exactly 1.
const EXP2_C: [f32; 7] = [
    1.0,
    0.693_147_2,
    0.240_226_48,
    0.055_503_29,
    0.009_618_373_6,
    0.001_339_984_8,
    0.000_153_707_05,
];

/// 2^x per lane. x ≤ −127 (−∞ included) gives exactly 0 (results below 2^−126.5 flush to 0), x ≥ 127.5 gives +∞,
/// NaN stays NaN. Never produces NaN from a non-NaN input.
#[inline(always)]
pub fn exp2(x: F32x4) -> F32x4 {
    // pmax/pmin keep a NaN x (first operand) and clamp ±∞.
    let x = x.pmax(F32x4::splat(-127.0)).pmin(F32x4::splat(128.0));
    let t = x.add(F32x4::splat(ROUND_MAGIC));
    let n = t.sub(F32x4::splat(ROUND_MAGIC));
    let f = x.sub(n);
    let mut p = F32x4::splat(EXP2_C[6]);
    p = p.mul(f).add(F32x4::splat(EXP2_C[5]));
    p = p.mul(f).add(F32x4::splat(EXP2_C[4]));
    p = p.mul(f).add(F32x4::splat(EXP2_C[3]));
    p = p.mul(f).add(F32x4::splat(EXP2_C[2]));
    p = p.mul(f).add(F32x4::splat(EXP2_C[1]));
    p = p.mul(f).add(F32x4::splat(EXP2_C[0]));
    // The low bits of t hold n (two's complement); (n + 127) << 23 is the f32 2^n, and 0 (= +0.0) for n = −127.
    // The high bits of t are shifted out.
    let scale = t.bits_add_shl(127, 23);
    p.mul(scale)
}

/// 2^x for one value (same polynomial as the vector path).
#[inline(always)]
pub fn exp2_scalar(x: f32) -> f32 {
    exp2(F32x4::splat(x)).lane0()
}

/// tanh per lane, absolute error ≲ 1e-7. Small |x| uses an odd polynomial (Cephes' tanhf coefficients) to avoid the
/// cancellation of 1 − 2/(e^{2x} + 1) near 0.
#[inline(always)]
pub fn tanh(x: F32x4) -> F32x4 {
    let a = x.abs();
    let z = a.mul(a);
    let mut p = F32x4::splat(-5.704_988_7e-3);
    p = p.mul(z).add(F32x4::splat(2.063_908_9e-2));
    p = p.mul(z).add(F32x4::splat(-5.373_971_6e-2));
    p = p.mul(z).add(F32x4::splat(1.333_144_2e-1));
    p = p.mul(z).add(F32x4::splat(-3.333_328_2e-1));
    let small = p.mul(z).mul(a).add(a);
    let e = exp2(a.mul(F32x4::splat(2.0 * LOG2_E)));
    let one = F32x4::splat(1.0);
    let large = one.sub(F32x4::splat(2.0).div(e.add(one)));
    a.select_lt(F32x4::splat(0.625), small, large).or_sign_of(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp2_err(x: f32) -> f64 {
        let got = exp2_scalar(x) as f64;
        let want = (x as f64).exp2();
        ((got - want) / want).abs()
    }

    #[test]
    fn exp2_is_accurate_over_the_softmax_range() {
        let mut worst: f64 = 0.0;
        let mut x = -126.0f32;
        while x <= 0.0 {
            worst = worst.max(exp2_err(x));
            x += 0.001_37;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        for x in [-0.5f32, 0.5, 1.0, 10.25, 100.0, 127.2] {
            assert!(exp2_err(x) < 2.5e-7, "x = {x}");
        }
        assert_eq!(exp2_scalar(0.0), 1.0);
    }

    #[test]
    fn exp2_edges() {
        assert_eq!(exp2_scalar(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp2_scalar(-1.0e30), 0.0);
        assert_eq!(exp2_scalar(-f32::MAX), 0.0);
        assert_eq!(exp2_scalar(-127.0), 0.0);
        assert_eq!(exp2_scalar(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp2_scalar(200.0), f32::INFINITY);
        assert!(exp2_scalar(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_is_accurate() {
        let mut x = -20.0f32;
        while x <= 20.0 {
            let got = tanh(F32x4::splat(x)).lane0() as f64;
            let want = (x as f64).tanh();
            assert!((got - want).abs() < 2e-7, "x = {x}: {got} vs {want}");
            x += 0.0031;
        }
        assert_eq!(tanh(F32x4::splat(f32::INFINITY)).lane0(), 1.0);
        assert_eq!(tanh(F32x4::splat(f32::NEG_INFINITY)).lane0(), -1.0);
        assert!(tanh(F32x4::splat(f32::NAN)).lane0().is_nan());
        let tiny = tanh(F32x4::splat(-1e-30)).lane0();
        assert_eq!(tiny, -1e-30);
    }
}
