//! The loop nest shared by linear attention and Performer: per (batch, kv head), a state S = Σ_j φ(k_j) v_jᵀ
//! (F × Dv) and z = Σ_j φ(k_j) (F), then for each query row o = φ(q)ᵀS / φ(q)·z. Cost O(N·F·Dv), scratch
//! O(F·Dv + CHUNK·(F + Dv)) (CHUNK keys are loaded at a time); nothing N × N (nor N × F) is ever held.
//!
//! Non-causal: every key is absorbed into the state, then every query row (of every query head sharing the kv head)
//! reads it. Causal: row i sees the key prefix [0, L(i)), L(i) = clamp(i + offset + 1, 0, Nk), non-decreasing in i:
//! rows are walked in order and the keys [L(i − 1), L(i)) are absorbed just before row i reads the state (the same
//! F·Dv work per key as the non-causal form), so the state and its shifts only ever hold keys the row may see.
//!
//! Log-domain maps (Performer) keep the key features as exp(pre_a − c_a) with one running shift c_a PER FEATURE a
//! (the largest pre-feature a of the keys absorbed so far): when a new key raises c_a, row a of S and z_a are
//! rescaled by exp(c_old − c_new) (as online softmax does). A query row's features are exp(pre_a + c_a − M) with M
//! its largest pre_a + c_a, so every product φ_a(q)·φ_a(k) = exp(pre_a(q) + pre_a(k) − M) carries the same factor
//! exp(−M) for all keys and cancels in the ratio; the largest term of a row is ~1, so neither overflows nor
//! underflows however far apart the pre-features of different features or keys are (one shift for the whole
//! state lost every key whose features sat ~88 below the largest one: zeros, then NaN, from |scale·q·k| ~ 100).
//! A row whose denominator is 0 (no key in its prefix, or every feature underflowed) outputs 0; the output is
//! num / den, never num · (1 / den), which overflows for a subnormal den.
//!
//! Range (`Limits`): the elu + 1 features grow like |x|, so S, z, φ(q)ᵀS and φ(q)·z overflowed f32 once
//! |q|·|k|·|v|·N·Dk neared 3.4e38 (|x| ~ 1e16 with Dk 64, N ~ 1000) although the output is of the order of |v|. The
//! linear map stores φ_a(k)·2^−e_a with one running exponent e_a ≥ 0 per feature (raised, with row a of S and z_a
//! rescaled, when a key's φ_a reaches 2^LIMIT), both maps store v[c]·2^−f_c with one running f_c ≥ 0 per value column
//! (undone on the output, which scales with v), and a query row's features become φ_a(q)·2^(e_a − m) with one m ≥ 0
//! per row (it cancels in num / den). Every factor is a power of two, so the scaled sums are the unscaled ones times
//! an exact power of two wherever neither underflows; each exponent is per feature, column or row, so a small lane
//! is only pushed towards subnormals by a large one in the same sum (against which it is negligible), and causal
//! rows see the exponents of their own prefix only. While every φ(k), |v| and φ(q) is below 2^LIMIT (|x| < ~4.29e9)
//! all exponents stay 0 and nothing is multiplied: the results are bitwise those of the unscaled loop.

use super::features::{exp_shifted, exp_shifted_lanes, FeatureMap};
use super::ops::{add_lanes, axpy, dot, filled, max, max_abs, max_lanes, padded, scale, zip_map};
use super::Out;
use crate::problem::{Dims, OutOfMemory, View};

/// Keys loaded (turned into features) at a time before they are absorbed.
pub const CHUNK: usize = 64;

/// Scaled φ'(k), |v'| and φ'(q) stay below 2^LIMIT, so φ'(q)ᵀS' = Σ_a φ'_a(q) Σ_j φ'_a(k_j) v'_j < Dk·N·2^(3·LIMIT)
/// = Dk·N·2^96 ≤ 2^126 < f32::MAX (Dk·N ≤ 2^30: one (batch, kv head) of k fits wasm32's 4 GiB), and the same bounds
/// hold for every partial sum, for S, z and φ'(q)·z'. Below it the factors are 1, so ordinary inputs are untouched.
pub const LIMIT: i32 = 32;

