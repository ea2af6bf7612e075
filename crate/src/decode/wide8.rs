//! int8 rows read eight at a time and widened with `i32x4.dot_i16x8_s` against (1, 0) / (0, 1) pairs: one
//! instruction yields the even (or odd) elements as i32, exactly, and `f32x4.convert_i32x4_s` makes them f32 (LLVM
//! cannot fold a target intrinsic into a scalarised i8 → f32 conversion, as it does with plain extends; those cost a
//! magic-number add and subtract instead). The widened halves come out in even / odd order, so the query row is
//! permuted once per kv head and the P·V accumulator holds each block of 8 columns as [0 2 4 6 1 3 5 7] (undone on
//! the merged output row). Results are identical in value to widening in order: only the summation order inside a
//! dot product changes.

use super::micro::sum4;
use crate::simd::F32x4;

/// (x0 x2 x4 x6), (x1 x3 x5 x7) of eight int8 as f32.
///
/// # Safety
/// p..p+8 readable.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn load8(p: *const i8) -> (F32x4, F32x4) {
    use core::arch::wasm32::*;
    let x = i16x8_load_extend_i8x8(p);
    let even = f32x4_convert_i32x4(i32x4_dot_i16x8(x, i32x4_splat(1)));
    let odd = f32x4_convert_i32x4(i32x4_dot_i16x8(x, i32x4_splat(1 << 16)));
    let mut t = [0f32; 8];
    v128_store(t.as_mut_ptr() as *mut v128, even);
    v128_store(t.as_mut_ptr().add(4) as *mut v128, odd);
    (F32x4::load(t.as_ptr()), F32x4::load(t.as_ptr().add(4)))
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
unsafe fn load8(p: *const i8) -> (F32x4, F32x4) {
    let x = |i: usize| *p.add(i) as f32;
    (F32x4::new(x(0), x(2), x(4), x(6)), F32x4::new(x(1), x(3), x(5), x(7)))
}

/// out = x with every full block of 8 reordered [0 2 4 6 1 3 5 7]; the tail as is.
pub fn permute8(x: &[f32], out: &mut [f32]) {
    let n8 = x.len() / 8 * 8;
    for b in (0..n8).step_by(8) {
        for i in 0..4 {
            out[b + i] = x[b + 2 * i];
            out[b + 4 + i] = x[b + 2 * i + 1];
        }
    }
    out[n8..x.len()].copy_from_slice(&x[n8..]);
}

/// The inverse of `permute8`, in place.
pub fn unpermute8(x: &mut [f32]) {
    let n8 = x.len() / 8 * 8;
    for b in (0..n8).step_by(8) {
        let mut t = [0f32; 8];
        t.copy_from_slice(&x[b..b + 8]);
        for i in 0..4 {
            x[b + 2 * i] = t[i];
            x[b + 2 * i + 1] = t[4 + i];
        }
    }
}

/// s[j] = q · k_j for the n int8 rows of `k` (n · dk); `qp` is q permuted by `permute8`, `q` the row as is.
pub fn scores(qp: &[f32], q: &[f32], dk: usize, k: &[i8], n: usize, s: &mut [f32]) {
    assert!(qp.len() >= dk && q.len() >= dk && k.len() >= n * dk && s.len() >= n);
    let d8 = dk / 8 * 8;
    let mut j = 0;
    while j < n {
        let keys = (n - j).min(4);
        let mut a = [F32x4::splat(0.0); 4];
        let mut d = 0;
        while d < d8 {
            // SAFETY: d + 8 ≤ dk: inside qp and inside each of the keys' rows (asserted above).
            unsafe {
                let (qe, qo) = (F32x4::load(qp.as_ptr().add(d)), F32x4::load(qp.as_ptr().add(d + 4)));
                for (x, acc) in a.iter_mut().enumerate().take(keys) {
                    let (e, o) = load8(k.as_ptr().add((j + x) * dk + d));
                    *acc = acc.add(qe.mul(e)).add(qo.mul(o));
                }
            }
            d += 8;
        }
        let mut sums = [0f32; 4];
        // SAFETY: four floats.
        unsafe { sum4(a[0], a[1], a[2], a[3]).store(sums.as_mut_ptr()) };
        for (x, &sum) in sums.iter().enumerate().take(keys) {
            let row = &k[(j + x) * dk..(j + x + 1) * dk];
            let mut r = sum;
            for d in d8..dk {
                r += q[d] * row[d] as f32;
            }
            s[j + x] = r;
        }
        j += keys;
    }
}

