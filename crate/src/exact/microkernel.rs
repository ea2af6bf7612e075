//! The two register-blocked microkernels of the flash loop: S = Q·Kᵀ on an M × NR tile and O += P·V on an M × NC
//! tile (M ≤ MR rows). Accumulators stay in registers for the whole reduction; each step loads two f32x4 of the
//! packed operand and broadcasts one scalar per row. Bounds are asserted once at entry, then the loops walk raw
//! pointers inside the checked ranges.

use super::blocks::{MR, NC, NR};
use crate::simd::F32x4;

/// `s[r·lds + c] = Σ_{d<k} a[d·MR + r] · panel[d·NR + c]` for r < MR, c < NR.
/// `a` is one group of MR query rows interleaved (for every d, the MR rows' d-th components side by side) and
/// `panel` one packed K panel (for every d, the NR keys' d-th components side by side), so each step reads both
/// operands through one advancing pointer each.
#[inline(always)]
pub fn qk(a: &[f32], panel: &[f32], k: usize, s: &mut [f32], lds: usize) {
    assert!(k * MR <= a.len() && k * NR <= panel.len() && (MR - 1) * lds + NR <= s.len());
    let zero = F32x4::splat(0.0);
    let mut acc = [[zero; 2]; MR];
    let mut ap = a.as_ptr();
    let mut bp = panel.as_ptr();
    // SAFETY: step d < k reads a[d·MR..d·MR + MR] and panel[d·NR..d·NR + NR], inside the lengths asserted above.
    unsafe {
        for _ in 0..k {
            let b0 = F32x4::load(bp);
            let b1 = F32x4::load(bp.add(4));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = F32x4::load_splat(ap.add(r));
                acc[0] = acc[0].add(x.mul(b0));
                acc[1] = acc[1].add(x.mul(b1));
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        let sp = s.as_mut_ptr();
        for (r, acc) in acc.iter().enumerate() {
            acc[0].store(sp.add(r * lds));
            acc[1].store(sp.add(r * lds + 4));
        }
    }
}

/// `c[r·ldc + x] += Σ_{j<kc} p[r·ldp + j] · v[j·ldv + x]` for r < M, x < NC.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn pv<const M: usize>(p: &[f32], ldp: usize, v: &[f32], ldv: usize, kc: usize, c: &mut [f32], ldc: usize) {
    assert!((1..=MR).contains(&M) && kc > 0);
    assert!((M - 1) * ldp + kc <= p.len() && (kc - 1) * ldv + NC <= v.len() && (M - 1) * ldc + NC <= c.len());
    let cp = c.as_mut_ptr();
    let pp = p.as_ptr();
    let mut vp = v.as_ptr();
    // SAFETY: j < kc, r < M: every index is within the bounds asserted above.
    unsafe {
        let mut acc = [[F32x4::splat(0.0); 2]; M];
        for (r, acc) in acc.iter_mut().enumerate() {
            acc[0] = F32x4::load(cp.add(r * ldc));
            acc[1] = F32x4::load(cp.add(r * ldc + 4));
        }
        for j in 0..kc {
            let v0 = F32x4::load(vp);
            let v1 = F32x4::load(vp.add(4));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = F32x4::load_splat(pp.add(r * ldp + j));
                acc[0] = acc[0].add(x.mul(v0));
                acc[1] = acc[1].add(x.mul(v1));
            }
            vp = vp.add(ldv);
        }
        for (r, acc) in acc.iter().enumerate() {
            acc[0].store(cp.add(r * ldc));
            acc[1].store(cp.add(r * ldc + 4));
        }
    }
}

/// S = A·Kᵀ for `rows` rows of A (packed by `pack_q`: groups of MR interleaved rows of width `k`) against `panels`
/// packed panels of `k`-wide keys; row r of S starts at r·lds. Whole groups are computed: S must have room for
/// `rows` rounded up to MR. Not inlined (nor `accumulate`, `step`): V8 allocates registers better in these small
/// functions than in one large loop nest (the inlined build ran 8-15 % slower). wasm-opt -O3 inlines any function
/// with a single call site whatever `#[inline(never)]` says, so `scores` (through `block_scores`) and `accumulate`
/// are each called from two places; keep it that way.
#[inline(never)]
pub fn scores(a: &[f32], rows: usize, kpack: &[f32], k: usize, panels: usize, s: &mut [f32], lds: usize) {
    for g in 0..(rows + MR - 1) / MR {
        let a = &a[g * MR * k..(g + 1) * MR * k];
        let s = &mut s[g * MR * lds..];
        for p in 0..panels {
            qk(a, &kpack[p * k * NR..(p + 1) * k * NR], k, &mut s[p * NR..], lds);
        }
    }
}

/// O += P·V for `rows` rows of P (row stride ldp, `kc` keys) and V (kc rows, stride ldv, `cols` columns, a multiple
/// of NC); row r of O starts at r·ldo.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn accumulate(
    p: &[f32],
    ldp: usize,
    rows: usize,
    v: &[f32],
    ldv: usize,
    kc: usize,
    cols: usize,
    o: &mut [f32],
    ldo: usize,
) {
    debug_assert!(cols % NC == 0);
    let mut r = 0;
    while r < rows {
        let m = (rows - r).min(MR);
        let p = &p[r * ldp..];
        let o = &mut o[r * ldo..];
        for x in (0..cols).step_by(NC) {
            let v = &v[x..];
            let o = &mut o[x..];
            match m {
                4 => pv::<4>(p, ldp, v, ldv, kc, o, ldo),
                3 => pv::<3>(p, ldp, v, ldv, kc, o, ldo),
                2 => pv::<2>(p, ldp, v, ldv, kc, o, ldo),
                _ => pv::<1>(p, ldp, v, ldv, kc, o, ldo),
            }
        }
        r += m;
    }
}
