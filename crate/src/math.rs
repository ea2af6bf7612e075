//! Vectorised exp2 and tanh (the scalar libm calls are slow and not vectorised).

use crate::simd::F32x4;
use core::sync::atomic::{AtomicU32, Ordering};

pub const LOG2_E: f32 = core::f32::consts::LOG2_E;
pub const LN_2: f64 = core::f64::consts::LN_2;

/// 1.5 · 2^23: adding it rounds an |x| < 2^22 to the nearest integer, which then sits in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// 2^f on f ∈ [−0.5, 0.5]: degree-6 polynomial fitted in relative error (≤ 1e-7, under 1 ulp of [1, 2)).
/// The constant term is exactly 1 so that 2^0 is exactly 1.
#[allow(clippy::approx_constant)] // the fitted linear coefficient, not a rounded ln 2
const EXP2_C: [f32; 7] =
    [1.0, 0.693_147_2, 0.240_226_48, 0.055_503_29, 0.009_618_374, 0.001_339_984_8, 0.000_153_707_05];

/// The clamp bounds of exp2 (−127.0 and 128.0 as bits), read at run time rather than known at compile time: with a
/// constant operand LLVM turns `pmax`/`pmin` into the IEEE `f32x4.max`/`f32x4.min`, which V8 lowers to about eight
/// x86 instructions each instead of one `maxps`/`minps` (nobody ever stores to these).
static EXP2_LO: AtomicU32 = AtomicU32::new(0xc2fe_0000);
static EXP2_HI: AtomicU32 = AtomicU32::new(0x4300_0000);

/// A vectorised 2^x with its clamp bounds in registers; build it once outside a loop (`Exp2::new()`) and call
/// `eval` / `eval_nonpos` inside.
#[derive(Clone, Copy)]
pub struct Exp2 {
    lo: F32x4,
    hi: F32x4,
}

impl Exp2 {
    #[inline(always)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Exp2 {
            lo: F32x4::splat(f32::from_bits(EXP2_LO.load(Ordering::Relaxed))),
            hi: F32x4::splat(f32::from_bits(EXP2_HI.load(Ordering::Relaxed))),
        }
    }

    /// 2^x per lane. x ≤ −127 (−∞ included) gives exactly 0 (results below 2^−126.5 flush to 0), x ≥ 127.5 gives
    /// +∞, NaN stays NaN. Never produces NaN from a non-NaN input.
    #[inline(always)]
    pub fn eval(self, x: F32x4) -> F32x4 {
        // pmax/pmin keep a NaN x (first operand) and clamp ±∞.
        pow2_clamped(x.pmax(self.lo).pmin(self.hi))
    }

    /// `eval` for x ≤ 0 (or NaN), as in a softmax after subtracting the maximum: only the lower clamp is needed.
    #[inline(always)]
    pub fn eval_nonpos(self, x: F32x4) -> F32x4 {
        pow2_clamped(x.pmax(self.lo))
    }
}

/// 2^x for x already in [−127, 128] (or NaN).
#[inline(always)]
fn pow2_clamped(x: F32x4) -> F32x4 {
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

/// 2^x per lane (see `Exp2::eval`); in a loop prefer one `Exp2` built outside it.
#[inline(always)]
pub fn exp2(x: F32x4) -> F32x4 {
    Exp2::new().eval(x)
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
    p = p.mul(z).add(F32x4::splat(2.063_909e-2));
    p = p.mul(z).add(F32x4::splat(-5.373_971_6e-2));
    p = p.mul(z).add(F32x4::splat(1.333_144_2e-1));
    p = p.mul(z).add(F32x4::splat(-3.333_328e-1));
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
