//! The decode kernel against a float64 oracle written from the semantics in desc.rs (every dtype, ring wrap, GQA,
//! causal / window / sinks, several split sizes), and the ABI's validation over a simulated linear memory.

use super::check::check_decode;
use super::desc::*;
use super::elem::f16_to_f32;
use super::{decode, CacheData, DecodeOutputs, DecodeProblem, F16Raw, Slots, F16};
use crate::abi::decode::decode_in;
use crate::check::Memory;
use crate::status::Status;

/// A change to a valid descriptor, for the tests of what the ABI refuses.
type Edit = Box<dyn Fn(&mut DecodeDesc)>;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.range(0, xs.len() - 1)]
    }
}

/// Round-to-nearest-even f32 → binary16 bits (finite inputs of the tests only need the normal/subnormal paths).
fn to_f16(x: f32) -> u16 {
    let mut best = 0u16;
    let mut err = f64::INFINITY;
    // Exhaustive over the two neighbours found by bisection on the ordered magnitudes.
    let (sign, a) = if x < 0.0 { (0x8000u16, -x as f64) } else { (0, x as f64) };
    let (mut lo, mut hi) = (0u16, 0x7bffu16);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if (f16_to_f32(mid) as f64) <= a {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    for c in [lo, hi] {
        let e = (f16_to_f32(c) as f64 - a).abs();
        if e < err || (e == err && c % 2 == 0) {
            best = c;
            err = e;
        }
    }
    best | sign
}

/// Where a (kv head, position) lives, written independently of the kernel's `Slots`.
#[derive(Clone)]
struct Layout {
    hkv: usize,
    cap: usize,
    paged: Option<(usize, Vec<u32>)>,
}

impl Layout {
    fn rows(&self) -> usize {
        match &self.paged {
            Some((ps, _)) => self.cap * self.hkv * ps,
            None => self.hkv * self.cap,
        }
    }
    fn row(&self, g: usize, p: u64) -> usize {
        let p = p as usize;
        match &self.paged {
            Some((ps, table)) => (g * self.cap + table[p / ps] as usize) * ps + p % ps,
            None => g * self.cap + p % self.cap,
        }
    }
}

#[derive(Clone)]
struct Case {
    hq: usize,
    hkv: usize,
    nq: usize,
    dk: usize,
    dv: usize,
    /// Ring: slots per head; paged: pages in the pool.
    cap: usize,
    /// Paged: (page size, page table).
    paged: Option<(usize, Vec<u32>)>,
    start: u64,
    end: u64,
    /// Position after the last query row; None = end (the descriptor's 0).
    q_end: Option<u64>,
    dtype: u32,
    causal: bool,
    win: Option<u64>,
    split: usize,
    q: Vec<f32>,
    sinks: Option<Vec<f32>>,
    k32: Vec<f32>,
    v32: Vec<f32>,
    k16: Vec<F16>,
    v16: Vec<F16>,
    /// f16 only: read through the finite-cache path (FLAG_F16_FINITE).
    finite: bool,
    k16r: Vec<F16Raw>,
    v16r: Vec<F16Raw>,
    k8: Vec<i8>,
    v8: Vec<i8>,
    ks: Vec<f32>,
    vs: Vec<f32>,
}

impl Case {
    fn random(rng: &mut Rng) -> Case {
        Case::random_with(rng, false)
    }

    /// `single`: one query row per kv head (MHA, Nq = 1), the kernel's fused path for f16 / int8.
    fn random_with(rng: &mut Rng, single: bool) -> Case {
        let hkv = rng.range(1, 3);
        let hq = if single { hkv } else { hkv * rng.pick(&[1, 2, 4]) };
        let nq = if single { 1 } else { rng.range(1, 16) };
        let dk = rng.pick(&[1, 3, 4, 8, 17, 32, 64, 128]);
        let dv = rng.pick(&[1, 4, 5, 16, 33, 64, 128]);
        let dtype = rng.pick(&[DTYPE_F32, DTYPE_F16, DTYPE_I8]);
        let causal = rng.range(0, 3) > 0;
        let ring = rng.range(0, 1) == 1;
        let win = if ring || rng.range(0, 3) == 0 { Some(rng.range(0, 80) as u64) } else { None };
        let (mut cap, start, end);
        let mut paged = None;
        if ring {
            let w = win.unwrap();
            cap = nq + w as usize + rng.range(0, 20);
            end = (nq + rng.range(0, 400)) as u64;
            let needed = (end - nq as u64).saturating_sub(w);
            start = rng.range(end.saturating_sub(cap as u64) as usize, needed as usize) as u64;
        } else {
            cap = nq + rng.range(0, 300);
            end = rng.range(nq, cap) as u64;
            start = 0;
        }
        if rng.range(0, 2) == 0 {
            // Paged: the same positions in pages of a pool, in a shuffled order, with spare pages and table entries.
            let ps = rng.pick(&[1, 3, 16, 64]);
            let used = (end as usize + ps - 1) / ps + rng.range(0, 2);
            let pages = used + rng.range(0, 5);
            let mut order: Vec<u32> = (0..pages as u32).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.range(0, i));
            }
            order.truncate(used.max(1));
            paged = Some((ps, order));
            cap = pages;
        }
        let split = rng.pick(&[1, 5, 64, 100, 1024]);
        let q: Vec<f32> = (0..hq * nq * dk).map(|_| rng.unit()).collect();
        let sinks = if rng.range(0, 2) == 0 { Some((0..hq).map(|_| rng.unit() * 3.0).collect()) } else { None };
        let layout = Layout { hkv, cap, paged: paged.clone() };
        // Rows that hold no position of [start, end) are NaN: the kernel must never read them.
        let mut held = vec![false; layout.rows()];
        for g in 0..hkv {
            for p in start..end {
                held[layout.row(g, p)] = true;
            }
        }
        let mut fill = |d: usize| -> Vec<f32> {
            (0..layout.rows() * d).map(|n| if held[n / d] { rng.unit() } else { f32::NAN }).collect()
        };
        let (k32, v32) = (fill(dk), fill(dv));
        let quant = |x: &[f32], d: usize| -> (Vec<i8>, Vec<f32>) {
            let mut q8 = vec![0i8; x.len()];
            let mut sc = vec![0f32; x.len() / d];
            for (r, row) in x.chunks(d).enumerate() {
                let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
                let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
                sc[r] = if row[0].is_nan() { f32::NAN } else { s };
                for (c, v) in row.iter().enumerate() {
                    q8[r * d + c] = if v.is_nan() { 0 } else { (v / s).round().clamp(-127.0, 127.0) as i8 };
                }
            }
            (q8, sc)
        };
        let (k8, ks) = quant(&k32, dk);
        let (v8, vs) = quant(&v32, dv);
        let half = |x: &[f32]| x.iter().map(|&v| F16(if v.is_nan() { 0x7e00 } else { to_f16(v) })).collect::<Vec<_>>();
        let (k16, v16) = (half(&k32), half(&v32));
        let raw = |x: &[F16]| x.iter().map(|h| F16Raw(h.0)).collect::<Vec<_>>();
        let (k16r, v16r) = (raw(&k16), raw(&v16));
        let finite = rng.range(0, 1) == 1;
        Case {
            hq,
            hkv,
            nq,
            dk,
            dv,
            cap,
            paged,
            start,
            end,
            q_end: None,
            dtype,
            causal,
            win,
            split,
            q,
            sinks,
            k32,
            v32,
            k16,
            v16,
            finite,
            k16r,
            v16r,
            k8,
            v8,
            ks,
            vs,
        }
    }

    fn name(&self) -> String {
        format!(
            "hq{} hkv{} nq{} dk{} dv{} cap{} paged{:?} [{},{}) q_end{:?} dtype{}{} causal{} win{:?} split{} sinks{}",
            self.hq,
            self.hkv,
            self.nq,
            self.dk,
            self.dv,
            self.cap,
            self.paged.as_ref().map(|p| p.0),
            self.start,
            self.end,
            self.q_end,
            self.dtype,
            if self.finite && self.dtype == DTYPE_F16 { " finite" } else { "" },
            self.causal,
            self.win,
            self.split,
            self.sinks.is_some()
        )
    }

    fn problem(&self) -> DecodeProblem<'_> {
        let cache = match self.dtype {
            DTYPE_F32 => CacheData::F32 { k: &self.k32, v: &self.v32 },
            DTYPE_F16 if self.finite => CacheData::F16Finite { k: &self.k16r, v: &self.v16r },
            DTYPE_F16 => CacheData::F16 { k: &self.k16, v: &self.v16 },
            _ => CacheData::I8 { k: &self.k8, v: &self.v8, k_scale: &self.ks, v_scale: &self.vs },
        };
        DecodeProblem {
            hq: self.hq,
            hkv: self.hkv,
            nq: self.nq,
            dk: self.dk,
            dv: self.dv,
            slots: match &self.paged {
                Some((ps, table)) => Slots::Paged { page_size: *ps, pages: self.cap, table },
                None => Slots::Ring { capacity: self.cap },
            },
            start: self.start,
            end: self.end,
            q_end: self.q_end.unwrap_or(self.end),
            q: &self.q,
            q_head: self.nq * self.dk,
            q_row: self.dk,
            scale: 1.0 / (self.dk as f32).sqrt(),
            causal: self.causal,
            win_left: self.win,
            sinks: self.sinks.as_deref(),
            split: self.split,
            cache,
        }
    }

    /// The stored key / value element as the kernel should see it, in f64.
    fn layout(&self) -> Layout {
        Layout { hkv: self.hkv, cap: self.cap, paged: self.paged.clone() }
    }

    fn key(&self, kvh: usize, pos: u64, c: usize, value: bool) -> f64 {
        let d = if value { self.dv } else { self.dk };
        let r = self.layout().row(kvh, pos);
        let n = r * d + c;
        match (self.dtype, value) {
            (DTYPE_F32, false) => self.k32[n] as f64,
            (DTYPE_F32, true) => self.v32[n] as f64,
            (DTYPE_F16, false) => f16_to_f32(self.k16[n].0) as f64,
            (DTYPE_F16, true) => f16_to_f32(self.v16[n].0) as f64,
            (_, false) => self.k8[n] as f64 * self.ks[r] as f64,
            (_, true) => self.v8[n] as f64 * self.vs[r] as f64,
        }
    }

    /// Float64 oracle: (o [hq, nq, dv], lse [hq, nq]).
    fn oracle(&self) -> (Vec<f64>, Vec<f64>) {
        let scale = 1.0 / (self.dk as f64).sqrt();
        let mut o = vec![0f64; self.hq * self.nq * self.dv];
        let mut lse = vec![0f64; self.hq * self.nq];
        for h in 0..self.hq {
            let kvh = h / (self.hq / self.hkv);
            for i in 0..self.nq {
                let qp = self.q_end.unwrap_or(self.end) - self.nq as u64 + i as u64;
                let mut logits = Vec::new();
                for p in self.start..self.end {
                    let ok = (!self.causal || p <= qp) && self.win.map_or(true, |w| p + w >= qp);
                    if !ok {
                        continue;
                    }
                    let slot = p;
                    let mut s = 0f64;
                    for c in 0..self.dk {
                        s += self.q[(h * self.nq + i) * self.dk + c] as f64 * self.key(kvh, slot, c, false);
                    }
                    logits.push((s * scale, slot));
                }
                let sink = self.sinks.as_ref().map(|s| s[h] as f64);
                let mx = logits.iter().map(|x| x.0).chain(sink).fold(f64::NEG_INFINITY, f64::max);
                let mut l = sink.map_or(0.0, |s| (s - mx).exp());
                let row = &mut o[(h * self.nq + i) * self.dv..][..self.dv];
                for &(s, slot) in &logits {
                    let e = (s - mx).exp();
                    l += e;
                    for (c, x) in row.iter_mut().enumerate() {
                        *x += e * self.key(kvh, slot, c, true);
                    }
                }
                if l == 0.0 {
                    lse[h * self.nq + i] = f64::NEG_INFINITY;
                    continue;
                }
                for x in row.iter_mut() {
                    *x /= l;
                }
                lse[h * self.nq + i] = mx + l.ln();
            }
        }
        (o, lse)
    }
}

