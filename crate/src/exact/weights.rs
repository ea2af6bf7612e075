//! The explicit attention weights, when the caller asks for them: a second pass over the keys of a finished query
//! block recomputes each logit tile and writes P = 2^(s − m) / l straight into the caller's [b, hq, nq, nk] buffer
//! (no N×N scratch).

use super::blocks::BC;
use super::scores::{block_scores, LogitMap};
use super::softmax::finish;
use super::workspace::Workspace;
use super::QueryBlock;
use crate::mask::{classify, with_block_mask, BlockKind};
use crate::math::Exp2;
use crate::problem::Problem;
use crate::simd::F32x4;
use crate::sparse::{BK, BQ};

/// `ws.q`, `ws.spans`, `ws.m` and `ws.l` must hold the finished block `qb`.
pub fn write_weights(p: &Problem, lm: &LogitMap, qb: &QueryBlock, ws: &mut Workspace, w: &mut [f32]) {
    let d = p.dims;
    let row_base = |r: usize| {
        let (h, i) = qb.row(r);
        ((qb.b * d.hq + h) * d.nq + i) * d.nk
    };
    let mut j0 = 0;
    while j0 < d.nk {
        let kc = BC.min(d.nk - j0);
        let mut kind = classify(&ws.spans[..qb.npos], j0, j0 + kc, p.mask.is_some());
        if let Some(sp) = &p.structure.sparse {
            // Query blocks are BQ-aligned and k_start is a multiple of BK when a block mask is given.
            let s = &p.structure;
            let byte = sp.kind_at((s.q_start as usize + qb.i0) / BQ, (s.k_start as usize + j0) / BK);
            kind = with_block_mask(kind, byte);
        }
        if kind == BlockKind::Skip {
            for r in 0..qb.rows() {
                let at = row_base(r) + j0;
                w[at..at + kc].fill(0.0);
            }
        } else {
            let kcp = block_scores(p, lm, qb, ws, j0, kc, kind);
            let e = Exp2::new();
            for r in 0..qb.rows() {
                let (inv, _) = finish(ws.m[r], ws.l[r], 0.0);
                let (m, inv) = (F32x4::splat(ws.m[r]), F32x4::splat(inv));
                let s = &mut ws.s[r * BC..r * BC + kcp];
                for c in s.chunks_exact_mut(4) {
                    // SAFETY: chunks_exact_mut gives 4 writable floats.
                    unsafe { e.eval_nonpos(F32x4::load(c.as_ptr()).sub(m)).mul(inv).store(c.as_mut_ptr()) };
                }
                let at = row_base(r) + j0;
                w[at..at + kc].copy_from_slice(&s[..kc]);
            }
        }
        j0 += kc;
    }
}
