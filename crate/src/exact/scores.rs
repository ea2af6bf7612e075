//! The logits of one (query block, key block): S = Q·Kᵀ on the packed operands, then softcap, bias, the log2 e factor and the
//! masks. Shared by the flash pass and the weights pass so both see bit-identical logits.

use super::blocks::{round_up, BC, NR};
use super::microkernel::scores;
use super::workspace::Workspace;
use super::QueryBlock;
use crate::mask::{BlockKind, Span};
use crate::math::{tanh, LOG2_E};
use crate::problem::Problem;
use crate::simd::F32x4;

/// How raw Q·Kᵀ becomes log2-domain logits.
#[derive(Clone, Copy, Debug)]
pub struct LogitMap {
    /// Folded into Q when it is packed: scale (·log2 e when nothing follows the product).
    pub q_mul: f32,
    /// Softcap or bias present: the logits are finished per element and multiplied by log2 e afterwards.
    pub post: bool,
    pub softcap: f32,
}

impl LogitMap {
    pub fn new(p: &Problem) -> Self {
        let post = p.softcap > 0.0 || p.bias.is_some();
        LogitMap { q_mul: if post { p.scale } else { p.scale * LOG2_E }, post, softcap: p.softcap }
    }
}

/// Fills rows 0..qb.rows() of `ws.s` (row stride BC) with the log2-domain logits of keys [j0, j0 + kc), −∞ where a
/// key is not allowed and in the padding columns up to the next multiple of NR. `ws.q` must hold the packed block
/// and `ws.k` the packed keys of (qb.b, qb.kvh); j0 is a multiple of NR. Returns the padded width.
#[inline(always)]
pub fn block_scores(
    p: &Problem,
    lm: &LogitMap,
    qb: &QueryBlock,
    ws: &mut Workspace,
    j0: usize,
    kc: usize,
    kind: BlockKind,
) -> usize {
    let dk = p.dims.dk;
    let rows = qb.rows();
    debug_assert!(j0 % NR == 0);
    let kcp = round_up(kc, NR);
    scores(&ws.q, rows, &ws.k[j0 * dk..], dk, kcp / NR, &mut ws.s, BC);
    for r in 0..rows {
        let (h, i) = qb.row(r);
        let s = &mut ws.s[r * BC..r * BC + kcp];
        if lm.post {
            finish_logits(s, kc, lm.softcap, p.bias.map(|bias| bias.row(qb.b, h, i, j0, kc)));
        }
        crate::position::add_log2(p, &mut s[..kc], qb.b, h, i, j0);
        hidden_keys(p, qb, &ws.spans, &mut ws.allow, r, j0, kc, kind, |a, b| s[a..b].fill(f32::NEG_INFINITY));
        s[kc..].fill(f32::NEG_INFINITY);
    }
    kcp
}

/// Calls `hide(a, b)` for the keys [a, b) of [0, kc) (keys j0 + a … of the block) that row r of the query block may
/// not attend: outside its span (causal, window, lengths), masked, or outside the block mask. Nothing for a Full
/// block. `allow` is scratch of at least kc.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn hidden_keys(
    p: &Problem,
    qb: &QueryBlock,
    spans: &[Span],
    allow: &mut [bool],
    r: usize,
    j0: usize,
    kc: usize,
    kind: BlockKind,
    mut hide: impl FnMut(usize, usize),
) {
    if kind == BlockKind::Full {
        return;
    }
    let (h, i) = qb.row(r);
    let span = spans[r % qb.npos];
    let lo = span.lo.clamp(j0, j0 + kc) - j0;
    let hi = span.hi.clamp(j0 + lo, j0 + kc) - j0;
    hide(0, lo);
    hide(hi, kc);
    if let Some(mask) = p.mask {
        let m = mask.row(qb.b, h, i, j0, kc);
        for (j, _) in m[lo..hi].iter().enumerate().filter(|&(_, &x)| x == 0) {
            hide(lo + j, lo + j + 1);
        }
    }
    if let (BlockKind::Sparse, Some(sp)) = (kind, &p.structure.sparse) {
        let allow = &mut allow[..kc];
        sp.fill_row(p.structure.q_start + i as u64, p.structure.k_start + j0 as u64, allow);
        for (j, &a) in allow.iter().enumerate() {
            if !a {
                hide(j, j + 1);
            }
        }
    }
}

/// s = softcap·tanh(s/softcap) (if softcap > 0), s += bias, then s ·= log2 e; `s.len()` is a multiple of 4.
fn finish_logits(s: &mut [f32], kc: usize, softcap: f32, bias: Option<&[f32]>) {
    if softcap > 0.0 {
        let c = F32x4::splat(softcap);
        for x in s.chunks_exact_mut(4) {
            // SAFETY: chunks_exact_mut gives 4 writable floats.
            unsafe {
                let v = F32x4::load(x.as_ptr());
                c.mul(tanh(v.div(c))).store(x.as_mut_ptr());
            }
        }
    }
    if let Some(bias) = bias {
        for (x, b) in s[..kc].iter_mut().zip(bias) {
            *x += b;
        }
    }
    for x in s.iter_mut() {
        *x *= LOG2_E;
    }
}