fn run(c: &Case) -> (Vec<f32>, Vec<f32>) {
    let mut o = vec![f32::NAN; c.hq * c.nq * c.dv];
    let mut lse = vec![f32::NAN; c.hq * c.nq];
    let mut out = DecodeOutputs { o: &mut o, o_head: c.nq * c.dv, o_row: c.dv, lse: Some(&mut lse) };
    decode(&c.problem(), &mut out).unwrap();
    (o, lse)
}

#[test]
fn decode_matches_the_float64_oracle() {
    let mut rng = Rng(7);
    for n in 0..300 {
        let c = Case::random(&mut rng);
        let (o, lse) = run(&c);
        let (wo, wl) = c.oracle();
        for (x, (g, w)) in o.iter().zip(&wo).enumerate() {
            assert!((*g as f64 - w).abs() <= 1e-5, "case {n} {}: o[{x}] = {g}, want {w}", c.name());
        }
        for (x, (g, w)) in lse.iter().zip(&wl).enumerate() {
            let ok = if w.is_finite() { (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0) } else { *g as f64 == *w };
            assert!(ok, "case {n} {}: lse[{x}] = {g}, want {w}", c.name());
        }
    }
}

#[test]
fn single_query_rows_match_the_oracle() {
    let mut rng = Rng(17);
    for n in 0..150 {
        let c = Case::random_with(&mut rng, true);
        let (o, lse) = run(&c);
        let (wo, wl) = c.oracle();
        for (x, (g, w)) in o.iter().zip(&wo).enumerate() {
            assert!((*g as f64 - w).abs() <= 1e-5, "case {n} {}: o[{x}] = {g}, want {w}", c.name());
        }
        for (g, w) in lse.iter().zip(&wl) {
            assert!(if w.is_finite() { (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0) } else { *g as f64 == *w });
        }
    }
}

