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

use super::features::{exp_shifted, exp_shifted_lanes, FeatureMap};
use super::ops::{add_lanes, axpy, dot, filled, max, max_lanes, padded, scale};
use super::Out;
use crate::problem::{Dims, OutOfMemory, View};

/// Keys loaded (turned into features) at a time before they are absorbed.
pub const CHUNK: usize = 64;

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
}

impl Work {
    fn new(f: usize, dv: usize) -> Result<Self, OutOfMemory> {
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
        })
    }

    fn reset(&mut self) {
        self.s.iter_mut().for_each(|x| *x = 0.0);
        self.z.iter_mut().for_each(|x| *x = 0.0);
        self.c.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
        self.shift.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Computes the output of every (batch, query head, row) into `out`.
pub fn run<M: FeatureMap>(p: &Inputs, map: &M, out: &mut Out) -> Result<(), OutOfMemory> {
    let d = p.dims;
    let mut w = Work::new(map.dim(), d.dv)?;
    for b in 0..d.b {
        for g in 0..d.hkv {
            w.reset();
            match p.causal {
                None => non_causal(p, map, &mut w, out, b, g),
                Some(offset) => causal(p, map, &mut w, out, b, g, offset),
            }
        }
    }
    Ok(())
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
    for (o, x) in out.o[at..at + dv].iter_mut().zip(&w.num) {
        *o = if den == 0.0 { 0.0 } else { x / den };
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
