//! The flash loop nest, written once: for each batch and kv head, the query heads sharing that kv head are stacked
//! into query blocks of at most BR rows (the keys of the kv head are packed once, for all of them); each query
//! block walks only the key blocks its rows may attend, keeping a running maximum and sum per row (online softmax)
//! and an unnormalised output tile.

use super::blocks::{BC, BR, NC, NR};
use super::microkernel::accumulate;
use super::pack::{pack_k, pack_q, pack_v};
use super::scores::{block_scores, hidden_keys, LogitMap};
use super::softmax::{finish, step, M_INIT};
use super::weights::write_weights;
use super::workspace::Workspace;
use super::QueryBlock;
use crate::mask::{classify, union, with_block_mask, BatchMask, BlockKind};
use crate::math::Exp2;
use crate::problem::{OutOfMemory, Outputs, Problem};
use crate::simd::F32x4;
use crate::sparse::{BK, BQ};

/// Computes `out` (and LSE / weights when present) for problem `p`. Only fails when its scratch cannot be allocated.
pub fn forward(p: &Problem, out: &mut Outputs) -> Result<(), OutOfMemory> {
    let d = p.dims;
    let group = d.hq / d.hkv;
    // A block mask is compiled per block of BQ global query positions: one head per query block, blocks aligned.
    let sparse = p.structure.sparse.is_some();
    let hc_max = if sparse { 1 } else { group.min(BR) };
    let mut ws = Workspace::take(d.dk, d.dv, d.nk)?;
    let lm = LogitMap::new(p);
    for b in 0..d.b {
        let bm = BatchMask::new(&p.structure, b, d.nq, d.nk);
        let valid = bm.valid_rows();
        for kvh in 0..d.hkv {
            if valid > 0 {
                pack_k(&p.k, b, kvh, 0, d.nk, d.dk, p.cosine, &mut ws.k);
            }
            let heads_end = (kvh + 1) * group;
            let mut h0 = kvh * group;
            while h0 < heads_end {
                let hc = hc_max.min(heads_end - h0);
                let npos_max = (BR / hc).max(1);
                let mut i0 = 0;
                while i0 < valid {
                    let npos = if sparse {
                        (BQ - (p.structure.q_start as usize + i0) % BQ).min(valid - i0)
                    } else {
                        npos_max.min(valid - i0)
                    };
                    let qb = QueryBlock { b, kvh, h0, hc, i0, npos };
                    query_block(p, &lm, &bm, &qb, &mut ws, out);
                    i0 += npos;
                }
                for h in h0..h0 + hc {
                    for i in valid..d.nq {
                        empty_row(p, out, b, h, i);
                    }
                }
                h0 += hc;
            }
        }
    }
    ws.give_back();
    Ok(())
}

#[inline(never)]
fn query_block(p: &Problem, lm: &LogitMap, bm: &BatchMask, qb: &QueryBlock, ws: &mut Workspace, out: &mut Outputs) {
    let d = p.dims;
    let rows = qb.rows();
    let dvp = ws.dvp;
    pack_q(&p.q, qb, d.dk, lm.q_mul, p.cosine, &mut ws.q);
    for (t, span) in ws.spans[..qb.npos].iter_mut().enumerate() {
        *span = bm.span(qb.i0 + t);
    }
    ws.m[..rows].fill(M_INIT);
    ws.l[..rows].fill(0.0);
    ws.o[..rows * dvp].fill(0.0);

    if let Some(sp) = &p.structure.sparse {
        // Only the listed key blocks (global index kb → local keys kb·BK − k_start; k_start is a multiple of BK).
        let (q_start, k_start) = (p.structure.q_start as usize, p.structure.k_start as usize);
        let (idx, kinds) = sp.row((q_start + qb.i0) / BQ);
        for (&kb, &byte) in idx.iter().zip(kinds) {
            let g0 = kb as usize * BK;
            if g0 < k_start {
                continue;
            }
            let j0 = g0 - k_start;
            if j0 >= d.nk {
                break;
            }
            let kc = BC.min(d.nk - j0);
            let kind = with_block_mask(classify(&ws.spans[..qb.npos], j0, j0 + kc, p.mask.is_some()), byte);
            if kind != BlockKind::Skip {
                key_block(p, lm, qb, ws, j0, kc, kind);
            }
        }
    } else {
        let u = union(&ws.spans[..qb.npos]);
        // Key blocks start on a panel boundary of the packed keys; keys before u.lo fall in a partial block.
        let mut j0 = u.lo / NR * NR;
        while j0 < u.hi {
            let kc = BC.min(u.hi - j0);
            let kind = classify(&ws.spans[..qb.npos], j0, j0 + kc, p.mask.is_some());
            if kind != BlockKind::Skip {
                key_block(p, lm, qb, ws, j0, kc, kind);
            }
            j0 += kc;
        }
    }

    for r in 0..rows {
        let (h, i) = qb.row(r);
        let (inv, lse) = finish(ws.m[r], ws.l[r], crate::alibi::lse_add_back(p, qb.b, h, i));
        let acc = &ws.o[r * dvp..r * dvp + d.dv];
        let at = out.o_strides.at(qb.b, h, i);
        for (o, a) in out.o[at..at + d.dv].iter_mut().zip(acc) {
            *o = if inv == 0.0 { 0.0 } else { a * inv };
        }
        if let Some(l) = out.lse.as_deref_mut() {
            l[(qb.b * d.hq + h) * d.nq + i] = lse;
        }
    }
    if let Some(w) = out.weights.as_deref_mut() {
        write_weights(p, lm, qb, ws, w);
    }
}