impl Case {
    /// Whether query row i may see key position p (desc.rs).
    fn sees(&self, i: usize, p: u64) -> bool {
        let qp = self.q_end.unwrap_or(self.end) - self.nq as u64 + i as u64;
        self.start <= p && p < self.end && (!self.causal || p <= qp) && self.win.map_or(true, |w| p + w >= qp)
    }

    /// Stores `x` (NaN or ±∞) as column 0 of position p's key (`value` false) or value in every kv head; for int8 as
    /// the row's scale. An f16 cache then leaves the finite-cache path.
    fn poison(&mut self, p: u64, value: bool, x: f32) {
        let layout = self.layout();
        self.finite = false;
        for g in 0..self.hkv {
            let r = layout.row(g, p);
            let (d, f32s, f16s, raws, scales) = if value {
                (self.dv, &mut self.v32, &mut self.v16, &mut self.v16r, &mut self.vs)
            } else {
                (self.dk, &mut self.k32, &mut self.k16, &mut self.k16r, &mut self.ks)
            };
            let h = if x.is_nan() {
                0x7e00
            } else if x > 0.0 {
                0x7c00
            } else {
                0xfc00
            };
            f32s[r * d] = x;
            f16s[r * d] = F16(h);
            raws[r * d] = F16Raw(h);
            scales[r] = x;
        }
    }
}

