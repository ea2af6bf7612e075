//! The split-key loop: for each kv head, for each split of the key range, tiles of KC keys → logits for all stacked
//! query rows (dot products on f32 lanes) → masks → online softmax → P·V into the split's accumulator.
//! Where the rows are read: f32 always in place (stacked rows in groups of four through `micro.rs`, each K / V load
//! feeding four rows); f16 / int8 in place and widened in registers for one row (MHA) or a multiple of four rows
//! (GQA), else converted (and scaled) once per tile into f32 scratch. Finite f16 widens eight halves per load
//! (`Elem::load8`). int8 with one row widens eight elements per step (`wide8.rs`).
//!
//! Touching. Tiles read in place (f32, f16; not int8) are first touched one byte per 64-byte line (`touch_run`), as
//! four interleaved streams (each half of the run's K and of its V): the kernels' strided first reads left the
//! hardware prefetchers idle, and four streams keep more misses in flight than one (a touch-only build read a Hkv 8
//! f32 cache in 2.09 ms as one stream, 1.78 ms as K / V interleaved, 1.64 ms as four streams, 1.68 ms as eight).
//! Wasm has no prefetch instruction and a volatile load that misses holds up retirement, so this burst and the
//! arithmetic do not overlap: for f32 Hkv 8 (32 MiB) the burst takes ~1.6 ms and the compute ~2.4 ms (a profile puts
//! ~37 % of the samples in the touch loop; with the cache in L2 the compute alone is ~87 ns per key and kv head,
//! i.e. ~2.3 FP vector instructions per cycle without FMA), so ~4.0 ms is this structure's floor.
//!
//! Dot-product reductions go through `micro::sum4` (a 4 × 4 transpose): V8 lowered each `hsum`'s second shuffle to
//! a pshufb with its mask rebuilt every time.
//!
//! Measured and dropped (see the commit history): touching the next tile from inside the kernels' loops (0.8-0.9x,
//! twice; a build touching already cached lines there cost the same: the step's own instructions, ~5 cycles a
//! line, and the misses still stall), touching only the first 44 lines of each 4 KiB page and leaving the rest to
//! the hardware streamer (0.80-0.93x: it does not fetch them), KC 128 (0.98-1.02x), eight touch streams (0.99-1.02x),
//! two keys per iteration in `values4` (0.93-0.95x for f32), `wasm-opt --low-memory-unused` (folds constant offsets
//! into the loads; 1.00x), copying each tile to scratch with bulk-memory `memory.copy` instead of touching it (a
//! copy-only build read the Hkv 8 f32 cache in 1.78-1.88 ms against 1.44-1.50 ms touch-only: 0.75-0.81x), int8 P·V through i32x4.dot_i16x8_s on byte-interleaved key pairs (0.9x), int8 q·k through
//! it with q split into two i16 parts (1.05x, not kept), `wide8` for four stacked int8 rows (0.98x), touching int8
//! tiles (0.95x, and 0.97-0.98x with four streams).

use super::elem::{convert_row, Elem, F16_RAW_SCALE};
use super::merge::{merge_row, Partials};
use super::micro::{scores4, sum4, values4};
use super::wide8;
use super::{CacheData, DecodeOutputs, DecodeProblem};
use crate::math::{exp2, exp2_scalar, LOG2_E};
use crate::problem::OutOfMemory;
use crate::simd::F32x4;

/// Keys per tile: the tile's K and V (converted: 2 · 64 · D · 4 bytes) and the logits stay in L1/L2.
pub const KC: usize = 64;

/// Start value of running maxima: the lowest finite float, so m − m' is never −∞ − (−∞).
pub const M_INIT: f32 = f32::MIN;

fn zeros(n: usize) -> Result<Vec<f32>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
    v.resize(n, 0.0);
    Ok(v)
}

/// Runs the decode problem; the only failure is running out of memory for the scratch.
pub fn decode(p: &DecodeProblem, out: &mut DecodeOutputs) -> Result<(), OutOfMemory> {
    match p.cache {
        CacheData::F32 { k, v } => run(p, k, v, None, None, 1.0, out),
        CacheData::F16 { k, v } => run(p, k, v, None, None, 1.0, out),
        CacheData::F16Finite { k, v } => run(p, k, v, None, None, F16_RAW_SCALE, out),
        CacheData::I8 { k, v, k_scale, v_scale } => run(p, k, v, Some(k_scale), Some(v_scale), 1.0, out),
    }
}

