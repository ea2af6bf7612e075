//! Vector helpers on padded rows (lengths a multiple of 4 lanes). Each asserts its bounds once, then walks the
//! slices four lanes at a time.

use crate::simd::{F32x4, LANES};

/// `x` rounded up to a whole number of f32x4 lanes.
#[inline(always)]
pub fn padded(x: usize) -> usize {
    (x + LANES - 1) / LANES * LANES
}

/// `y += a · x` over `y.len()` elements (a multiple of 4; `x` at least as long).
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len();
    assert!(n % LANES == 0 && x.len() >= n);
    let av = F32x4::splat(a);
    let (yp, xp) = (y.as_mut_ptr(), x.as_ptr());
    // SAFETY: i + 4 ≤ n ≤ len of both slices (asserted above).
    unsafe {
        let mut i = 0;
        while i < n {
            F32x4::load(yp.add(i)).add(av.mul(F32x4::load(xp.add(i)))).store(yp.add(i));
            i += LANES;
        }
    }
}

/// `Σ x·y` over `x.len()` elements (a multiple of 4; `y` at least as long).
#[inline(always)]
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len();
    assert!(n % LANES == 0 && y.len() >= n);
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut acc = [F32x4::splat(0.0); 2];
    // SAFETY: every index read is < n ≤ len of both slices (asserted above).
    unsafe {
        let mut i = 0;
        while i + 2 * LANES <= n {
            acc[0] = acc[0].add(F32x4::load(xp.add(i)).mul(F32x4::load(yp.add(i))));
            acc[1] = acc[1].add(F32x4::load(xp.add(i + LANES)).mul(F32x4::load(yp.add(i + LANES))));
            i += 2 * LANES;
        }
        if i < n {
            acc[0] = acc[0].add(F32x4::load(xp.add(i)).mul(F32x4::load(yp.add(i))));
        }
    }
    acc[0].add(acc[1]).hsum()
}

/// `y *= a` over `y.len()` elements (a multiple of 4).
#[inline(always)]
pub fn scale(y: &mut [f32], a: f32) {
    let n = y.len();
    assert!(n % LANES == 0);
    let av = F32x4::splat(a);
    let yp = y.as_mut_ptr();
    // SAFETY: i + 4 ≤ n = y.len().
    unsafe {
        let mut i = 0;
        while i < n {
            F32x4::load(yp.add(i)).mul(av).store(yp.add(i));
            i += LANES;
        }
    }
}

/// Applies `f` to every f32x4 of `y` (a multiple of 4 long) in place.
#[inline(always)]
pub fn map(y: &mut [f32], f: impl Fn(F32x4) -> F32x4) {
    let n = y.len();
    assert!(n % LANES == 0);
    let yp = y.as_mut_ptr();
    // SAFETY: i + 4 ≤ n = y.len().
    unsafe {
        let mut i = 0;
        while i < n {
            f(F32x4::load(yp.add(i))).store(yp.add(i));
            i += LANES;
        }
    }
}

/// Largest element (pseudo-max: NaN in `y` may or may not win).
#[inline(always)]
pub fn max(y: &[f32]) -> f32 {
    let mut m = F32x4::splat(f32::NEG_INFINITY);
    let n = y.len();
    assert!(n % LANES == 0);
    let yp = y.as_ptr();
    // SAFETY: i + 4 ≤ n = y.len().
    unsafe {
        let mut i = 0;
        while i < n {
            m = F32x4::load(yp.add(i)).pmax(m);
            i += LANES;
        }
    }
    m.hmax()
}

/// Largest |element| (pseudo-max: NaN in `y` may or may not win).
#[inline(always)]
pub fn max_abs(y: &[f32]) -> f32 {
    assert!(y.len() % LANES == 0);
    y.chunks_exact(LANES).fold(F32x4::splat(0.0), |m, c| F32x4::new(c[0], c[1], c[2], c[3]).abs().pmax(m)).hmax()
}

/// `y = zip(y, x).map(f)` per f32x4 over `y.len()` elements (a multiple of 4; `x` at least as long).
#[inline(always)]
pub fn zip_map(y: &mut [f32], x: &[f32], f: impl Fn(F32x4, F32x4) -> F32x4) {
    let n = y.len();
    assert!(n % LANES == 0 && x.len() >= n);
    let (yp, xp) = (y.as_mut_ptr(), x.as_ptr());
    // SAFETY: i + 4 ≤ n ≤ len of both slices (asserted above).
    unsafe {
        let mut i = 0;
        while i < n {
            f(F32x4::load(yp.add(i)), F32x4::load(xp.add(i))).store(yp.add(i));
            i += LANES;
        }
    }
}

/// `y[a] = max(y[a], x[a])` lane by lane (pseudo-max: NaN in `x` may or may not win).
#[inline(always)]
pub fn max_lanes(y: &mut [f32], x: &[f32]) {
    zip_map(y, x, |a, b| b.pmax(a));
}

/// `y[a] += x[a]` lane by lane.
#[inline(always)]
pub fn add_lanes(y: &mut [f32], x: &[f32]) {
    zip_map(y, x, |a, b| a.add(b));
}

/// A vector of `n` copies of `value`, or OutOfMemory.
pub fn filled(n: usize, value: f32) -> Result<Vec<f32>, crate::problem::OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| crate::problem::OutOfMemory)?;
    v.resize(n, value);
    Ok(v)
}