/// The power-of-two bounds of the scaled key features, values and query features (`LIMIT` each; tests lower them
/// to force the scaled path onto ordinary inputs).
#[derive(Clone, Copy)]
pub struct Limits {
    pub k: i32,
    pub v: i32,
    pub q: i32,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { k: LIMIT, v: LIMIT, q: LIMIT };
}

/// floor(log2 |x|) of a normal x, from its exponent bits (−127 for 0 and subnormals, 128 for ±∞ and NaN).
#[inline(always)]
fn exponent(x: f32) -> i32 {
    ((x.to_bits() >> 23) & 0xff) as i32 - 127
}

/// The smallest e ≥ 0 with |x|·2^−e < 2^limit (0 while |x| < 2^limit).
#[inline(always)]
fn excess(x: f32, limit: i32) -> i32 {
    (exponent(x) + 1 - limit).max(0)
}

/// 2^e, e in [−126, 127] (a normal f32).
#[inline(always)]
fn pow2(e: i32) -> f32 {
    debug_assert!((-126..=127).contains(&e));
    f32::from_bits(((e + 127) as u32) << 23)
}

/// x·2^e for any e, in steps that each stay within f32's normal powers of two.
fn mul_pow2(mut x: f32, mut e: i32) -> f32 {
    while e < -126 {
        x *= pow2(-126);
        e += 126;
    }
    while e > 127 {
        x *= pow2(127);
        e -= 127;
    }
    x * pow2(e)
}

/// `n` zero exponents, or OutOfMemory.
fn exponents(n: usize) -> Result<Vec<i32>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
    v.resize(n, 0);
    Ok(v)
}

/// The inputs of one feature-map attention call.
pub struct Inputs<'a> {
    pub dims: Dims,
    pub q: View<'a, f32>,
    pub k: View<'a, f32>,
    pub v: View<'a, f32>,
    /// Causal diagonal offset: row i sees keys j ≤ i + offset (None = every key).
    pub causal: Option<i64>,
}

struct Work {
    fp: usize,
    dvp: usize,
    /// S: fp rows of dvp.
    s: Vec<f32>,
    z: Vec<f32>,
    /// Per-feature shift of the stored key features (log-domain maps only; −∞ until a key is seen).
    c: Vec<f32>,
    /// c with −∞ lanes read as 0 (what the key features are shifted by: a −∞ pre-feature then gives 0, not NaN).
    shift: Vec<f32>,
    /// Lane-wise maximum of one chunk's key pre-features.
    cm: Vec<f32>,
    /// Key (pre-)features of one chunk: CHUNK rows of fp.
    kf: Vec<f32>,
    /// Values of one chunk, zero-padded: CHUNK rows of dvp.
    vb: Vec<f32>,
    qf: Vec<f32>,
    num: Vec<f32>,
    limits: Limits,
    /// Linear map: per feature a, the exponent e_a of the stored key features φ_a(k)·2^−e_a, and 2^−e_a.
    ek: Vec<i32>,
    kdown: Vec<f32>,
    /// Some e_a > 0 in this (batch, kv head).
    k_scaled: bool,
    /// Per value column c, the exponent f_c of the stored values v[c]·2^−f_c, 2^−f_c and 2^f_c (padded lanes 0, 1, 1).
    fv: Vec<i32>,
    vdown: Vec<f32>,
    vup: Vec<f32>,
    /// Some f_c > 0 in this (batch, kv head).
    v_scaled: bool,
    /// Lane-wise maximum |v| of one chunk, and the per-column factors S is rescaled by.
    vm: Vec<f32>,
    ratio: Vec<f32>,
    /// Some factor was not 1 during the call (reported to the tests).
    any_scaled: bool,
}

