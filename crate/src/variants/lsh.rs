//! Reformer LSH attention (Kitaev et al. 2020), shared-QK form. Definition (float64 in ts/reference/variants/lsh.ts),
//! per (batch, head), positions i < N (Nq = Nk = N; the keys are the normalised queries k_j = q_j / |q_j|, 0 for a
//! zero row; the `k` operand is not read):
//! - round r < rounds hashes every position: u = q_i·R_r (R_r = rotations[r], [Dk, buckets/2] row-major, each u_a
//!   summed in f32 over c = 0, 1, … in order, so the reference reproduces it bit for bit), bucket = argmax over
//!   [u; −u] (the first maximum);
//! - positions are stably sorted by (bucket, position) and the sorted sequence is cut into chunks of `chunk`;
//!   a query in chunk c sees the keys of chunks c and c − 1 (chunk 0 only itself; no wrap-around), restricted to
//!   j ≤ i under causal, and not itself unless nothing else is left;
//! - o_r(i) = Σ softmax(scale·q_i·k_j) v_j over those keys, lse_r(i) = log Σ exp(scale·q_i·k_j);
//! - o(i) = Σ_r exp(lse_r(i) − L(i)) o_r(i), L(i) = log Σ_r exp(lse_r(i)).
//!
//! Rounds combine as online softmax does: per position a running max M, denominator and unnormalised output.
//! Cost per round O(N·Dk·buckets/2 + N·2·chunk·(Dk + Dv)); the sort is a counting sort O(N + buckets). Scratch
//! O(N·(Dk + Dv) + chunk·(Dk + Dv)); nothing N × N.

use super::features::exp_shifted;
use super::ops::{axpy, dot, filled, max, padded, scale as scale_row};
use super::Out;
use crate::math::{exp2_scalar, LOG2_E};
use crate::problem::{Dims, OutOfMemory, View};

/// The LSH parameters and the random rotations, [rounds, dk, buckets / 2] row-major.
pub struct Lsh<'a> {
    pub buckets: usize,
    pub rounds: usize,
    pub chunk: usize,
    pub rotations: &'a [f32],
}

fn area(a: usize, b: usize) -> Result<usize, OutOfMemory> {
    a.checked_mul(b).ok_or(OutOfMemory)
}

struct Work {
    dkp: usize,
    dvp: usize,
    halfp: usize,
    /// Rotations with rows padded to halfp: [rounds, dk, halfp].
    rot: Vec<f32>,
    /// Normalised keys, n rows of dkp.
    keys: Vec<f32>,
    /// |q_i|.
    norms: Vec<f32>,
    bucket: Vec<u32>,
    count: Vec<usize>,
    /// Sorted order: perm[s] = position.
    perm: Vec<u32>,
    /// Per position: running max, denominator and unnormalised output (dvp).
    m: Vec<f32>,
    den: Vec<f32>,
    acc: Vec<f32>,
    /// One chunk's candidate keys (2·chunk rows of dkp), values (dvp), positions, and one row of scores / output.
    kb: Vec<f32>,
    vb: Vec<f32>,
    pos: Vec<usize>,
    scores: Vec<f32>,
    num: Vec<f32>,
    proj: Vec<f32>,
    qrow: Vec<f32>,
}