#[inline(never)]
fn key_block(p: &Problem, lm: &LogitMap, qb: &QueryBlock, ws: &mut Workspace, j0: usize, kc: usize, kind: BlockKind) {
    let d = p.dims;
    let rows = qb.rows();
    let dvp = ws.dvp;
    let kcp = block_scores(p, lm, qb, ws, j0, kc, kind);
    let e = Exp2::new();
    for r in 0..rows {
        let alpha = step(&mut ws.s[r * BC..r * BC + kcp], &mut ws.m[r], &mut ws.l[r], e);
        if alpha != 1.0 {
            let a = F32x4::splat(alpha);
            for c in ws.o[r * dvp..(r + 1) * dvp].chunks_exact_mut(4) {
                // SAFETY: chunks_exact_mut gives 4 writable floats.
                unsafe { F32x4::load(c.as_ptr()).mul(a).store(c.as_mut_ptr()) };
            }
        }
    }
    if kind != BlockKind::Full && has_nonfinite_values(p, qb, ws, j0, kc) {
        // Where a row may not see a key its p is 0, and 0 · ∞ or 0 · NaN would still reach the row as NaN: such
        // blocks add, row by row, only the keys the row may see (in key order, as `accumulate` does).
        let v = &p.v.data[p.v.strides.at(qb.b, qb.kvh, j0)..];
        let ldv = p.v.strides.row;
        let mut hidden = [false; BC];
        for r in 0..rows {
            hidden[..kc].fill(false);
            hidden_keys(p, qb, &ws.spans, &mut ws.allow, r, j0, kc, kind, |a, b| hidden[a..b].fill(true));
            let pr = &ws.s[r * BC..r * BC + kc];
            let o = &mut ws.o[r * dvp..r * dvp + d.dv];
            for j in (0..kc).filter(|&j| !hidden[j]) {
                for (x, &y) in o.iter_mut().zip(&v[j * ldv..j * ldv + d.dv]) {
                    *x += pr[j] * y;
                }
            }
        }
        return;
    }
    // Two call sites on purpose: wasm-opt would inline a single-caller `accumulate` (see microkernel::scores).
    if d.dv % NC == 0 {
        let v = &p.v.data[p.v.strides.at(qb.b, qb.kvh, j0)..];
        accumulate(&ws.s, BC, rows, v, p.v.strides.row, kc, dvp, &mut ws.o, dvp);
    } else {
        pack_v(&p.v, qb.b, qb.kvh, j0, kc, d.dv, dvp, &mut ws.v);
        accumulate(&ws.s, BC, rows, &ws.v, dvp, kc, dvp, &mut ws.o, dvp);
    }
}

/// Whether a value of keys [j0, j0 + kc) of the block's (batch, kv head) is ∞ or NaN (counted once per kv head, on
/// the first partly hidden block that asks).
fn has_nonfinite_values(p: &Problem, qb: &QueryBlock, ws: &mut Workspace, j0: usize, kc: usize) -> bool {
    let d = p.dims;
    if ws.nonfinite_of != Some((qb.b, qb.kvh)) {
        let mut n = 0;
        ws.nonfinite[0] = 0;
        for j in 0..d.nk {
            let at = p.v.strides.at(qb.b, qb.kvh, j);
            if !all_finite(&p.v.data[at..at + d.dv]) {
                n += 1;
            }
            ws.nonfinite[j + 1] = n;
        }
        ws.nonfinite_of = Some((qb.b, qb.kvh));
    }
    ws.nonfinite[j0 + kc] != ws.nonfinite[j0]
}

/// No ∞ or NaN in `x`: x − x is +0 for every finite x and NaN otherwise, and a NaN survives the sum.
fn all_finite(x: &[f32]) -> bool {
    let mut acc = F32x4::splat(0.0);
    let chunks = x.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: chunks_exact gives 4 readable floats.
        let v = unsafe { F32x4::load(c.as_ptr()) };
        acc = acc.add(v.sub(v));
    }
    acc.hsum() == 0.0 && tail.iter().all(|v| v.is_finite())
}

/// A padding query row: output 0, LSE −∞, weights 0.
fn empty_row(p: &Problem, out: &mut Outputs, b: usize, h: usize, i: usize) {
    let d = p.dims;
    let at = out.o_strides.at(b, h, i);
    out.o[at..at + d.dv].fill(0.0);
    let row = (b * d.hq + h) * d.nq + i;
    if let Some(l) = out.lse.as_deref_mut() {
        l[row] = f32::NEG_INFINITY;
    }
    if let Some(w) = out.weights.as_deref_mut() {
        w[row * d.nk..(row + 1) * d.nk].fill(0.0);
    }
}