/// NaN or ±∞ stored at keys that some query rows may not see (the last key under the causal mask, the first key of a
/// window) reach only the rows that see them: a masked key has p = 0, and 0 · ∞ = NaN must not be added.
#[test]
fn non_finite_keys_and_values_reach_only_the_rows_that_see_them() {
    let mut rng = Rng(23);
    let mut checked = 0;
    for n in 0..400 {
        let mut c = Case::random(&mut rng);
        if c.start == c.end {
            continue;
        }
        let value = rng.range(0, 2) > 0;
        let x = rng.pick(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        // The last held key (future for every query but the last, causal) and the lowest key the first row sees.
        let first = c.end - c.nq as u64;
        let low = c.win.map_or(c.start, |w| first.saturating_sub(w).max(c.start));
        let bad = [c.end - 1, low];
        for &p in &bad {
            c.poison(p, value, x);
        }
        let (o, _) = run(&c);
        let (wo, _) = c.oracle();
        for h in 0..c.hq {
            for i in 0..c.nq {
                if bad.iter().any(|&p| c.sees(i, p)) {
                    continue;
                }
                checked += 1;
                let row = (h * c.nq + i) * c.dv;
                for x in row..row + c.dv {
                    assert!(
                        (o[x] as f64 - wo[x]).abs() <= 1e-5,
                        "case {n} {} (poisoned {} at {bad:?}): row h{h} i{i}: o[{x}] = {}, want {}",
                        c.name(),
                        if value { "v" } else { "k" },
                        o[x],
                        wo[x]
                    );
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} rows checked");
}

#[test]
fn split_size_changes_nothing_but_rounding() {
    let mut rng = Rng(11);
    for _ in 0..40 {
        let mut c = Case::random(&mut rng);
        c.split = 1024;
        let (a, _) = run(&c);
        c.split = 3;
        let (b, _) = run(&c);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 2e-6, "{}: {x} vs {y}", c.name());
        }
    }
}

/// A simulated linear memory for the ABI (offsets from a base address; nothing below LO).
const LO: usize = 64;

fn place(mem: &mut Vec<u8>, bytes: &[u8]) -> u32 {
    let at = (mem.len() + 15) / 16 * 16;
    mem.resize(at, 0);
    mem.extend_from_slice(bytes);
    at as u32
}

fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Lays out case `c` in a fresh memory; returns (memory, descriptor offset, descriptor).
fn lay_out(c: &Case) -> (Vec<u8>, DecodeDesc) {
    let mut m = vec![0u8; LO];
    let (k, v, ks, vs) = match c.dtype {
        DTYPE_F32 => (place(&mut m, &f32_bytes(&c.k32)), place(&mut m, &f32_bytes(&c.v32)), 0, 0),
        DTYPE_F16 => {
            let b = |x: &[F16]| x.iter().flat_map(|h| h.0.to_le_bytes()).collect::<Vec<u8>>();
            (place(&mut m, &b(&c.k16)), place(&mut m, &b(&c.v16)), 0, 0)
        }
        _ => {
            let b = |x: &[i8]| x.iter().map(|&v| v as u8).collect::<Vec<u8>>();
            let k = place(&mut m, &b(&c.k8));
            let v = place(&mut m, &b(&c.v8));
            (k, v, place(&mut m, &f32_bytes(&c.ks)), place(&mut m, &f32_bytes(&c.vs)))
        }
    };
    let table = c
        .paged
        .as_ref()
        .map_or(0, |(_, t)| place(&mut m, &t.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()));
    let q = place(&mut m, &f32_bytes(&c.q));
    let sinks = c.sinks.as_ref().map_or(0, |s| place(&mut m, &f32_bytes(s)));
    let o = place(&mut m, &vec![0u8; c.hq * c.nq * c.dv * 4]);
    let lse = place(&mut m, &vec![0u8; c.hq * c.nq * 4]);
    let d = DecodeDesc {
        magic: DECODE_MAGIC,
        hq: c.hq as u32,
        hkv: c.hkv as u32,
        nq: c.nq as u32,
        dk: c.dk as u32,
        dv: c.dv as u32,
        dtype: c.dtype,
        capacity: c.cap as u32,
        start: c.start as u32,
        end: c.end as u32,
        k_ptr: k,
        v_ptr: v,
        k_scale_ptr: ks,
        v_scale_ptr: vs,
        q_ptr: q,
        q_head: (c.nq * c.dk) as u32,
        q_row: c.dk as u32,
        o_ptr: o,
        o_head: (c.nq * c.dv) as u32,
        o_row: c.dv as u32,
        lse_ptr: lse,
        sinks_ptr: sinks,
        scale: 1.0 / (c.dk as f32).sqrt(),
        causal: c.causal as u32,
        win_left: c.win.map_or(-1, |w| w as i32),
        split: c.split as u32,
        page_size: c.paged.as_ref().map_or(0, |p| p.0 as u32),
        page_table_ptr: table,
        page_count: c.paged.as_ref().map_or(0, |p| p.1.len() as u32),
        flags: if c.finite && c.dtype == DTYPE_F16 { FLAG_F16_FINITE } else { 0 },
        q_end: c.q_end.map_or(0, |x| x as u32),
    };
    m.resize((m.len() + DECODE_WORDS * 4 + 64) / 16 * 16 + 16, 0);
    (m, d)
}

fn call(mem: &mut Vec<u8>, d: &DecodeDesc) -> Status {
    let at = (mem.len() - DECODE_WORDS * 4 - 16) / 16 * 16;
    let words: Vec<u8> = {
        // SAFETY: DecodeDesc is repr(C) of 4-byte fields.
        let p = d as *const DecodeDesc as *const u8;
        unsafe { core::slice::from_raw_parts(p, DECODE_WORDS * 4) }.to_vec()
    };
    mem[at..at + DECODE_WORDS * 4].copy_from_slice(&words);
    let mem_desc = Memory { lo: LO as u64, len: mem.len() as u64 };
    // SAFETY: the memory is ours and lives through the call; base is its address.
    unsafe { decode_in(mem.as_mut_ptr() as usize, mem_desc, at as u32) }
}

#[test]
fn abi_runs_a_valid_descriptor_like_the_kernel() {
    let mut rng = Rng(3);
    for _ in 0..30 {
        let c = Case::random(&mut rng);
        let (mut m, d) = lay_out(&c);
        assert_eq!(call(&mut m, &d), Status::Ok, "{}", c.name());
        let (o, _) = run(&c);
        let got: Vec<f32> = m[d.o_ptr as usize..][..o.len() * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            o.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn abi_rejects_each_bad_field_with_its_status() {
    let mut rng = Rng(5);
    let mut c = Case::random(&mut rng);
    while c.dtype != DTYPE_I8 || c.end < 2 || c.paged.is_some() {
        c = Case::random(&mut rng);
    }
    let (mut m, d) = lay_out(&c);
    let len = m.len() as u32;
    let bad: Vec<(Edit, Status)> = vec![
        (Box::new(|d| d.magic ^= 1), Status::BadMagic),
        (Box::new(|d| d.flags = 2), Status::BadFlags),
        (Box::new(|d| d.nq = 17), Status::BadDims),
        (Box::new(|d| d.dk = 0), Status::BadDims),
        (Box::new(|d| d.hkv = d.hq + 1), Status::BadHeads),
        (Box::new(|d| d.scale = f32::NAN), Status::BadScale),
        (Box::new(|d| d.causal = 2), Status::BadAlign),
        (Box::new(|d| d.win_left = -2), Status::BadWindow),
        (Box::new(|d| d.dtype = 3), Status::BadCache),
        (Box::new(|d| d.capacity = 0), Status::BadCache),
        (Box::new(move |d| d.k_ptr = len - 4), Status::BadCache),
        (Box::new(|d| d.v_scale_ptr = 0), Status::BadCache),
        (Box::new(|d| d.k_ptr = 8), Status::BadCache),
        (Box::new(|d| d.start = d.end + 1), Status::BadCacheRange),
        (Box::new(|d| d.end = d.capacity + 1), Status::BadCacheRange),
        (
            Box::new(|d| {
                d.start = 0;
                d.end = d.nq - 1;
            }),
            Status::BadCacheRange,
        ),
        (
            Box::new(|d| {
                d.win_left = -1;
                d.start = 1;
            }),
            Status::BadCacheRange,
        ),
        (Box::new(|d| d.q_ptr += 2), Status::BadQ),
        (Box::new(|d| d.q_row = u32::MAX), Status::BadQ),
        (Box::new(|d| d.o_ptr = d.q_ptr), Status::BadOut),
        (
            Box::new(|d| {
                d.o_row = 0;
                d.nq = 2;
            }),
            Status::BadOut,
        ),
        (Box::new(|d| d.lse_ptr = d.o_ptr), Status::BadLse),
        (Box::new(move |d| d.sinks_ptr = len), Status::BadSinks),
    ];
    for (n, (f, want)) in bad.iter().enumerate() {
        let mut e = d;
        f(&mut e);
        assert_eq!(call(&mut m, &e), *want, "bad field #{n} ({})", c.name());
    }
    assert_eq!(call(&mut m, &d), Status::Ok);
    assert!(check_decode(&d, Memory { lo: LO as u64, len: m.len() as u64 }).is_ok());
}

#[test]
fn abi_checks_the_page_table() {
    let mut rng = Rng(8);
    let mut c = Case::random(&mut rng);
    while c.paged.is_none() || c.end < 2 {
        c = Case::random(&mut rng);
    }
    let (mut m, d) = lay_out(&c);
    assert_eq!(call(&mut m, &d), Status::Ok, "{}", c.name());
    let ps = d.page_size;
    let bad: Vec<(Edit, Status)> = vec![
        (Box::new(|d| d.page_count = 0), Status::BadCache),
        (Box::new(|d| d.page_table_ptr += 1), Status::BadCache),
        (Box::new(|d| d.page_size = 0), Status::BadCache),
        (Box::new(move |d| d.end = d.page_count * ps + 1), Status::BadCacheRange),
    ];
    for (n, (f, want)) in bad.iter().enumerate() {
        let mut e = d;
        f(&mut e);
        assert_eq!(call(&mut m, &e), *want, "bad field #{n} ({})", c.name());
    }
    // A table entry past the pool's pages, for a page the call reads.
    let entry = d.page_table_ptr as usize + 4 * ((d.end as usize - 1) / ps as usize);
    m[entry..entry + 4].copy_from_slice(&d.capacity.to_le_bytes());
    assert_eq!(call(&mut m, &d), Status::BadCache);
}

/// The case's [start, end) cut into chunks decoded with q_end = end and no sink, then merged by log-sum-exp in f64
/// with the sink (if any) added once to the merged denominator: (o, lse) as the full decode gives them.
fn chunked(c: &Case, cuts: &[u64]) -> (Vec<f64>, Vec<f64>) {
    let rows = c.hq * c.nq;
    let mut bounds = vec![c.start];
    bounds.extend_from_slice(cuts);
    bounds.push(c.end);
    let parts: Vec<(Vec<f32>, Vec<f32>)> = bounds
        .windows(2)
        .map(|w| {
            let mut part = c.clone();
            part.start = w[0];
            part.end = w[1];
            part.q_end = Some(c.q_end.unwrap_or(c.end));
            part.sinks = None;
            run(&part)
        })
        .collect();
    let mut o = vec![0f64; rows * c.dv];
    let mut lse = vec![f64::NEG_INFINITY; rows];
    for r in 0..rows {
        let sink = c.sinks.as_ref().map(|s| s[r / c.nq] as f64);
        let m = parts.iter().map(|p| p.1[r] as f64).chain(sink).fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            continue;
        }
        let mut l = sink.map_or(0.0, |s| (s - m).exp());
        for (po, pl) in &parts {
            let w = (pl[r] as f64 - m).exp();
            l += w;
            for (x, y) in o[r * c.dv..(r + 1) * c.dv].iter_mut().zip(&po[r * c.dv..(r + 1) * c.dv]) {
                *x += w * *y as f64;
            }
        }
        for x in o[r * c.dv..(r + 1) * c.dv].iter_mut() {
            *x /= l;
        }
        lse[r] = m + l.ln();
    }
    (o, lse)
}

fn assert_close(c: &Case, what: &str, got: (&[f64], &[f64]), want: (&[f64], &[f64])) {
    for (x, (g, w)) in got.0.iter().zip(want.0).enumerate() {
        assert!((g - w).abs() <= 1e-5, "{what} {}: o[{x}] = {g}, want {w}", c.name());
    }
    for (x, (g, w)) in got.1.iter().zip(want.1).enumerate() {
        let ok = if w.is_finite() { (g - w).abs() <= 1e-5 * w.abs().max(1.0) } else { g == w };
        assert!(ok, "{what} {}: lse[{x}] = {g}, want {w}", c.name());
    }
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Random cut points of [start, end) into `n` chunks (some may be empty).
fn cuts(rng: &mut Rng, c: &Case, n: usize) -> Vec<u64> {
    let mut v: Vec<u64> = (1..n).map(|_| rng.range(c.start as usize, c.end as usize) as u64).collect();
    v.sort_unstable();
    v
}

#[test]
fn chunks_with_q_end_merged_by_lse_equal_the_full_decode() {
    let mut rng = Rng(23);
    for _ in 0..200 {
        let c = Case::random(&mut rng);
        let n = rng.range(2, 4);
        let cut = cuts(&mut rng, &c, n);
        let (fo, fl) = run(&c);
        let (co, cl) = chunked(&c, &cut);
        assert_close(&c, &format!("chunks {cut:?}"), (&co, &cl), (&widen(&fo), &widen(&fl)));
        let (wo, wl) = c.oracle();
        assert_close(&c, &format!("chunks {cut:?} vs oracle"), (&co, &cl), (&wo, &wl));
    }
}

/// The named shapes of the task: f32 causal Nq = 1 and Nq = 4 (GQA), with a window, with sinks.
#[test]
fn chunks_with_q_end_named_cases() {
    let mut rng = Rng(29);
    let mut c = Case::random(&mut rng);
    while c.paged.is_some() || c.start != 0 {
        c = Case::random(&mut rng);
    }
    let (hkv, dk) = (2usize, 64usize);
    let n = 300u64;
    let fill = |rng: &mut Rng, len: usize| (0..len).map(|_| rng.unit()).collect::<Vec<f32>>();
    c.hkv = hkv;
    c.dk = dk;
    c.dv = dk;
    c.cap = n as usize;
    c.start = 0;
    c.end = n;
    c.dtype = DTYPE_F32;
    c.causal = true;
    c.split = 64;
    c.k32 = fill(&mut rng, hkv * n as usize * dk);
    c.v32 = fill(&mut rng, hkv * n as usize * dk);
    for (nq, group, win, sinks) in
        [(1, 1, None, false), (4, 4, None, false), (4, 2, Some(37), false), (1, 4, None, true), (4, 4, Some(100), true)]
    {
        let mut d = c.clone();
        d.nq = nq;
        d.hq = hkv * group;
        d.win = win;
        d.q = fill(&mut rng, d.hq * nq * dk);
        d.sinks = if sinks { Some(fill(&mut rng, d.hq).iter().map(|x| x * 3.0).collect()) } else { None };
        for chunks in 2..=4 {
            let cut: Vec<u64> = (1..chunks as u64).map(|x| x * n / chunks as u64).collect();
            let (fo, fl) = run(&d);
            let (co, cl) = chunked(&d, &cut);
            assert_close(&d, &format!("chunks {cut:?}"), (&co, &cl), (&widen(&fo), &widen(&fl)));
        }
    }
}

#[test]
fn a_chunk_with_no_allowed_key_gives_zero_and_minus_infinity() {
    let mut rng = Rng(31);
    let mut c = Case::random(&mut rng);
    while c.paged.is_some() || c.start != 0 || c.end < 40 {
        c = Case::random(&mut rng);
    }
    c.sinks = None;
    let full = c.end;
    // Causal: keys after every query. Window: keys before every query's window.
    let mut late = c.clone();
    late.causal = true;
    late.start = full - 10;
    late.q_end = Some(full - 10);
    let mut early = c.clone();
    early.win = Some(3);
    early.start = 0;
    early.end = 10;
    early.q_end = Some(full + 20);
    for d in [late, early] {
        let (o, lse) = run(&d);
        assert!(o.iter().all(|&x| x == 0.0), "{}", d.name());
        assert!(lse.iter().all(|&x| x == f32::NEG_INFINITY), "{}", d.name());
    }
}

#[test]
fn abi_checks_q_end() {
    let mut rng = Rng(37);
    let mut c = Case::random(&mut rng);
    while c.paged.is_some() || c.start != 0 || c.end < 4 || c.nq < 2 {
        c = Case::random(&mut rng);
    }
    let (mut m, d) = lay_out(&c);
    assert_eq!(call(&mut m, &d), Status::Ok, "{}", c.name());
    let nq = d.nq;
    let cases: Vec<(Edit, Status)> = vec![
        (Box::new(move |d| d.q_end = nq - 1), Status::BadCacheRange),
        (Box::new(|d| d.q_end = 1), Status::BadCacheRange),
        (Box::new(move |d| d.q_end = nq), Status::Ok),
        // A chunk shorter than nq, and one that starts past the lowest key a query may see: the caller's business.
        (
            Box::new(|d| {
                d.q_end = d.end + 100;
                d.start = d.end - 1;
            }),
            Status::Ok,
        ),
        (
            Box::new(|d| {
                d.q_end = d.end;
                d.win_left = -1;
                d.start = 1;
            }),
            Status::Ok,
        ),
        (
            Box::new(|d| {
                d.q_end = 0;
                d.win_left = -1;
                d.start = 1;
            }),
            Status::BadCacheRange,
        ),
        (
            Box::new(|d| {
                d.q_end = u32::MAX;
                d.start = d.end - 1;
            }),
            Status::Ok,
        ),
        // Still checked with q_end: the range itself.
        (
            Box::new(|d| {
                d.q_end = d.end;
                d.start = d.end + 1;
            }),
            Status::BadCacheRange,
        ),
        (
            Box::new(|d| {
                d.q_end = d.end;
                d.end = d.capacity + 1;
            }),
            Status::BadCacheRange,
        ),
    ];
    for (n, (f, want)) in cases.iter().enumerate() {
        let mut e = d;
        f(&mut e);
        assert_eq!(call(&mut m, &e), *want, "q_end case #{n} ({})", c.name());
    }
}