impl Work {
    fn new(d: &Dims, l: &Lsh) -> Result<Self, OutOfMemory> {
        let (dkp, dvp, halfp) = (padded(d.dk), padded(d.dv), padded(l.buckets / 2));
        let n = d.nq;
        let cand = area(2, l.chunk)?;
        let mut rot = filled(area(area(l.rounds, d.dk)?, halfp)?, 0.0)?;
        let half = l.buckets / 2;
        for (r, row) in l.rotations.chunks_exact(half).enumerate().take(l.rounds * d.dk) {
            rot[r * halfp..r * halfp + half].copy_from_slice(row);
        }
        let mut pos = Vec::new();
        pos.try_reserve_exact(cand).map_err(|_| OutOfMemory)?;
        pos.resize(cand, 0);
        let mut bucket = Vec::new();
        bucket.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
        bucket.resize(n, 0u32);
        let mut perm = Vec::new();
        perm.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
        perm.resize(n, 0u32);
        let mut count = Vec::new();
        count.try_reserve_exact(l.buckets + 1).map_err(|_| OutOfMemory)?;
        count.resize(l.buckets + 1, 0usize);
        Ok(Work {
            dkp,
            dvp,
            halfp,
            rot,
            keys: filled(area(n, dkp)?, 0.0)?,
            norms: filled(n, 0.0)?,
            bucket,
            count,
            perm,
            m: filled(n, 0.0)?,
            den: filled(n, 0.0)?,
            acc: filled(area(n, dvp)?, 0.0)?,
            kb: filled(area(cand, dkp)?, 0.0)?,
            vb: filled(area(cand, dvp)?, 0.0)?,
            pos,
            scores: filled(padded(cand), 0.0)?,
            num: filled(dvp, 0.0)?,
            proj: filled(halfp, 0.0)?,
            qrow: filled(dkp, 0.0)?,
        })
    }
}

/// Runs LSH attention for every (batch, head). `q` and `v` are [b, h, n, dk] / [b, h, n, dv] (Nq = Nk = n, one
/// value head per query head group as usual); `causal`: key j only for queries i ≥ j.
pub fn run(
    dims: Dims,
    q: View<f32>,
    v: View<f32>,
    scale: f32,
    causal: bool,
    l: &Lsh,
    out: &mut Out,
) -> Result<(), OutOfMemory> {
    let mut w = Work::new(&dims, l)?;
    let group = dims.hq / dims.hkv;
    for b in 0..dims.b {
        for h in 0..dims.hq {
            head(&dims, &q, &v, scale, causal, l, &mut w, b, h, h / group);
            let strides = out.strides;
            for i in 0..dims.nq {
                let inv = 1.0 / w.den[i];
                let o = strides.at(b, h, i);
                for (y, x) in out.o[o..o + dims.dv].iter_mut().zip(&w.acc[i * w.dvp..]) {
                    *y = x * inv;
                }
            }
        }
    }
    Ok(())
}

/// Bucket of the row in `w.qrow` for round `r`: argmax over [u; −u], u = q·R_r summed over c in order.
fn hash(w: &mut Work, dk: usize, half: usize, r: usize) -> u32 {
    let halfp = w.halfp;
    w.proj.iter_mut().for_each(|x| *x = 0.0);
    let rot = &w.rot[r * dk * halfp..(r + 1) * dk * halfp];
    for c in 0..dk {
        axpy(&mut w.proj, w.qrow[c], &rot[c * halfp..(c + 1) * halfp]);
    }
    let (mut best, mut bv) = (0usize, w.proj[0]);
    for a in 1..half {
        if w.proj[a] > bv {
            best = a;
            bv = w.proj[a];
        }
    }
    for a in 0..half {
        if -w.proj[a] > bv {
            best = half + a;
            bv = -w.proj[a];
        }
    }
    best as u32
}