impl Work {
    fn new(f: usize, dv: usize, limits: Limits) -> Result<Self, OutOfMemory> {
        let fp = padded(f);
        let dvp = padded(dv);
        let area = |a: usize, b: usize| a.checked_mul(b).ok_or(OutOfMemory);
        Ok(Work {
            fp,
            dvp,
            s: filled(area(fp, dvp)?, 0.0)?,
            z: filled(fp, 0.0)?,
            c: filled(fp, f32::NEG_INFINITY)?,
            shift: filled(fp, 0.0)?,
            cm: filled(fp, 0.0)?,
            kf: filled(area(CHUNK, fp)?, 0.0)?,
            vb: filled(area(CHUNK, dvp)?, 0.0)?,
            qf: filled(fp, 0.0)?,
            num: filled(dvp, 0.0)?,
            limits,
            ek: exponents(fp)?,
            kdown: filled(fp, 1.0)?,
            k_scaled: false,
            fv: exponents(dvp)?,
            vdown: filled(dvp, 1.0)?,
            vup: filled(dvp, 1.0)?,
            v_scaled: false,
            vm: filled(dvp, 0.0)?,
            ratio: filled(dvp, 1.0)?,
            any_scaled: false,
        })
    }

    fn reset(&mut self) {
        self.s.iter_mut().for_each(|x| *x = 0.0);
        self.z.iter_mut().for_each(|x| *x = 0.0);
        self.c.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
        self.shift.iter_mut().for_each(|x| *x = 0.0);
        if self.k_scaled {
            self.ek.iter_mut().for_each(|x| *x = 0);
            self.kdown.iter_mut().for_each(|x| *x = 1.0);
            self.k_scaled = false;
        }
        if self.v_scaled {
            self.fv.iter_mut().for_each(|x| *x = 0);
            self.vdown.iter_mut().for_each(|x| *x = 1.0);
            self.vup.iter_mut().for_each(|x| *x = 1.0);
            self.v_scaled = false;
        }
    }
}

/// Computes the output of every (batch, query head, row) into `out`.
pub fn run<M: FeatureMap>(p: &Inputs, map: &M, out: &mut Out) -> Result<(), OutOfMemory> {
    run_with(p, map, out, Limits::DEFAULT).map(|_| ())
}

/// `run` with the given bounds; tells whether any factor was not 1.
pub fn run_with<M: FeatureMap>(p: &Inputs, map: &M, out: &mut Out, limits: Limits) -> Result<bool, OutOfMemory> {
    let d = p.dims;
    let mut w = Work::new(map.dim(), d.dv, limits)?;
    for b in 0..d.b {
        for g in 0..d.hkv {
            w.reset();
            match p.causal {
                None => non_causal(p, map, &mut w, out, b, g),
                Some(offset) => causal(p, map, &mut w, out, b, g, offset),
            }
        }
    }
    Ok(w.any_scaled)
}

/// Loads keys [j0, j1) (at most CHUNK) of (b, g) into the chunk buffers as features, raising the state's per-feature
/// shifts first where a log-domain key exceeds them.
fn load_keys<M: FeatureMap>(p: &Inputs, map: &M, w: &mut Work, b: usize, g: usize, j0: usize, j1: usize) {
    let (fp, dvp, dk, dv) = (w.fp, w.dvp, p.dims.dk, p.dims.dv);
    for j in j0..j1 {
        let r = j - j0;
        map.pre(p.k.row(b, g, j, 0, dk), &mut w.kf[r * fp..(r + 1) * fp]);
        w.vb[r * dvp..r * dvp + dv].copy_from_slice(p.v.row(b, g, j, 0, dv));
    }
    if M::EXP && j1 > j0 {
        let rows = &mut w.kf[..(j1 - j0) * fp];
        w.cm.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
        for row in rows.chunks_exact(fp) {
            max_lanes(&mut w.cm, row);
        }
        for a in 0..fp {
            let (old, new) = (w.c[a], w.cm[a]);
            if new > old {
                if old > f32::NEG_INFINITY {
                    let f = crate::math::exp2_scalar((old - new) * crate::math::LOG2_E);
                    scale(&mut w.s[a * dvp..(a + 1) * dvp], f);
                    w.z[a] *= f;
                }
                w.c[a] = new;
                w.shift[a] = new;
            }
        }
        exp_shifted_lanes(rows, &w.shift);
    } else if j1 > j0 {
        bound_keys(w, map.dim(), j1 - j0);
    }
    if j1 > j0 {
        bound_values(w, dv, j1 - j0);
    }
}

