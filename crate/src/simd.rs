//! A 4-lane f32 vector with exactly the operations the kernels use.
//!
//! On wasm32 with `simd128` it is a `v128` and every method is one SIMD128 instruction (or a short fixed sequence);
//! everywhere else it is a `[f32; 4]` with the same lane semantics, so native `cargo test` runs the kernel code the
//! browser runs. `pmax`/`pmin` are WebAssembly's pseudo-min/max (`b > a ? b : a`), not IEEE max: they lower to a
//! single x86 `maxps`/`minps`, and NaN in the first operand is kept.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    // Method names follow the wasm intrinsics (f32x4_add …); both builds must offer the same inherent API.
    #[allow(clippy::should_implement_trait)]
    impl F32x4 {
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F32x4(f32x4_splat(x))
        }
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> Self {
            F32x4(f32x4(a, b, c, d))
        }
        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F32x4(v128_load(p as *const v128))
        }
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f32) -> Self {
            F32x4(v128_load32_splat(p as *const u32))
        }
        /// # Safety
        /// `p..p+4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            v128_store(p as *mut v128, self.0)
        }
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            F32x4(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            F32x4(f32x4_sub(self.0, o.0))
        }
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            F32x4(f32x4_mul(self.0, o.0))
        }
        #[inline(always)]
        pub fn div(self, o: Self) -> Self {
            F32x4(f32x4_div(self.0, o.0))
        }
        #[inline(always)]
        pub fn pmax(self, o: Self) -> Self {
            F32x4(f32x4_pmax(self.0, o.0))
        }
        #[inline(always)]
        pub fn pmin(self, o: Self) -> Self {
            F32x4(f32x4_pmin(self.0, o.0))
        }
        #[inline(always)]
        pub fn abs(self) -> Self {
            F32x4(f32x4_abs(self.0))
        }
        /// Lanes of `if self < o { a } else { b }`.
        #[inline(always)]
        pub fn select_lt(self, o: Self, a: Self, b: Self) -> Self {
            F32x4(v128_bitselect(a.0, b.0, f32x4_lt(self.0, o.0)))
        }
        /// Copies the sign bits of `sign` onto `self` (whose sign bits must be clear).
        #[inline(always)]
        pub fn or_sign_of(self, sign: Self) -> Self {
            F32x4(v128_or(self.0, v128_and(sign.0, f32x4_splat(-0.0))))
        }
        /// Reinterprets the lanes as i32, adds `k` and shifts left by `s` bits, and reinterprets back.
        #[inline(always)]
        pub fn bits_add_shl(self, k: i32, s: u32) -> Self {
            F32x4(i32x4_shl(i32x4_add(self.0, i32x4_splat(k)), s))
        }
        #[inline(always)]
        pub fn hmax(self) -> f32 {
            let a = f32x4_pmax(self.0, i32x4_shuffle::<2, 3, 0, 1>(self.0, self.0));
            let b = f32x4_pmax(a, i32x4_shuffle::<1, 0, 3, 2>(a, a));
            f32x4_extract_lane::<0>(b)
        }
        #[inline(always)]
        pub fn hsum(self) -> f32 {
            let a = f32x4_add(self.0, i32x4_shuffle::<2, 3, 0, 1>(self.0, self.0));
            let b = f32x4_add(a, i32x4_shuffle::<1, 0, 3, 2>(a, a));
            f32x4_extract_lane::<0>(b)
        }
        #[inline(always)]
        pub fn lane0(self) -> f32 {
            f32x4_extract_lane::<0>(self.0)
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    #[inline(always)]
    fn map2(a: [f32; 4], b: [f32; 4], f: impl Fn(f32, f32) -> f32) -> F32x4 {
        F32x4([f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])])
    }
    #[inline(always)]
    fn pmax1(a: f32, b: f32) -> f32 {
        if a < b {
            b
        } else {
            a
        }
    }
    #[inline(always)]
    fn pmin1(a: f32, b: f32) -> f32 {
        if b < a {
            b
        } else {
            a
        }
    }

    // Method names follow the wasm intrinsics (f32x4_add …); both builds must offer the same inherent API.
    #[allow(clippy::should_implement_trait)]
    impl F32x4 {
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F32x4([x; 4])
        }
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> Self {
            F32x4([a, b, c, d])
        }
        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F32x4(core::ptr::read_unaligned(p as *const [f32; 4]))
        }
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f32) -> Self {
            F32x4([*p; 4])
        }
        /// # Safety
        /// `p..p+4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            core::ptr::write_unaligned(p as *mut [f32; 4], self.0)
        }
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            map2(self.0, o.0, |a, b| a + b)
        }
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            map2(self.0, o.0, |a, b| a - b)
        }
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            map2(self.0, o.0, |a, b| a * b)
        }
        #[inline(always)]
        pub fn div(self, o: Self) -> Self {
            map2(self.0, o.0, |a, b| a / b)
        }
        #[inline(always)]
        pub fn pmax(self, o: Self) -> Self {
            map2(self.0, o.0, pmax1)
        }
        #[inline(always)]
        pub fn pmin(self, o: Self) -> Self {
            map2(self.0, o.0, pmin1)
        }
        #[inline(always)]
        pub fn abs(self) -> Self {
            map2(self.0, self.0, |a, _| a.abs())
        }
        /// Lanes of `if self < o { a } else { b }`.
        #[inline(always)]
        pub fn select_lt(self, o: Self, a: Self, b: Self) -> Self {
            let mut r = [0.0; 4];
            for (l, r) in r.iter_mut().enumerate() {
                *r = if self.0[l] < o.0[l] { a.0[l] } else { b.0[l] };
            }
            F32x4(r)
        }
        /// Copies the sign bits of `sign` onto `self` (whose sign bits must be clear).
        #[inline(always)]
        pub fn or_sign_of(self, sign: Self) -> Self {
            map2(self.0, sign.0, |a, s| f32::from_bits(a.to_bits() | (s.to_bits() & 0x8000_0000)))
        }
        /// Reinterprets the lanes as i32, adds `k` and shifts left by `s` bits, and reinterprets back.
        #[inline(always)]
        pub fn bits_add_shl(self, k: i32, s: u32) -> Self {
            map2(self.0, self.0, |a, _| f32::from_bits((a.to_bits() as i32).wrapping_add(k).wrapping_shl(s) as u32))
        }
        #[inline(always)]
        pub fn hmax(self) -> f32 {
            let a = self.pmax(F32x4([self.0[2], self.0[3], self.0[0], self.0[1]]));
            a.pmax(F32x4([a.0[1], a.0[0], a.0[3], a.0[2]])).0[0]
        }
        #[inline(always)]
        pub fn hsum(self) -> f32 {
            let a = self.add(F32x4([self.0[2], self.0[3], self.0[0], self.0[1]]));
            a.add(F32x4([a.0[1], a.0[0], a.0[3], a.0[2]])).0[0]
        }
        #[inline(always)]
        pub fn lane0(self) -> f32 {
            self.0[0]
        }
    }
}