struct Scratch {
    /// Stacked query rows (rows × dk), pre-multiplied by scale · log2 e.
    q: Vec<f32>,
    /// Logits then probabilities (rows × KC).
    s: Vec<f32>,
    /// Converted K and V tiles (KC × dk, KC × dv).
    kt: Vec<f32>,
    vt: Vec<f32>,
    /// Per-row factor of this tile (2^(m − m')), whether the row saw any key in it, and the tile offsets [a, b) of
    /// the keys it may see (meaningful when live).
    alpha: Vec<f32>,
    live: Vec<bool>,
    lim: Vec<(usize, usize)>,
    /// The current tile's runs of consecutive rows.
    runs: Vec<Run>,
    /// int8, one row: the query row in `wide8::permute8` order.
    qp: Vec<f32>,
}

/// Tile positions [off, off + len) sit in rows row0 … row0 + len − 1.
#[derive(Clone, Copy, Debug)]
struct Run {
    row0: usize,
    off: usize,
    len: usize,
}

/// P·V of one run of the tile for every live row: columns [off, off + len) of the probabilities against the run's
/// `len` value rows; the first run of a tile also applies each row's rescale factor (`al`: scratch, one per row).
///
/// A key that some row may not see (the later of several queries under the causal mask, or the start of a window)
/// has p = 0 in that row, and 0 · ∞ or 0 · NaN in its value would still reach the row as NaN. So the stacked kernels
/// take only the keys every live row may see, and each row adds its other allowed keys on its own, before and after
/// them (at most the nq − 1 causal keys and the windows' staggered starts: none for a single query, the decoding
/// step). Each row still sums its keys in position order, so the result does not depend on how runs are cut.
// Rows index several per-row arrays in step (al, live, lim, the accumulator rows).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn values<E: Elem>(
    sc: &Scratch,
    rows: usize,
    v: &[E],
    dv: usize,
    off: usize,
    len: usize,
    first: bool,
    al: &mut [f32],
    acc: &mut [f32],
) {
    let end = off + len;
    let (mut c0, mut c1) = (off, end);
    for r in 0..rows {
        if sc.live[r] {
            c0 = c0.max(sc.lim[r].0);
            c1 = c1.min(sc.lim[r].1);
        }
    }
    let c0 = c0.min(end);
    let c1 = c1.max(c0);
    // Row r's own keys [x, y) of the run, with its pending rescale factor.
    let own = |r: usize, x: usize, y: usize, alpha: f32, acc: &mut [f32]| {
        accumulate(
            &sc.s[r * KC + x..r * KC + y],
            &v[(x - off) * dv..(y - off) * dv],
            dv,
            alpha,
            &mut acc[r * dv..(r + 1) * dv],
        );
    };
    for r in 0..rows {
        al[r] = if first { sc.alpha[r] } else { 1.0 };
        let (lo, hi) = (sc.lim[r].0.max(off), sc.lim[r].1.min(end));
        if sc.live[r] && lo < c0.min(hi) {
            own(r, lo, c0.min(hi), al[r], acc);
            al[r] = 1.0;
        }
    }
    // The common keys (possibly none: the rescale factors still apply).
    values_rows(sc, rows, &v[(c0 - off) * dv..(c1 - off) * dv], dv, c0, c1 - c0, al, acc);
    for r in 0..rows {
        let (lo, hi) = (sc.lim[r].0.max(off), sc.lim[r].1.min(end));
        if sc.live[r] && c1.max(lo) < hi {
            own(r, c1.max(lo), hi, 1.0, acc);
        }
    }
}

/// `values` over keys [off, off + len) that every live row may see; `al`: each row's factor.
#[allow(clippy::too_many_arguments)]
fn values_rows<E: Elem>(
    sc: &Scratch,
    rows: usize,
    v: &[E],
    dv: usize,
    off: usize,
    len: usize,
    al: &[f32],
    acc: &mut [f32],
) {
    let alpha = |r: usize| al[r];
    let p = |r: usize| &sc.s[r * KC + off..r * KC + off + len];
    let mut r = 0;
    while r < rows {
        if r + 3 < rows && sc.live[r..r + 4].iter().all(|&x| x) {
            let al = [alpha(r), alpha(r + 1), alpha(r + 2), alpha(r + 3)];
            values4(&sc.s[r * KC + off..(r + 4) * KC], KC, len, v, dv, al, &mut acc[r * dv..(r + 4) * dv]);
            r += 4;
        } else if let (true, Some(vf)) = (r + 1 < rows && sc.live[r] && sc.live[r + 1], E::as_f32(v)) {
            let (a0, a1) = acc[r * dv..(r + 2) * dv].split_at_mut(dv);
            accumulate2(p(r), p(r + 1), vf, dv, (alpha(r), alpha(r + 1)), a0, a1);
            r += 2;
        } else {
            if sc.live[r] {
                accumulate(p(r), v, dv, alpha(r), &mut acc[r * dv..(r + 1) * dv]);
            }
            r += 1;
        }
    }
}

