//! Four-row microkernels of the decode kernel (GQA / several queries: every K and V load feeds four query rows). Keys
//! and values of any element type are widened in registers once per four rows (`Elem::load4`), not staged.
//! Scores: a 4 rows × 2 keys register block (8 accumulators, reduced by `sum4`). P·V: a 4 rows × 8 columns block
//! (8 accumulators) walking the tile's keys. Element types that widen eight at once (`Elem::LOAD8`) step eight
//! columns at a time. Head dims 64 and 128 get their own copies (constant strides: no multiplications in the
//! loops; LLVM 14 still emits each constant offset as an i32.add, which V8 turns into one lea per load).

use super::elem::Elem;
use crate::simd::F32x4;

/// s[r·ss + off + j] = q[r·dk ..][..dk] · k_j for rows r < 4 and the n keys of `k` (n · dk).
pub fn scores4<E: Elem>(q: &[f32], dk: usize, k: &[E], n: usize, s: &mut [f32], ss: usize, off: usize) {
    assert!(q.len() >= 4 * dk && k.len() >= n * dk && s.len() >= 3 * ss + off + n);
    // SAFETY: the assert covers every row the kernel reads and writes.
    unsafe {
        match dk {
            64 => scores4_at(q.as_ptr(), 64, k.as_ptr(), n, s.as_mut_ptr().add(off), ss),
            128 => scores4_at(q.as_ptr(), 128, k.as_ptr(), n, s.as_mut_ptr().add(off), ss),
            _ => scores4_at(q.as_ptr(), dk, k.as_ptr(), n, s.as_mut_ptr().add(off), ss),
        }
    }
}

/// # Safety
/// q: 4 · dk readable; k: n · dk readable; s: rows r < 4 at r · ss, n writable each.
#[inline(always)]
unsafe fn scores4_at<E: Elem>(q: *const f32, dk: usize, k: *const E, n: usize, s: *mut f32, ss: usize) {
    let dk4 = dk / 4 * 4;
    let mut j = 0;
    while j < n {
        let two = j + 1 < n;
        let k0 = k.add(j * dk);
        // With one key left, the second column reads the first key again (its result is dropped).
        let k1 = if two { k0.add(dk) } else { k0 };
        let mut a = [F32x4::splat(0.0); 8];
        let mut d = 0;
        // Eight columns per step (`Elem::load8`), each accumulator adding columns d.. before d + 4..
        while E::LOAD8 && d + 8 <= dk4 {
            let ([x0, y0], [x1, y1]) = (E::load8(k0.add(d)), E::load8(k1.add(d)));
            for r in 0..4 {
                let (u, w) = (F32x4::load(q.add(r * dk + d)), F32x4::load(q.add(r * dk + d + 4)));
                a[2 * r] = a[2 * r].add(u.mul(x0)).add(w.mul(y0));
                a[2 * r + 1] = a[2 * r + 1].add(u.mul(x1)).add(w.mul(y1));
            }
            d += 8;
        }
        while d < dk4 {
            let (x0, x1) = (E::load4(k0.add(d)), E::load4(k1.add(d)));
            for r in 0..4 {
                let y = F32x4::load(q.add(r * dk + d));
                a[2 * r] = a[2 * r].add(y.mul(x0));
                a[2 * r + 1] = a[2 * r + 1].add(y.mul(x1));
            }
            d += 4;
        }
        // Rows 0-1 and 2-3, each as [r·k0, r·k1, r'·k0, r'·k1].
        let mut out = [0f32; 8];
        sum4(a[0], a[1], a[2], a[3]).store(out.as_mut_ptr());
        sum4(a[4], a[5], a[6], a[7]).store(out.as_mut_ptr().add(4));
        for d in dk4..dk {
            for r in 0..4 {
                let y = *q.add(r * dk + d);
                out[2 * r] += y * (*k0.add(d)).to_f32();
                out[2 * r + 1] += y * (*k1.add(d)).to_f32();
            }
        }
        for r in 0..4 {
            *s.add(r * ss + j) = out[2 * r];
            if two {
                *s.add(r * ss + j + 1) = out[2 * r + 1];
            }
        }
        j += 2;
    }
}

