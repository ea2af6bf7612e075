//! Linformer (Wang et al. 2020): keys and values are projected along the sequence to `rows` rows,
//! K' = E·K and V' = F·V (E, F: [rows, Nk], shared by every batch entry and head), then exact softmax attention of
//! the queries over (K', V') runs in the flash kernel. Cost O(rows·Nk·(Dk + Dv) + Nq·rows·(Dk + Dv)); scratch
//! O(B·Hkv·rows·(Dk + Dv)).

use super::ops::{axpy, filled, padded};
use super::Out;
use crate::exact::forward;
use crate::problem::{Dims, OutOfMemory, Outputs, Problem, Strides, Structure, View};

/// Keys projected per block (their rows stay in L1 while every projected row is updated).
const KEY_BLOCK: usize = 64;

pub struct Linformer<'a> {
    pub rows: usize,
    /// [rows, Nk] row-major.
    pub e: &'a [f32],
    pub f: &'a [f32],
}

/// `proj` [rows, nk] times the (b, g) slice of `x` ([nk, d]) into `into` (rows × dp, padded).
#[allow(clippy::too_many_arguments)]
fn project(
    x: &View<f32>,
    b: usize,
    g: usize,
    nk: usize,
    d: usize,
    proj: &[f32],
    rows: usize,
    into: &mut [f32],
    blk: &mut [f32],
) {
    let dp = padded(d);
    let mut j0 = 0;
    while j0 < nk {
        let j1 = (j0 + KEY_BLOCK).min(nk);
        for j in j0..j1 {
            blk[(j - j0) * dp..(j - j0) * dp + d].copy_from_slice(x.row(b, g, j, 0, d));
        }
        for r in 0..rows {
            let acc = &mut into[r * dp..(r + 1) * dp];
            let coef = &proj[r * nk + j0..r * nk + j1];
            for (jj, &e) in coef.iter().enumerate() {
                axpy(acc, e, &blk[jj * dp..(jj + 1) * dp]);
            }
        }
        j0 = j1;
    }
}

pub fn run(
    dims: Dims,
    q: View<f32>,
    k: View<f32>,
    v: View<f32>,
    scale: f32,
    l: &Linformer,
    out: &mut Out,
) -> Result<(), OutOfMemory> {
    let Dims { b, hkv, nk, dk, dv, .. } = dims;
    let (dkp, dvp) = (padded(dk), padded(dv));
    let heads = b.checked_mul(hkv).ok_or(OutOfMemory)?;
    let area = |x: usize, y: usize| x.checked_mul(y).ok_or(OutOfMemory);
    let mut kp = filled(area(area(heads, l.rows)?, dkp)?, 0.0)?;
    let mut vp = filled(area(area(heads, l.rows)?, dvp)?, 0.0)?;
    let mut blk = filled(area(KEY_BLOCK, dkp.max(dvp))?, 0.0)?;
    for bi in 0..b {
        for g in 0..hkv {
            let at = bi * hkv + g;
            let kr = &mut kp[at * l.rows * dkp..(at + 1) * l.rows * dkp];
            project(&k, bi, g, nk, dk, l.e, l.rows, kr, &mut blk);
            let vr = &mut vp[at * l.rows * dvp..(at + 1) * l.rows * dvp];
            project(&v, bi, g, nk, dv, l.f, l.rows, vr, &mut blk);
        }
    }
    let problem = Problem {
        dims: Dims { nk: l.rows, ..dims },
        q,
        k: View { data: &kp, strides: Strides { batch: hkv * l.rows * dkp, head: l.rows * dkp, row: dkp } },
        v: View { data: &vp, strides: Strides { batch: hkv * l.rows * dvp, head: l.rows * dvp, row: dvp } },
        mask: None,
        bias: None,
        scale,
        softcap: 0.0,
        cosine: false,
        structure: Structure { nq_full: dims.nq as u64, nk_full: l.rows as u64, ..Structure::default() },
        alibi: None,
        rel_bias: None,
        lse_alibi_shifted: false,
    };
    let mut outputs = Outputs { o: &mut *out.o, o_strides: out.strides, lse: None, weights: None };
    forward(&problem, &mut outputs)
}