/// `unit`: what every element read through `E` must be multiplied by (2^112 for `F16Raw`, else 1): folded into the
/// conversion of a staged tile, or into q and p when rows are read in place.
fn run<E: Elem>(
    p: &DecodeProblem,
    k: &[E],
    v: &[E],
    ks: Option<&[f32]>,
    vs: Option<&[f32]>,
    unit: f32,
    out: &mut DecodeOutputs,
) -> Result<(), OutOfMemory> {
    let (dk, dv, nq) = (p.dk, p.dv, p.nq);
    let group = p.hq / p.hkv;
    let rows = group * nq;
    // The union of the rows' non-empty spans (with q_end a row may see no key of the chunk).
    let (lo, hi) =
        (0..nq).map(|i| p.key_span(i)).filter(|s| s.0 < s.1).fold((u64::MAX, 0), |(a, b), (l, h)| (a.min(l), b.max(h)));
    let split = p.split.max(1) as u64;
    let nsplit = if hi > lo { ((hi - lo + split - 1) / split) as usize } else { 0 };
    let area = |a: usize, b: usize| a.checked_mul(b).ok_or(OutOfMemory);
    let convert = E::as_f32(&k[..0]).is_none() || ks.is_some();
    // A single query row reads f16 / int8 in place (widened in registers); so do groups of four rows (each widened
    // vector feeds four rows); other row counts share one widened tile.
    let single = convert && rows == 1;
    let quads = convert && rows % 4 == 0;
    let mut sc = Scratch {
        q: zeros(area(rows, dk)?)?,
        s: zeros(area(rows, KC)?)?,
        kt: zeros(if convert { KC * dk } else { 0 })?,
        vt: zeros(if convert { KC * dv } else { 0 })?,
        alpha: zeros(rows)?,
        live: vec![false; rows],
        lim: vec![(0, 0); rows],
        runs: {
            let mut v = Vec::new();
            v.try_reserve_exact(KC).map_err(|_| OutOfMemory)?;
            v
        },
        qp: zeros(if single { dk } else { 0 })?,
    };
    let mut parts = Partials::new(nsplit, rows, dv)?;
    let mut al = zeros(rows)?;
    let spans: Vec<(u64, u64)> = (0..nq).map(|i| p.key_span(i)).collect();
    let qmul = p.scale * LOG2_E;

    for kvh in 0..p.hkv {
        for r in 0..rows {
            let (h, i) = (kvh * group + r / nq, r % nq);
            let src = &p.q[h * p.q_head + i * p.q_row..][..dk];
            for (dst, x) in sc.q[r * dk..(r + 1) * dk].iter_mut().zip(src) {
                *dst = x * qmul;
            }
        }
        // In place (fused: one row, or groups of four) when the unit can move into q without overflow; else through a
        // converted tile.
        let unit_ok = unit == 1.0 || sc.q.iter().all(|x| !(x.abs() * unit).is_infinite());
        let fused = single && unit_ok;
        let inplace4 = quads && unit_ok;
        if (fused || inplace4) && unit != 1.0 {
            for x in sc.q.iter_mut() {
                *x *= unit;
            }
        }
        // int8, one row: eight elements widened per instruction pair (`wide8.rs`), q permuted to match.
        let wide = fused && E::as_i8(&k[..0]).is_some();
        if wide {
            wide8::permute8(&sc.q[..dk], &mut sc.qp);
        }
        for s in 0..nsplit {
            let a = lo + s as u64 * split;
            let b = (a + split).min(hi);
            let (m, l, acc) = parts.split_mut(s);
            m.fill(M_INIT);
            l.fill(0.0);
            acc.fill(0.0);
            let mut t = a;
            while t < b {
                let n = (KC as u64).min(b - t) as usize;
                // Positions [t, t + n) as runs of consecutive rows: one run unless a page ends or the ring wraps.
                sc.runs.clear();
                let mut off = 0;
                while off < n {
                    let (row0, run) = p.slots.locate(kvh, t + off as u64);
                    let len = run.min(n - off);
                    sc.runs.push(Run { row0, off, len });
                    off += len;
                }
                // Rows read in place: request all the tile's lines up front (converted tiles already stream through
                // `tile`; int8 is bound by its widening, where this measured 2-5 % slower).
                if !convert || (ks.is_none() && (fused || inplace4)) {
                    for u in &sc.runs {
                        touch_run(&k[u.row0 * dk..(u.row0 + u.len) * dk], &v[u.row0 * dv..(u.row0 + u.len) * dv]);
                    }
                }
                for u in &sc.runs {
                    if fused {
                        // One query row: widen K inside the dot products (no staging tile), scale after.
                        let sr = &mut sc.s[u.off..u.off + u.len];
                        let kr = &k[u.row0 * dk..(u.row0 + u.len) * dk];
                        match E::as_i8(kr) {
                            Some(k8) if wide => wide8::scores(&sc.qp, &sc.q[..dk], dk, k8, u.len, sr),
                            _ => row_scores(&sc.q[..dk], dk, kr, u.len, sr),
                        }
                        if let Some(ks) = ks {
                            for (x, sc) in sr.iter_mut().zip(&ks[u.row0..u.row0 + u.len]) {
                                *x *= sc;
                            }
                        }
                        continue;
                    }
                    if inplace4 {
                        // Groups of four rows: widen K inside the dot products, scale after.
                        let kr = &k[u.row0 * dk..(u.row0 + u.len) * dk];
                        for r in (0..rows).step_by(4) {
                            scores4(
                                &sc.q[r * dk..(r + 4) * dk],
                                dk,
                                kr,
                                u.len,
                                &mut sc.s[r * KC..(r + 4) * KC],
                                KC,
                                u.off,
                            );
                        }
                        if let Some(ks) = ks {
                            for r in 0..rows {
                                let sr = &mut sc.s[r * KC + u.off..r * KC + u.off + u.len];
                                for (x, sc) in sr.iter_mut().zip(&ks[u.row0..u.row0 + u.len]) {
                                    *x *= sc;
                                }
                            }
                        }
                        continue;
                    }
                    let buf: &mut [f32] = if convert { &mut sc.kt[u.off * dk..] } else { &mut [] };
                    let kr = tile(
                        &k[u.row0 * dk..(u.row0 + u.len) * dk],
                        ks.map(|x| &x[u.row0..u.row0 + u.len]),
                        unit,
                        dk,
                        buf,
                    );
                    if !convert {
                        scores(&sc.q, rows, dk, kr, u.len, &mut sc.s, u.off);
                    }
                }
                if convert && !fused && !inplace4 {
                    scores(&sc.q, rows, dk, &sc.kt[..n * dk], n, &mut sc.s, 0);
                }
                for r in 0..rows {
                    let srow = &mut sc.s[r * KC..(r + 1) * KC];
                    let lim = mask(srow, n, t, spans[r % nq]);
                    sc.live[r] = lim.is_some();
                    sc.lim[r] = lim.unwrap_or((0, 0));
                    sc.alpha[r] =
                        if sc.live[r] { softmax_step(&mut srow[..round4(n)], &mut m[r], &mut l[r]) } else { 1.0 };
                }
                if fused {
                    if sc.live[0] {
                        for (x, u) in sc.runs.iter().enumerate() {
                            let pr = &mut sc.s[u.off..u.off + u.len];
                            if let Some(vs) = vs {
                                for (p, sc) in pr.iter_mut().zip(&vs[u.row0..u.row0 + u.len]) {
                                    *p *= sc;
                                }
                            } else if unit != 1.0 {
                                for p in pr.iter_mut() {
                                    *p *= unit;
                                }
                            }
                            let alpha = if x == 0 { sc.alpha[0] } else { 1.0 };
                            let vr = &v[u.row0 * dv..(u.row0 + u.len) * dv];
                            match E::as_i8(vr) {
                                Some(v8) if wide => wide8::accumulate(pr, v8, dv, alpha, &mut acc[..dv]),
                                _ => accumulate(pr, vr, dv, alpha, &mut acc[..dv]),
                            }
                        }
                    }
                } else if inplace4 {
                    for (x, u) in sc.runs.iter().enumerate() {
                        for r in 0..rows {
                            let pr = &mut sc.s[r * KC + u.off..r * KC + u.off + u.len];
                            if let Some(vs) = vs {
                                for (p, sc) in pr.iter_mut().zip(&vs[u.row0..u.row0 + u.len]) {
                                    *p *= sc;
                                }
                            } else if unit != 1.0 {
                                for p in pr.iter_mut() {
                                    *p *= unit;
                                }
                            }
                        }
                        values(
                            &sc,
                            rows,
                            &v[u.row0 * dv..(u.row0 + u.len) * dv],
                            dv,
                            u.off,
                            u.len,
                            x == 0,
                            &mut al,
                            acc,
                        );
                    }
                } else if convert {
                    for u in &sc.runs {
                        let vr = &v[u.row0 * dv..(u.row0 + u.len) * dv];
                        tile(vr, vs.map(|x| &x[u.row0..u.row0 + u.len]), unit, dv, &mut sc.vt[u.off * dv..]);
                    }
                    values(&sc, rows, &sc.vt[..n * dv], dv, 0, n, true, &mut al, acc);
                } else {
                    for (x, u) in sc.runs.iter().enumerate() {
                        let vr = tile(&v[u.row0 * dv..(u.row0 + u.len) * dv], None, 1.0, dv, &mut []);
                        values(&sc, rows, vr, dv, u.off, u.len, x == 0, &mut al, acc);
                    }
                }
                t += n as u64;
            }
        }
        for r in 0..rows {
            let (h, i) = (kvh * group + r / nq, r % nq);
            let sink = p.sinks.map(|x| x[h] * LOG2_E);
            let o = &mut out.o[h * out.o_head + i * out.o_row..][..dv];
            let lse = merge_row(&parts, r, sink, o);
            if wide {
                wide8::unpermute8(o);
            }
            if let Some(l) = out.lse.as_deref_mut() {
                l[h * nq + i] = lse;
            }
        }
    }
    Ok(())
}