#[allow(clippy::too_many_arguments)]
fn head(
    d: &Dims,
    q: &View<f32>,
    v: &View<f32>,
    scale: f32,
    causal: bool,
    l: &Lsh,
    w: &mut Work,
    b: usize,
    h: usize,
    g: usize,
) {
    let (n, dk, dv, dkp, dvp) = (d.nq, d.dk, d.dv, w.dkp, w.dvp);
    let half = l.buckets / 2;
    for i in 0..n {
        let x = q.row(b, h, i, 0, dk);
        // In f64: f32's sum of squares overflows from |q| ≈ 1.8e19 on (keys 0, scale·∞·0 = NaN scores).
        let norm = x.iter().map(|&t| t as f64 * t as f64).sum::<f64>().sqrt();
        let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        w.norms[i] = norm as f32;
        for (y, &t) in w.keys[i * dkp..i * dkp + dk].iter_mut().zip(x) {
            *y = (t as f64 * inv) as f32;
        }
    }
    w.m.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
    w.den.iter_mut().for_each(|x| *x = 0.0);
    w.acc.iter_mut().for_each(|x| *x = 0.0);
    for r in 0..l.rounds {
        for i in 0..n {
            w.qrow[..dk].copy_from_slice(q.row(b, h, i, 0, dk));
            w.bucket[i] = hash(w, dk, half, r);
        }
        // Stable counting sort by bucket.
        w.count.iter_mut().for_each(|x| *x = 0);
        for i in 0..n {
            w.count[w.bucket[i] as usize + 1] += 1;
        }
        for k in 0..l.buckets {
            w.count[k + 1] += w.count[k];
        }
        for i in 0..n {
            let k = w.bucket[i] as usize;
            w.perm[w.count[k]] = i as u32;
            w.count[k] += 1;
        }
        let mut c0 = 0;
        while c0 < n {
            let c1 = (c0 + l.chunk).min(n);
            let from = c0.saturating_sub(l.chunk);
            let cand = c1 - from;
            for t in 0..cand {
                let j = w.perm[from + t] as usize;
                w.pos[t] = j;
                let (src, dst) = (&w.keys[j * dkp..(j + 1) * dkp], t * dkp);
                w.kb[dst..dst + dkp].copy_from_slice(src);
                w.vb[t * dvp..t * dvp + dv].copy_from_slice(v.row(b, g, j, 0, dv));
            }
            for s in c0..c1 {
                let i = w.perm[s] as usize;
                chunk_row(w, i, cand, scale, causal);
            }
            c0 = c1;
        }
    }
}

/// One query row of one round over the `cand` gathered keys: scores, masks, softmax, then folds the unnormalised
/// output into the position's running (m, den, acc).
fn chunk_row(w: &mut Work, i: usize, cand: usize, scale: f32, causal: bool) {
    let (dkp, dvp) = (w.dkp, w.dvp);
    let qs = scale * w.norms[i];
    let mut others = 0;
    let mut own = usize::MAX;
    {
        let qi = &w.keys[i * dkp..(i + 1) * dkp];
        for t in 0..cand {
            let j = w.pos[t];
            if causal && j > i {
                w.scores[t] = f32::NEG_INFINITY;
            } else {
                w.scores[t] = qs * dot(qi, &w.kb[t * dkp..(t + 1) * dkp]);
                if j == i {
                    own = t;
                } else {
                    others += 1;
                }
            }
        }
    }
    if others > 0 && own != usize::MAX {
        w.scores[own] = f32::NEG_INFINITY;
    }
    let sp = padded(cand);
    w.scores[cand..sp].iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
    let row = &mut w.scores[..sp];
    let m = max(row);
    exp_shifted(row, m);
    w.num.iter_mut().for_each(|x| *x = 0.0);
    let mut l = 0.0f32;
    for t in 0..cand {
        let p = w.scores[t];
        if p != 0.0 {
            l += p;
            axpy(&mut w.num, p, &w.vb[t * dvp..(t + 1) * dvp]);
        }
    }
    let acc = &mut w.acc[i * dvp..(i + 1) * dvp];
    if m > w.m[i] {
        if w.m[i] > f32::NEG_INFINITY {
            let f = exp2_scalar((w.m[i] - m) * LOG2_E);
            scale_row(acc, f);
            w.den[i] *= f;
        }
        w.m[i] = m;
    }
    let f = if m == w.m[i] { 1.0 } else { exp2_scalar((m - w.m[i]) * LOG2_E) };
    axpy(acc, f, &w.num);
    w.den[i] += f * l;
}
