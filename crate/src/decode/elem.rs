//! Cache element types and their conversion to f32 lanes: f32 as is, f16 (IEEE binary16, stored as u16 bits) and
//! int8 (times a per-token scale applied by the caller). On wasm32 + simd128 a load converts 4 elements with a few
//! SIMD instructions; elsewhere a scalar path with the same results, so `cargo test` checks the same arithmetic.

use crate::simd::F32x4;

pub trait Elem: Copy {
    /// Four consecutive elements as f32.
    ///
    /// # Safety
    /// `p..p+4` must be readable.
    unsafe fn load4(p: *const Self) -> F32x4;
    fn to_f32(self) -> f32;
    /// Sixteen consecutive elements as f32.
    ///
    /// # Safety
    /// `p..p+16` must be readable.
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> [F32x4; 4] {
        [Self::load4(p), Self::load4(p.add(4)), Self::load4(p.add(8)), Self::load4(p.add(12))]
    }
    /// Whether `load8` is cheaper than two `load4` (the kernels then step eight columns at a time).
    const LOAD8: bool = false;
    /// Eight consecutive elements as f32.
    ///
    /// # Safety
    /// `p..p+8` must be readable.
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> [F32x4; 2] {
        [Self::load4(p), Self::load4(p.add(4))]
    }
    /// The slice itself when the elements already are f32 (read in place, never copied).
    fn as_f32(s: &[Self]) -> Option<&[f32]> {
        let _ = s;
        None
    }
    /// The slice itself when the elements are int8 (`wide8.rs`).
    fn as_i8(s: &[Self]) -> Option<&[i8]> {
        let _ = s;
        None
    }
}

impl Elem for f32 {
    #[inline(always)]
    unsafe fn load4(p: *const f32) -> F32x4 {
        F32x4::load(p)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn as_f32(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
}

/// An IEEE binary16 value held as its bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

/// 2^112: moves a half's exponent bias (15) to f32's (127) once its bits sit in f32 position (<< 13). Exact for
/// normal and subnormal halves alike, because the multiplication renormalises.
const HALF_TO_F32_BIAS: f32 = 5.192_297e33;

/// Scalar binary16 → f32 (exact: every half is an f32).
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let magnitude = f32::from_bits((h & 0x7fff) << 13) * HALF_TO_F32_BIAS;
    let special = if h & 0x7c00 == 0x7c00 { 0x7f80_0000 } else { 0 };
    f32::from_bits(magnitude.to_bits() | special | ((h & 0x8000) << 16))
}

impl Elem for F16 {
    /// Sign-extended to i32 and shifted left by 13, a half's sign lands on bit 31 and its exponent and mantissa on
    /// f32's bits 13..27 (bits 28..30 hold sign copies and are masked off); one multiplication by 2^112 then rebiases
    /// normal and subnormal halves alike. Exponent 31 (∞, NaN) becomes exponent 255 by an OR.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    unsafe fn load4(p: *const F16) -> F32x4 {
        use core::arch::wasm32::*;
        let b = i32x4_shl(i32x4_load_extend_i16x4(p as *const i16), 13);
        let magnitude = f32x4_mul(v128_and(b, u32x4_splat(0x8fff_e000)), f32x4_splat(HALF_TO_F32_BIAS));
        let exp = u32x4_splat(0x0f80_0000);
        let special = v128_and(i32x4_eq(v128_and(b, exp), exp), u32x4_splat(0x7f80_0000));
        from_v128(v128_or(magnitude, special))
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline(always)]
    unsafe fn load4(p: *const F16) -> F32x4 {
        let h = core::ptr::read_unaligned(p as *const [u16; 4]);
        F32x4::new(f16_to_f32(h[0]), f16_to_f32(h[1]), f16_to_f32(h[2]), f16_to_f32(h[3]))
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16_to_f32(self.0)
    }
}

/// A finite IEEE binary16 value held as its bits, widened *without* its rebias: load4 gives x · 2^-112 (exactly:
/// sign, exponent and mantissa moved into f32 position, four instructions). The kernel multiplies q (for K) and p
/// (for V) by 2^112 instead. ∞ / NaN halves would read as finite numbers: only for caches known to hold none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16Raw(pub u16);

/// 2^112 as the rebias of `F16Raw`.
pub const F16_RAW_SCALE: f32 = HALF_TO_F32_BIAS;

impl Elem for F16Raw {
    const LOAD8: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    unsafe fn load4(p: *const F16Raw) -> F32x4 {
        use core::arch::wasm32::*;
        let b = i32x4_shl(i32x4_load_extend_i16x4(p as *const i16), 13);
        from_v128(v128_and(b, u32x4_splat(0x8fff_e000)))
    }
    /// Eight halves in one load, rebuilt in 16-bit lanes and interleaved: the upper half of each f32 is the half
    /// shifted right by 3 (sign copies masked off), the lower half its last three mantissa bits shifted to the top;
    /// five SIMD operations per eight halves instead of six. The same bits as `load4`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    unsafe fn load8(p: *const F16Raw) -> [F32x4; 2] {
        use core::arch::wasm32::*;
        let h = v128_load(p as *const v128);
        let hi = v128_and(i16x8_shr(h, 3), i16x8_splat(0x8fff_u16 as i16));
        let lo = i16x8_shl(h, 13);
        [
            from_v128(i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(lo, hi)),
            from_v128(i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(lo, hi)),
        ]
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline(always)]
    unsafe fn load4(p: *const F16Raw) -> F32x4 {
        let h = core::ptr::read_unaligned(p as *const [F16Raw; 4]);
        F32x4::new(h[0].to_f32(), h[1].to_f32(), h[2].to_f32(), h[3].to_f32())
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        let h = self.0 as u32;
        f32::from_bits(((h & 0x7fff) << 13) | ((h & 0x8000) << 16))
    }
}