pub use imp::F32x4;

/// Lanes per vector.
pub const LANES: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_min_max_keep_nan_of_the_first_operand_only() {
        let n = F32x4::splat(f32::NAN);
        let one = F32x4::splat(1.0);
        assert!(n.pmax(one).lane0().is_nan());
        assert_eq!(one.pmax(n).lane0(), 1.0);
        assert!(n.pmin(one).lane0().is_nan());
        assert_eq!(F32x4::new(1.0, 5.0, -3.0, 2.0).hmax(), 5.0);
        assert_eq!(F32x4::new(1.0, 5.0, -3.0, 2.0).hsum(), 5.0);
    }

    #[test]
    fn bit_helpers() {
        let x = F32x4::splat(f32::from_bits(3));
        assert_eq!(x.bits_add_shl(125, 23).lane0(), 2.0);
        assert_eq!(F32x4::splat(2.0).or_sign_of(F32x4::splat(-0.0)).lane0(), -2.0);
        let s = F32x4::new(1.0, 3.0, 0.0, 0.0).select_lt(F32x4::splat(2.0), F32x4::splat(7.0), F32x4::splat(9.0));
        assert_eq!(s.lane0(), 7.0);
        assert_eq!(s.hsum(), 7.0 + 9.0 + 7.0 + 7.0);
    }
}