/// Linear map: raises e_a where the `n` loaded key features reach 2^limits.k (rescaling row a of S and z_a by the
/// increase), then stores them as φ_a(k)·2^−e_a.
fn bound_keys(w: &mut Work, f: usize, n: usize) {
    let (fp, dvp, limit) = (w.fp, w.dvp, w.limits.k);
    let rows = &mut w.kf[..n * fp];
    if excess(max(rows), limit) > 0 {
        w.cm.iter_mut().for_each(|x| *x = 0.0); // φ ≥ 0
        for row in rows.chunks_exact(fp) {
            max_lanes(&mut w.cm, row);
        }
        for a in 0..f {
            let e = excess(w.cm[a], limit);
            if e > w.ek[a] {
                let r = pow2(w.ek[a] - e);
                scale(&mut w.s[a * dvp..(a + 1) * dvp], r);
                w.z[a] *= r;
                w.ek[a] = e;
                w.kdown[a] = pow2(-e);
                w.k_scaled = true;
                w.any_scaled = true;
            }
        }
    }
    if w.k_scaled {
        for row in rows.chunks_exact_mut(fp) {
            zip_map(row, &w.kdown, |x, s| x.mul(s));
        }
    }
}

/// Raises f_c where the `n` loaded values reach 2^limits.v in magnitude (rescaling column c of S by the increase),
/// then stores them as v[c]·2^−f_c.
fn bound_values(w: &mut Work, dv: usize, n: usize) {
    let (dvp, limit) = (w.dvp, w.limits.v);
    let rows = &mut w.vb[..n * dvp];
    if excess(max_abs(rows), limit) > 0 {
        w.vm.iter_mut().for_each(|x| *x = 0.0);
        for row in rows.chunks_exact(dvp) {
            zip_map(&mut w.vm, row, |m, x| x.abs().pmax(m));
        }
        let mut raised = false;
        for c in 0..dv {
            let e = excess(w.vm[c], limit);
            w.ratio[c] = if e > w.fv[c] {
                let r = pow2(w.fv[c] - e);
                w.fv[c] = e;
                w.vdown[c] = pow2(-e);
                w.vup[c] = pow2(e);
                raised = true;
                r
            } else {
                1.0
            };
        }
        if raised {
            for row in w.s.chunks_exact_mut(dvp) {
                zip_map(row, &w.ratio, |x, r| x.mul(r));
            }
            w.v_scaled = true;
            w.any_scaled = true;
        }
    }
    if w.v_scaled {
        for row in rows.chunks_exact_mut(dvp) {
            zip_map(row, &w.vdown, |x, s| x.mul(s));
        }
    }
}

/// Adds the `n` loaded keys to the state: S[a, :] += Σ_r φ_r[a] v_r, z += Σ_r φ_r.
fn absorb(w: &mut Work, f: usize, n: usize) {
    let (fp, dvp) = (w.fp, w.dvp);
    for a in 0..f {
        let row = &mut w.s[a * dvp..(a + 1) * dvp];
        for r in 0..n {
            let phi = w.kf[r * fp + a];
            if phi != 0.0 {
                axpy(row, phi, &w.vb[r * dvp..(r + 1) * dvp]);
            }
        }
    }
    for r in 0..n {
        axpy(&mut w.z, 1.0, &w.kf[r * fp..(r + 1) * fp]);
    }
}