#[inline(always)]
fn round4(n: usize) -> usize {
    (n + 3) & !3
}

/// The f32 rows of a tile of `n = src.len() / width` keys: in place for unscaled f32, else converted into `buf`
/// (each row times its scale, times `unit`).
#[inline(always)]
fn tile<'t, E: Elem>(src: &'t [E], scales: Option<&[f32]>, unit: f32, width: usize, buf: &'t mut [f32]) -> &'t [f32] {
    if scales.is_none() && unit == 1.0 {
        if let Some(f) = E::as_f32(src) {
            return f;
        }
    }
    let n = src.len() / width;
    for j in 0..n {
        let scale = scales.map_or(unit, |s| s[j] * unit);
        convert_row(&src[j * width..(j + 1) * width], scale, &mut buf[j * width..(j + 1) * width]);
    }
    &buf[..n * width]
}

/// s[r·KC + off + j] = q_r · k_j for j < n. Rows go in pairs (each K load feeds two rows), keys in groups of four (each q
/// load feeds four keys).
fn scores(q: &[f32], rows: usize, dk: usize, k: &[f32], n: usize, s: &mut [f32], off: usize) {
    let n4 = n / 4 * 4;
    let mut r = 0;
    while r + 4 <= rows {
        scores4(&q[r * dk..(r + 4) * dk], dk, k, n, &mut s[r * KC..(r + 4) * KC], KC, off);
        r += 4;
    }
    while r + 2 <= rows {
        let (q0, q1) = (&q[r * dk..(r + 1) * dk], &q[(r + 1) * dk..(r + 2) * dk]);
        let (s0, s1) = s[r * KC..(r + 2) * KC].split_at_mut(KC);
        let (s0, s1) = (&mut s0[off..off + n], &mut s1[off..off + n]);
        let mut j = 0;
        while j < n4 {
            let (a, b) = dot2x4(q0, q1, &k[j * dk..(j + 4) * dk], dk);
            s0[j..j + 4].copy_from_slice(&a);
            s1[j..j + 4].copy_from_slice(&b);
            j += 4;
        }
        for j in n4..n {
            s0[j] = dot1(q0, &k[j * dk..(j + 1) * dk]);
            s1[j] = dot1(q1, &k[j * dk..(j + 1) * dk]);
        }
        r += 2;
    }
    if r < rows {
        row_scores(&q[r * dk..(r + 1) * dk], dk, k, n, &mut s[r * KC + off..r * KC + off + n]);
    }
}

