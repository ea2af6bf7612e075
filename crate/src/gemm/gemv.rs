//! The matrix-vector form for very short A (a decode step): no packing, B is streamed once per row of A.
//! Not transposed, y += a_p·B(p, :) four depths at a time over contiguous rows of B; transposed, y_j = a·B(j, :) as
//! four simultaneous dot products over contiguous rows of B.

use super::Gemm;
use crate::simd::F32x4;

pub fn gemv(g: &Gemm, c: &mut [f32], ldc: usize) {
    for i in 0..g.m {
        let a = &g.a[i * g.lda..i * g.lda + g.k];
        let y = &mut c[i * ldc..i * ldc + g.n];
        match g.bias {
            Some(bias) => y.copy_from_slice(&bias[..g.n]),
            None => y.fill(0.0),
        }
        if g.trans_b {
            dots(a, g.b, g.ldb, y);
        } else {
            axpys(a, g.b, g.ldb, y);
        }
    }
}

/// y[j] += Σ_p a[p]·b[p·ldb + j].
fn axpys(a: &[f32], b: &[f32], ldb: usize, y: &mut [f32]) {
    let (k, n) = (a.len(), y.len());
    let n4 = n / 4 * 4;
    let row = |p: usize| &b[p * ldb..p * ldb + n];
    let mut p = 0;
    while p + 4 <= k {
        let (r0, r1, r2, r3) = (row(p), row(p + 1), row(p + 2), row(p + 3));
        let (x0, x1, x2, x3) =
            (F32x4::splat(a[p]), F32x4::splat(a[p + 1]), F32x4::splat(a[p + 2]), F32x4::splat(a[p + 3]));
        let yp = y.as_mut_ptr();
        // SAFETY: j + 4 ≤ n4 ≤ n = len of y and of every row slice.
        unsafe {
            for j in (0..n4).step_by(4) {
                let s0 = x0.mul(F32x4::load(r0.as_ptr().add(j))).add(x1.mul(F32x4::load(r1.as_ptr().add(j))));
                let s1 = x2.mul(F32x4::load(r2.as_ptr().add(j))).add(x3.mul(F32x4::load(r3.as_ptr().add(j))));
                F32x4::load(yp.add(j)).add(s0.add(s1)).store(yp.add(j));
            }
        }
        for j in n4..n {
            y[j] += a[p] * r0[j] + a[p + 1] * r1[j] + a[p + 2] * r2[j] + a[p + 3] * r3[j];
        }
        p += 4;
    }
    while p < k {
        let (r, x) = (row(p), a[p]);
        for (y, b) in y.iter_mut().zip(r) {
            *y += x * b;
        }
        p += 1;
    }
}

/// y[j] += Σ_p a[p]·b[j·ldb + p].
fn dots(a: &[f32], b: &[f32], ldb: usize, y: &mut [f32]) {
    let (k, n) = (a.len(), y.len());
    let k4 = k / 4 * 4;
    let row = |j: usize| &b[j * ldb..j * ldb + k];
    let mut j = 0;
    while j + 4 <= n {
        let (r0, r1, r2, r3) = (row(j), row(j + 1), row(j + 2), row(j + 3));
        let zero = F32x4::splat(0.0);
        let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
        // SAFETY: p + 4 ≤ k4 ≤ k = len of a and of every row slice.
        unsafe {
            for p in (0..k4).step_by(4) {
                let x = F32x4::load(a.as_ptr().add(p));
                s0 = s0.add(x.mul(F32x4::load(r0.as_ptr().add(p))));
                s1 = s1.add(x.mul(F32x4::load(r1.as_ptr().add(p))));
                s2 = s2.add(x.mul(F32x4::load(r2.as_ptr().add(p))));
                s3 = s3.add(x.mul(F32x4::load(r3.as_ptr().add(p))));
            }
        }
        let mut t = [s0.hsum(), s1.hsum(), s2.hsum(), s3.hsum()];
        for p in k4..k {
            t[0] += a[p] * r0[p];
            t[1] += a[p] * r1[p];
            t[2] += a[p] * r2[p];
            t[3] += a[p] * r3[p];
        }
        for (x, s) in y[j..j + 4].iter_mut().zip(t) {
            *x += s;
        }
        j += 4;
    }
    while j < n {
        let r = row(j);
        y[j] += a.iter().zip(r).map(|(x, b)| x * b).sum::<f32>();
        j += 1;
    }
}