impl Elem for i8 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    unsafe fn load4(p: *const i8) -> F32x4 {
        use core::arch::wasm32::*;
        let b = v128_load32_zero(p as *const u32);
        from_v128(i32_to_f32(i32x4_extend_low_i16x8(i16x8_extend_low_i8x16(b))))
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline(always)]
    unsafe fn load4(p: *const i8) -> F32x4 {
        let b = core::ptr::read_unaligned(p as *const [i8; 4]);
        F32x4::new(b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32)
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    unsafe fn load16(p: *const i8) -> [F32x4; 4] {
        use core::arch::wasm32::*;
        let b = v128_load(p as *const v128);
        let (lo, hi) = (i16x8_extend_low_i8x16(b), i16x8_extend_high_i8x16(b));
        [
            from_v128(i32_to_f32(i32x4_extend_low_i16x8(lo))),
            from_v128(i32_to_f32(i32x4_extend_high_i16x8(lo))),
            from_v128(i32_to_f32(i32x4_extend_low_i16x8(hi))),
            from_v128(i32_to_f32(i32x4_extend_high_i16x8(hi))),
        ]
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn as_i8(s: &[i8]) -> Option<&[i8]> {
        Some(s)
    }
}

/// Small i32 lanes (|x| < 2^22) → f32 by adding them to the bits of 1.5·2^23 and subtracting it again. Exact, and
/// two instructions: LLVM folds extend + `f32x4_convert_i32x4` into a scalarised i16 → f32 conversion.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn i32_to_f32(x: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    f32x4_sub(i32x4_add(x, i32x4_splat(0x4b40_0000)), f32x4_splat(12_582_912.0))
}

/// A v128 as the crate's F32x4 (through a local array: the compiler keeps it in a register).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn from_v128(x: core::arch::wasm32::v128) -> F32x4 {
    let mut t = [0f32; 4];
    core::arch::wasm32::v128_store(t.as_mut_ptr() as *mut core::arch::wasm32::v128, x);
    F32x4::load(t.as_ptr())
}

/// dst[i] = src[i] · scale for one row (f32 rows are never copied: the kernel reads them in place). A scale of 1
/// skips the multiplication.
#[inline(always)]
pub fn convert_row<E: Elem>(src: &[E], scale: f32, dst: &mut [f32]) {
    if scale == 1.0 {
        convert::<E, false>(src, scale, dst)
    } else {
        convert::<E, true>(src, scale, dst)
    }
}

#[inline(always)]
fn convert<E: Elem, const SCALED: bool>(src: &[E], scale: f32, dst: &mut [f32]) {
    let n = dst.len();
    assert!(src.len() >= n);
    let s = F32x4::splat(scale);
    let f = |x: F32x4| if SCALED { x.mul(s) } else { x };
    let (n16, n4) = (n / 16 * 16, n / 4 * 4);
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let mut d = 0;
    while d < n16 {
        // SAFETY: d + 16 ≤ n ≤ both lengths.
        unsafe {
            let x = E::load16(sp.add(d));
            for (w, v) in x.iter().enumerate() {
                f(*v).store(dp.add(d + 4 * w));
            }
        }
        d += 16;
    }
    while d < n4 {
        // SAFETY: d + 4 ≤ n ≤ both lengths.
        unsafe { f(E::load4(sp.add(d))).store(dp.add(d)) };
        d += 4;
    }
    for d in n4..n {
        dst[d] = src[d].to_f32() * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversion_is_exact_on_every_class() {
        let cases: [(u16, f32); 9] = [
            (0x0000, 0.0),
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8), // smallest subnormal, 2^-24
            (0x03ff, 6.097_555e-5),   // largest subnormal
            (0x0400, 6.103_515_6e-5), // smallest normal, 2^-14
            (0x7c00, f32::INFINITY),
            (0xfc00, f32::NEG_INFINITY),
        ];
        for (h, want) in cases {
            assert_eq!(f16_to_f32(h), want, "{h:#06x}");
            let v = [F16(h); 4];
            // SAFETY: 4 readable elements.
            assert_eq!(unsafe { F16::load4(v.as_ptr()) }.lane0(), want, "{h:#06x} (vector)");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }

    #[test]
    fn raw_halves_are_the_value_times_2_to_the_minus_112() {
        for h in (0u16..0x7c00).step_by(7).chain([0x0001, 0x03ff, 0x0400, 0x7bff]) {
            for s in [0u16, 0x8000] {
                let x = F16Raw(h | s);
                let want = f16_to_f32(h | s);
                assert_eq!(x.to_f32() * F16_RAW_SCALE, want, "{:#06x}", h | s);
                // SAFETY: 4 readable elements.
                assert_eq!(unsafe { F16Raw::load4([x; 4].as_ptr()) }.lane0(), x.to_f32());
            }
        }
    }

    #[test]
    fn int8_rows_convert_with_their_scale() {
        let src: [i8; 7] = [-128, -127, -1, 0, 1, 64, 127];
        let mut dst = [0f32; 7];
        convert_row(&src, 0.5, &mut dst);
        assert_eq!(dst, [-64.0, -63.5, -0.5, 0.0, 0.5, 32.0, 63.5]);
    }
}