/// [Σx, Σy, Σz, Σw], each summed as `F32x4::hsum` does ((x0 + x2) + (x1 + x3): the same bits), by a 4 × 4 transpose
/// (two interleaves and one add per pair, then two 64-bit interleaves and one add) instead of four shuffle chains.
#[inline(always)]
pub fn sum4(x: F32x4, y: F32x4, z: F32x4, w: F32x4) -> F32x4 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let v = |a: F32x4| {
            let mut t = [0f32; 4];
            // SAFETY: t holds four floats.
            unsafe {
                a.store(t.as_mut_ptr());
                v128_load(t.as_ptr() as *const v128)
            }
        };
        let (x, y, z, w) = (v(x), v(y), v(z), v(w));
        let s = f32x4_add(i32x4_shuffle::<0, 4, 1, 5>(x, y), i32x4_shuffle::<2, 6, 3, 7>(x, y));
        let u = f32x4_add(i32x4_shuffle::<0, 4, 1, 5>(z, w), i32x4_shuffle::<2, 6, 3, 7>(z, w));
        let r = f32x4_add(i64x2_shuffle::<0, 2>(s, u), i64x2_shuffle::<1, 3>(s, u));
        let mut t = [0f32; 4];
        // SAFETY: t holds four floats.
        unsafe {
            v128_store(t.as_mut_ptr() as *mut v128, r);
            F32x4::load(t.as_ptr())
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        F32x4::new(x.hsum(), y.hsum(), z.hsum(), w.hsum())
    }
}

/// acc[r·dv ..][..dv] ← acc_r · alpha_r + Σ_j p[r·ps + j] v_j for rows r < 4 and the n keys of `v` (n · dv).
pub fn values4<E: Elem>(p: &[f32], ps: usize, n: usize, v: &[E], dv: usize, alpha: [f32; 4], acc: &mut [f32]) {
    assert!(p.len() >= 3 * ps + n && v.len() >= n * dv && acc.len() >= 4 * dv);
    // SAFETY: the assert covers every row the kernel reads and writes.
    unsafe {
        match dv {
            64 => values4_at(p.as_ptr(), ps, n, v.as_ptr(), 64, alpha, acc.as_mut_ptr()),
            128 => values4_at(p.as_ptr(), ps, n, v.as_ptr(), 128, alpha, acc.as_mut_ptr()),
            _ => values4_at(p.as_ptr(), ps, n, v.as_ptr(), dv, alpha, acc.as_mut_ptr()),
        }
    }
}

/// # Safety
/// p: rows r < 4 at r · ps, n readable each; v: n · dv readable; acc: 4 · dv writable.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // r also strides the pointers
unsafe fn values4_at<E: Elem>(
    p: *const f32,
    ps: usize,
    n: usize,
    v: *const E,
    dv: usize,
    alpha: [f32; 4],
    acc: *mut f32,
) {
    let al = [F32x4::splat(alpha[0]), F32x4::splat(alpha[1]), F32x4::splat(alpha[2]), F32x4::splat(alpha[3])];
    let mut d = 0;
    while d + 8 <= dv {
        let mut a = [F32x4::splat(0.0); 8];
        for r in 0..4 {
            a[2 * r] = F32x4::load(acc.add(r * dv + d)).mul(al[r]);
            a[2 * r + 1] = F32x4::load(acc.add(r * dv + d + 4)).mul(al[r]);
        }
        for j in 0..n {
            let row = v.add(j * dv + d);
            let [x0, x1] = E::load8(row);
            for r in 0..4 {
                let w = F32x4::load_splat(p.add(r * ps + j));
                a[2 * r] = a[2 * r].add(w.mul(x0));
                a[2 * r + 1] = a[2 * r + 1].add(w.mul(x1));
            }
        }
        for r in 0..4 {
            a[2 * r].store(acc.add(r * dv + d));
            a[2 * r + 1].store(acc.add(r * dv + d + 4));
        }
        d += 8;
    }
    for c in d..dv {
        for r in 0..4 {
            let mut x = *acc.add(r * dv + c) * alpha[r];
            for j in 0..n {
                x += *p.add(r * ps + j) * (*v.add(j * dv + c)).to_f32();
            }
            *acc.add(r * dv + c) = x;
        }
    }
}