/// s[j] = q · k_j for one query row and n keys of any element type (read and widened in place).
fn row_scores<E: Elem>(q: &[f32], dk: usize, k: &[E], n: usize, s: &mut [f32]) {
    let n4 = n / 4 * 4;
    let mut j = 0;
    while j < n4 {
        let d4 = dot4(q, &k[j * dk..(j + 4) * dk], dk);
        s[j..j + 4].copy_from_slice(&d4);
        j += 4;
    }
    for j in n4..n {
        s[j] = dot1(q, &k[j * dk..(j + 1) * dk]);
    }
}

/// The dot products of two query rows with four consecutive key rows (eight accumulators).
#[inline(always)]
fn dot2x4(q0: &[f32], q1: &[f32], k: &[f32], dk: usize) -> ([f32; 4], [f32; 4]) {
    assert!(q0.len() >= dk && q1.len() >= dk && k.len() >= 4 * dk);
    let dk4 = dk / 4 * 4;
    let mut a = [F32x4::splat(0.0); 4];
    let mut b = [F32x4::splat(0.0); 4];
    let (p0, p1, kp) = (q0.as_ptr(), q1.as_ptr(), k.as_ptr());
    let mut d = 0;
    while d < dk4 {
        // SAFETY: d + 4 ≤ dk: every load lies inside q0, q1 and the four rows of k (asserted above).
        unsafe {
            let (x, y) = (F32x4::load(p0.add(d)), F32x4::load(p1.add(d)));
            for w in 0..4 {
                let kv = F32x4::load(kp.add(w * dk + d));
                a[w] = a[w].add(x.mul(kv));
                b[w] = b[w].add(y.mul(kv));
            }
        }
        d += 4;
    }
    let (mut ra, mut rb) = ([0f32; 4], [0f32; 4]);
    // SAFETY: four floats each.
    unsafe {
        sum4(a[0], a[1], a[2], a[3]).store(ra.as_mut_ptr());
        sum4(b[0], b[1], b[2], b[3]).store(rb.as_mut_ptr());
    }
    for d in dk4..dk {
        for w in 0..4 {
            ra[w] += q0[d] * k[w * dk + d];
            rb[w] += q1[d] * k[w * dk + d];
        }
    }
    (ra, rb)
}