/// acc ← acc · alpha + Σ_j p_j v_j for the n int8 rows of `v` (n · dv); `acc` holds full blocks of 8 columns in
/// `permute8` order, the tail as is.
pub fn accumulate(p: &[f32], v: &[i8], dv: usize, alpha: f32, acc: &mut [f32]) {
    let n = p.len();
    assert!(v.len() >= n * dv && acc.len() >= dv);
    let al = F32x4::splat(alpha);
    let mut d = 0;
    while d + 8 <= dv {
        let w = if d + 32 <= dv { 4 } else { 1 };
        let mut a = [F32x4::splat(0.0); 8];
        // SAFETY: columns d..d + 8w lie inside acc and inside every row of v (asserted above).
        unsafe {
            for (i, x) in a.iter_mut().enumerate().take(2 * w) {
                *x = F32x4::load(acc.as_ptr().add(d + 4 * i)).mul(al);
            }
            for (j, pj) in p.iter().enumerate() {
                let pv = F32x4::splat(*pj);
                let row = v.as_ptr().add(j * dv + d);
                for b in 0..w {
                    let (e, o) = load8(row.add(8 * b));
                    a[2 * b] = a[2 * b].add(pv.mul(e));
                    a[2 * b + 1] = a[2 * b + 1].add(pv.mul(o));
                }
            }
            for (i, x) in a.iter().enumerate().take(2 * w) {
                x.store(acc.as_mut_ptr().add(d + 4 * i));
            }
        }
        d += 8 * w;
    }
    for c in d..dv {
        let mut x = acc[c] * alpha;
        for (j, pj) in p.iter().enumerate() {
            x += pj * v[j * dv + c] as f32;
        }
        acc[c] = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_kernels_equal_plain_sums() {
        for (dk, n) in [(1usize, 3usize), (8, 1), (13, 5), (64, 9), (128, 4), (40, 7)] {
            let q: Vec<f32> = (0..dk).map(|i| ((i * 37 % 29) as f32 - 14.0) / 14.0).collect();
            let k: Vec<i8> = (0..n * dk).map(|i| ((i * 71 % 255) as i32 - 127) as i8).collect();
            let mut qp = vec![0f32; dk];
            permute8(&q, &mut qp);
            let mut s = vec![0f32; n];
            scores(&qp, &q, dk, &k, n, &mut s);
            for j in 0..n {
                let want: f64 = (0..dk).map(|d| q[d] as f64 * k[j * dk + d] as f64).sum();
                let size: f64 = (0..dk).map(|d| (q[d] as f64 * k[j * dk + d] as f64).abs()).sum();
                assert!((s[j] as f64 - want).abs() <= 1e-6 * size, "dk {dk} key {j}: {} vs {want}", s[j]);
            }
            let p: Vec<f32> = (0..n).map(|j| (j as f32 + 1.0) / n as f32).collect();
            let acc0: Vec<f32> = (0..dk).map(|c| c as f32 * 0.25).collect();
            let mut acc = vec![0f32; dk];
            permute8(&acc0, &mut acc);
            accumulate(&p, &k, dk, 0.5, &mut acc);
            unpermute8(&mut acc);
            for c in 0..dk {
                let want = acc0[c] as f64 * 0.5 + (0..n).map(|j| p[j] as f64 * k[j * dk + c] as f64).sum::<f64>();
                let size =
                    acc0[c] as f64 * 0.5 + (0..n).map(|j| (p[j] as f64 * k[j * dk + c] as f64).abs()).sum::<f64>();
                assert!((acc[c] as f64 - want).abs() <= 1e-6 * size.max(1.0), "dk {dk} col {c}: {} vs {want}", acc[c]);
            }
        }
    }
}
