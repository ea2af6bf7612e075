//! Copies of the current Q, K and V blocks into the layouts the microkernels read (inputs are never modified).

use super::blocks::{round_up, MR, NR};
use super::QueryBlock;
use crate::problem::View;

/// Smallest norm of cosine similarity: x / max(|x|, 1e-12).
const COSINE_EPS: f32 = 1e-12;

/// 1 / max(|x|, 1e-12), in f64: the f32 sum of squares overflows from |x| ≈ 1.8e19 on (every cosine then read 0).
fn inv_norm(x: &[f32]) -> f64 {
    let sq: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    1.0 / sq.sqrt().max(COSINE_EPS as f64)
}

/// `dst[t] = src[t] · f`: in f32 for dot products (f = the scale), in f64 for cosine rows (f = scale / |x| may be far
/// below f32's normal range when |x| is huge, while src · f is ≤ scale).
#[inline(always)]
fn scaled(s: f32, f: f64, cosine: bool) -> f32 {
    if cosine {
        (s as f64 * f) as f32
    } else {
        s * f as f32
    }
}

/// Query rows of block `qb` into `dst`, multiplied by `mul` (and by 1/|q| for cosine), in groups of MR rows: row
/// r = g·MR + t, component d sits at (g·dk + d)·MR + t, so the microkernel reads the MR rows' d-th components side
/// by side. Rows past qb.rows() in the last group are zero.
pub fn pack_q(q: &View<f32>, qb: &QueryBlock, dk: usize, mul: f32, cosine: bool, dst: &mut [f32]) {
    let rows = qb.rows();
    for r in 0..round_up(rows, MR) {
        let group = &mut dst[(r / MR) * dk * MR..(r / MR + 1) * dk * MR];
        let t = r % MR;
        if r >= rows {
            for d in 0..dk {
                group[d * MR + t] = 0.0;
            }
            continue;
        }
        let (h, i) = qb.row(r);
        let src = q.row(qb.b, h, i, 0, dk);
        let f = if cosine { mul as f64 * inv_norm(src) } else { mul as f64 };
        for (d, &s) in src.iter().enumerate() {
            group[d * MR + t] = scaled(s, f, cosine);
        }
    }
}

/// Keys [j0, j0 + kc) of (b, kvh) as panels of NR keys: panel p holds, for each d, keys p·NR..p·NR+NR side by
/// side. Keys past kc in the last panel are zero. Cosine similarity stores unit-length keys. The flash pass packs
/// all keys of a kv head once, so this runs O(Nk·dk) per kv head.
#[allow(clippy::too_many_arguments)]
pub fn pack_k(k: &View<f32>, b: usize, kvh: usize, j0: usize, kc: usize, dk: usize, cosine: bool, dst: &mut [f32]) {
    let panels = (kc + NR - 1) / NR;
    for p in 0..panels {
        let panel = &mut dst[p * dk * NR..(p + 1) * dk * NR];
        for c in 0..NR {
            let j = p * NR + c;
            if j >= kc {
                for d in 0..dk {
                    panel[d * NR + c] = 0.0;
                }
                continue;
            }
            let src = k.row(b, kvh, j0 + j, 0, dk);
            let f = if cosine { inv_norm(src) } else { 1.0 };
            for (d, &s) in src.iter().enumerate() {
                panel[d * NR + c] = scaled(s, f, cosine);
            }
        }
    }
}

/// Values [j0, j0 + kc) of (b, kvh) into rows of width dvp (columns past dv are zero).
#[allow(clippy::too_many_arguments)]
pub fn pack_v(v: &View<f32>, b: usize, kvh: usize, j0: usize, kc: usize, dv: usize, dvp: usize, dst: &mut [f32]) {
    for j in 0..kc {
        let row = &mut dst[j * dvp..(j + 1) * dvp];
        row[..dv].copy_from_slice(v.row(b, kvh, j0 + j, 0, dv));
        row[dv..].fill(0.0);
    }
}