/// The dot products of q with the four consecutive rows of `k` (each `dk` long).
#[inline(always)]
fn dot4<E: Elem>(q: &[f32], k: &[E], dk: usize) -> [f32; 4] {
    assert!(q.len() >= dk && k.len() >= 4 * dk);
    let dk4 = dk / 4 * 4;
    let mut a = [F32x4::splat(0.0); 4];
    let mut d = 0;
    let (qp, kp) = (q.as_ptr(), k.as_ptr());
    // Eight columns per step where E widens eight at once (`Elem::load8`); each accumulator still adds column
    // block d before d + 4.
    while E::LOAD8 && d + 8 <= dk4 {
        // SAFETY: d + 8 ≤ dk, so every load lies inside q and inside the four rows of k.
        unsafe {
            let (x, y) = (F32x4::load(qp.add(d)), F32x4::load(qp.add(d + 4)));
            for (w, aw) in a.iter_mut().enumerate() {
                let [k0, k1] = E::load8(kp.add(w * dk + d));
                *aw = aw.add(x.mul(k0)).add(y.mul(k1));
            }
        }
        d += 8;
    }
    while d < dk4 {
        // SAFETY: d + 4 ≤ dk, so every load lies inside q and inside the four rows of k.
        unsafe {
            let x = F32x4::load(qp.add(d));
            a[0] = a[0].add(x.mul(E::load4(kp.add(d))));
            a[1] = a[1].add(x.mul(E::load4(kp.add(dk + d))));
            a[2] = a[2].add(x.mul(E::load4(kp.add(2 * dk + d))));
            a[3] = a[3].add(x.mul(E::load4(kp.add(3 * dk + d))));
        }
        d += 4;
    }
    let mut r = [0f32; 4];
    // SAFETY: four floats.
    unsafe { sum4(a[0], a[1], a[2], a[3]).store(r.as_mut_ptr()) };
    for d in dk4..dk {
        for (x, rx) in r.iter_mut().enumerate() {
            *rx += q[d] * k[x * dk + d].to_f32();
        }
    }
    r
}

