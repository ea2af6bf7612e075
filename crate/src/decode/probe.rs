//! Memory-bandwidth probes for the decode benchmark: the plain read (sum) and copy loops a memory-bound kernel is
//! measured against, compiled with the same toolchain and SIMD level as the kernels.

use crate::simd::F32x4;

/// Σ x over `x` with four independent SIMD accumulators (a read-bandwidth loop).
pub fn sum(x: &[f32]) -> f32 {
    let mut a = [F32x4::splat(0.0); 4];
    let n16 = x.len() / 16 * 16;
    let p = x.as_ptr();
    let mut i = 0;
    while i < n16 {
        // SAFETY: i + 16 ≤ len.
        unsafe {
            a[0] = a[0].add(F32x4::load(p.add(i)));
            a[1] = a[1].add(F32x4::load(p.add(i + 4)));
            a[2] = a[2].add(F32x4::load(p.add(i + 8)));
            a[3] = a[3].add(F32x4::load(p.add(i + 12)));
        }
        i += 16;
    }
    let tail: f32 = x[n16..].iter().sum();
    a[0].add(a[1]).add(a[2].add(a[3])).hsum() + tail
}

/// dst ← src with SIMD loads and stores (a copy-bandwidth loop; reads and writes one byte each per byte).
pub fn copy(src: &[f32], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let n16 = n / 16 * 16;
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    let mut i = 0;
    while i < n16 {
        // SAFETY: i + 16 ≤ n ≤ both lengths.
        unsafe {
            F32x4::load(s.add(i)).store(d.add(i));
            F32x4::load(s.add(i + 4)).store(d.add(i + 4));
            F32x4::load(s.add(i + 8)).store(d.add(i + 8));
            F32x4::load(s.add(i + 12)).store(d.add(i + 12));
        }
        i += 16;
    }
    dst[n16..n].copy_from_slice(&src[n16..n]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn probes_compute_what_they_say() {
        let x: Vec<f32> = (0..1003).map(|i| (i % 7) as f32).collect();
        assert_eq!(super::sum(&x), x.iter().sum::<f32>());
        let mut y = vec![0f32; 1003];
        super::copy(&x, &mut y);
        assert_eq!(x, y);
    }
}