/// Absorbs keys [j0, j1) chunk by chunk.
fn absorb_range<M: FeatureMap>(p: &Inputs, map: &M, w: &mut Work, b: usize, g: usize, j0: usize, j1: usize) {
    let mut j = j0;
    while j < j1 {
        let e = (j + CHUNK).min(j1);
        load_keys(p, map, w, b, g, j, e);
        absorb(w, map.dim(), e - j);
        j = e;
    }
}

/// φ(q) of row (b, h, i) into w.qf, and num = φ(q)ᵀS, returning den = φ(q)·z.
fn query<M: FeatureMap>(p: &Inputs, map: &M, w: &mut Work, b: usize, h: usize, i: usize) -> f32 {
    map.pre(p.q.row(b, h, i, 0, p.dims.dk), &mut w.qf);
    if M::EXP {
        add_lanes(&mut w.qf, &w.c);
        let shift = max(&w.qf);
        if shift > f32::NEG_INFINITY {
            exp_shifted(&mut w.qf, shift);
        } else {
            w.qf.iter_mut().for_each(|x| *x = 0.0); // no key seen yet: den = 0, the row outputs 0
        }
    } else if w.k_scaled || excess(max(&w.qf), w.limits.q) > 0 {
        // φ_a(q)·2^(e_a − m): each product with a stored key feature carries the row's 2^−m, which cancels.
        let f = map.dim();
        let top = (0..f).map(|a| exponent(w.qf[a]) + w.ek[a]).max().unwrap_or(0);
        let m = (top + 1 - w.limits.q).max(0);
        for a in 0..f {
            w.qf[a] = mul_pow2(w.qf[a], w.ek[a] - m);
        }
        w.any_scaled = true;
    }
    w.num.iter_mut().for_each(|x| *x = 0.0);
    let dvp = w.dvp;
    for a in 0..map.dim() {
        let phi = w.qf[a];
        if phi != 0.0 {
            axpy(&mut w.num, phi, &w.s[a * dvp..(a + 1) * dvp]);
        }
    }
    dot(&w.qf, &w.z)
}

fn write(out: &mut Out, w: &Work, dv: usize, b: usize, h: usize, i: usize, den: f32) {
    let at = out.strides.at(b, h, i);
    let o = &mut out.o[at..at + dv];
    for (o, x) in o.iter_mut().zip(&w.num) {
        *o = if den == 0.0 { 0.0 } else { x / den };
    }
    if w.v_scaled {
        o.iter_mut().zip(&w.vup).for_each(|(o, up)| *o *= up);
    }
}

fn non_causal<M: FeatureMap>(p: &Inputs, map: &M, w: &mut Work, out: &mut Out, b: usize, g: usize) {
    let d = p.dims;
    absorb_range(p, map, w, b, g, 0, d.nk);
    let group = d.hq / d.hkv;
    for h in g * group..(g + 1) * group {
        for i in 0..d.nq {
            let den = query(p, map, w, b, h, i);
            write(out, w, d.dv, b, h, i, den);
        }
    }
}

fn causal<M: FeatureMap>(p: &Inputs, map: &M, w: &mut Work, out: &mut Out, b: usize, g: usize, offset: i64) {
    let d = p.dims;
    let prefix = |i: usize| (i as i64 + offset + 1).max(0).min(d.nk as i64) as usize;
    let group = d.hq / d.hkv;
    let mut held = 0; // keys [0, held) are in the state
    for i in 0..d.nq {
        // Only keys row i may see enter the state (and its shifts) before the row reads it.
        let hi = prefix(i);
        absorb_range(p, map, w, b, g, held, hi);
        held = held.max(hi);
        for h in g * group..(g + 1) * group {
            let den = query(p, map, w, b, h, i);
            write(out, w, d.dv, b, h, i, den);
        }
    }
}