#[inline(always)]
fn dot1<E: Elem>(q: &[f32], k: &[E]) -> f32 {
    let dk = k.len();
    assert!(q.len() >= dk);
    let dk4 = dk / 4 * 4;
    let mut a = F32x4::splat(0.0);
    let mut d = 0;
    while d < dk4 {
        // SAFETY: d + 4 ≤ dk ≤ both lengths.
        unsafe { a = a.add(F32x4::load(q.as_ptr().add(d)).mul(E::load4(k.as_ptr().add(d)))) };
        d += 4;
    }
    let mut r = a.hsum();
    for d in dk4..dk {
        r += q[d] * k[d].to_f32();
    }
    r
}

/// −∞ for the keys of tile [t, t + n) outside the row's span [lo, hi), and for the padding up to a multiple of 4.
/// Returns the tile offsets [a, b) of the allowed keys, None when there are none.
#[inline(always)]
fn mask(s: &mut [f32], n: usize, t: u64, span: (u64, u64)) -> Option<(usize, usize)> {
    let (lo, hi) = span;
    let end = t + n as u64;
    if lo >= end || hi <= t || lo >= hi {
        return None;
    }
    let a = (lo.max(t) - t) as usize;
    let b = (hi.min(end) - t) as usize;
    s[..a].fill(f32::NEG_INFINITY);
    s[b..round4(n)].fill(f32::NEG_INFINITY);
    Some((a, b))
}

/// One online-softmax step on a row of logits (log2 domain, a multiple of 4 long, −∞ where not allowed): turns them
/// into 2^(s − m') in place and updates (m, l); returns 2^(m − m').
#[inline(always)]
fn softmax_step(s: &mut [f32], m: &mut f32, l: &mut f32) -> f32 {
    let mut mx = F32x4::splat(f32::NEG_INFINITY);
    for c in s.chunks_exact(4) {
        // SAFETY: 4 readable floats.
        mx = mx.pmax(unsafe { F32x4::load(c.as_ptr()) });
    }
    let row_max = mx.hmax();
    let m_new = if row_max > *m { row_max } else { *m };
    let mv = F32x4::splat(m_new);
    let mut sum = F32x4::splat(0.0);
    for c in s.chunks_exact_mut(4) {
        // SAFETY: 4 readable and writable floats.
        unsafe {
            let e = exp2(F32x4::load(c.as_ptr()).sub(mv));
            e.store(c.as_mut_ptr());
            sum = sum.add(e);
        }
    }
    let alpha = if m_new == *m { 1.0 } else { exp2_scalar(*m - m_new) };
    *l = *l * alpha + sum.hsum();
    *m = m_new;
    alpha
}

/// acc ← acc·alpha + Σ_j p_j v_j over the tile's rows of V (`dv` wide), in column blocks of 32, then 4, then 1.
fn accumulate<E: Elem>(p: &[f32], v: &[E], dv: usize, alpha: f32, acc: &mut [f32]) {
    let mut d = 0;
    while d + 32 <= dv {
        block::<E, 8>(p, v, dv, d, alpha, acc);
        d += 32;
    }
    while d + 4 <= dv {
        block::<E, 1>(p, v, dv, d, alpha, acc);
        d += 4;
    }
    for c in d..dv {
        let mut x = acc[c] * alpha;
        for (j, pj) in p.iter().enumerate() {
            x += pj * v[j * dv + c].to_f32();
        }
        acc[c] = x;
    }
}

#[inline(always)]
fn block<E: Elem, const W: usize>(p: &[f32], v: &[E], dv: usize, d: usize, alpha: f32, acc: &mut [f32]) {
    assert!(d + 4 * W <= dv && v.len() >= p.len() * dv && acc.len() >= dv);
    let mut a = [F32x4::splat(0.0); W];
    let al = F32x4::splat(alpha);
    // SAFETY: columns d..d + 4W lie inside acc (dv long) and inside every row of v (asserted above).
    unsafe {
        for (w, x) in a.iter_mut().enumerate() {
            *x = F32x4::load(acc.as_ptr().add(d + 4 * w)).mul(al);
        }
        for (j, pj) in p.iter().enumerate() {
            let pv = F32x4::splat(*pj);
            let row = v.as_ptr().add(j * dv + d);
            let mut w = 0;
            while E::LOAD8 && w + 2 <= W {
                let [x0, x1] = E::load8(row.add(4 * w));
                a[w] = a[w].add(pv.mul(x0));
                a[w + 1] = a[w + 1].add(pv.mul(x1));
                w += 2;
            }
            while w < W {
                a[w] = a[w].add(pv.mul(E::load4(row.add(4 * w))));
                w += 1;
            }
        }
        for (w, x) in a.iter().enumerate() {
            x.store(acc.as_mut_ptr().add(d + 4 * w));
        }
    }
}

/// `accumulate` for two rows at once: each V load feeds both (column blocks of 16, then 4, then 1).
fn accumulate2(p0: &[f32], p1: &[f32], v: &[f32], dv: usize, alpha: (f32, f32), acc0: &mut [f32], acc1: &mut [f32]) {
    let mut d = 0;
    while d + 16 <= dv {
        block2::<4>(p0, p1, v, dv, d, alpha, acc0, acc1);
        d += 16;
    }
    while d + 4 <= dv {
        block2::<1>(p0, p1, v, dv, d, alpha, acc0, acc1);
        d += 4;
    }
    for c in d..dv {
        let (mut x, mut y) = (acc0[c] * alpha.0, acc1[c] * alpha.1);
        for j in 0..p0.len() {
            x += p0[j] * v[j * dv + c];
            y += p1[j] * v[j * dv + c];
        }
        acc0[c] = x;
        acc1[c] = y;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block2<const W: usize>(
    p0: &[f32],
    p1: &[f32],
    v: &[f32],
    dv: usize,
    d: usize,
    alpha: (f32, f32),
    acc0: &mut [f32],
    acc1: &mut [f32],
) {
    let n = p0.len();
    assert!(p1.len() == n && d + 4 * W <= dv && v.len() >= n * dv && acc0.len() >= dv && acc1.len() >= dv);
    let mut a = [F32x4::splat(0.0); W];
    let mut b = [F32x4::splat(0.0); W];
    let (al0, al1) = (F32x4::splat(alpha.0), F32x4::splat(alpha.1));
    // SAFETY: columns d..d + 4W lie inside acc0, acc1 (dv long) and inside every row of v (asserted above).
    unsafe {
        for w in 0..W {
            a[w] = F32x4::load(acc0.as_ptr().add(d + 4 * w)).mul(al0);
            b[w] = F32x4::load(acc1.as_ptr().add(d + 4 * w)).mul(al1);
        }
        for j in 0..n {
            let (x, y) = (F32x4::splat(*p0.get_unchecked(j)), F32x4::splat(*p1.get_unchecked(j)));
            let row = v.as_ptr().add(j * dv + d);
            for w in 0..W {
                let vv = F32x4::load(row.add(4 * w));
                a[w] = a[w].add(x.mul(vv));
                b[w] = b[w].add(y.mul(vv));
            }
        }
        for w in 0..W {
            a[w].store(acc0.as_mut_ptr().add(d + 4 * w));
            b[w].store(acc1.as_mut_ptr().add(d + 4 * w));
        }
    }
}

/// `touch` of a run's K and V rows as four interleaved streams (each half of K and of V): the lines arrive ~1.3x
/// faster than from one stream after the other (more misses in flight at once).
#[inline(always)]
fn touch_run<E>(k: &[E], v: &[E]) {
    let (kh, vh) = (k.len() / 2, v.len() / 2);
    touch_streams([&k[..kh], &k[kh..], &v[..vh], &v[vh..]]);
}

/// `touch` of N slices, their lines interleaved (line i of each, then line i + 1 of each, …; the longer ones' tails
/// after).
#[inline(always)]
fn touch_streams<E, const N: usize>(x: [&[E]; N]) {
    let bytes = x.iter().map(|s| core::mem::size_of_val(*s)).min().unwrap_or(0);
    let mut i = 0;
    while i < bytes {
        for s in &x {
            // SAFETY: i < every slice's byte length.
            unsafe { core::ptr::read_volatile((s.as_ptr() as *const u8).add(i)) };
        }
        i += 64;
    }
    for s in x {
        touch(&s[bytes / core::mem::size_of::<E>().max(1)..]);
    }
}

/// Reads one byte of every 64-byte line of `x` (volatile: never removed), so the lines of a tile are requested all at
/// once and in address order instead of as the kernel's strided first touches (wasm has no prefetch instruction).
#[inline(always)]
fn touch<E>(x: &[E]) {
    let bytes = core::mem::size_of_val(x);
    let p = x.as_ptr() as *const u8;
    let mut i = 0;
    while i < bytes {
        // SAFETY: i < the slice's byte length.
        unsafe { core::ptr::read_volatile(p.add(i)) };
        i += 64;
    }
}
