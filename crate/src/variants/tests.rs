//! The variant kernels against plain float64 loops of their definitions (desc.rs), and the ABI's checks.

use super::desc::*;
use super::{run, Kind, Out, VarProblem};
use crate::abi::variants::variant_in;
use crate::check::Memory;
use crate::desc::{Operand, Strides as RawStrides};
use crate::problem::{Dims, Strides, View};
use crate::status::Status;

/// SplitMix64: reproducible inputs without dependencies.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// n values uniform in [-1, 1).
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).collect()
    }
}

/// Inputs in [-1, 1]; every sum is of positive weights or of bounded products, so f32 stays within this of f64.
const TOL: f64 = 2e-5;

struct Case {
    dims: Dims,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    scale: f32,
}

fn case(rng: &mut Rng, dims: Dims) -> Case {
    let Dims { b, hq, hkv, nq, nk, dk, dv } = dims;
    Case {
        dims,
        q: rng.vec(b * hq * nq * dk),
        k: rng.vec(b * hkv * nk * dk),
        v: rng.vec(b * hkv * nk * dv),
        scale: 1.0 / (dk as f32).sqrt(),
    }
}

fn gaussian(rng: &mut Rng) -> f32 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()) as f32
}

fn kernel_out(c: &Case, causal: Option<i64>, kind: Kind) -> Vec<f32> {
    let Dims { b, hq, hkv, nq, nk, dk, dv } = c.dims;
    let p = VarProblem {
        dims: c.dims,
        q: View { data: &c.q, strides: Strides::compact(hq, nq, dk) },
        k: View { data: &c.k, strides: Strides::compact(hkv, nk, dk) },
        v: View { data: &c.v, strides: Strides::compact(hkv, nk, dv) },
        scale: c.scale,
        causal,
        kind,
    };
    let mut o = vec![f32::NAN; b * hq * nq * dv];
    run(&p, &mut Out { o: &mut o, strides: Strides::compact(hq, nq, dv) }).unwrap();
    o
}

/// o_i = Σ_j w(i, j) v_j / Σ_j w(i, j) over the causal prefix, w from `weight(b, h, g, i, j)`.
fn naive_ratio(c: &Case, causal: Option<i64>, weight: impl Fn(usize, usize, usize, usize, usize) -> f64) -> Vec<f64> {
    let Dims { b, hq, hkv, nq, nk, dv, .. } = c.dims;
    let mut o = vec![0.0; b * hq * nq * dv];
    for bi in 0..b {
        for h in 0..hq {
            let g = h / (hq / hkv);
            for i in 0..nq {
                let keys = causal.map_or(nk as i64, |off| (i as i64 + off + 1).max(0).min(nk as i64)) as usize;
                let (mut num, mut den) = (vec![0.0; dv], 0.0);
                for j in 0..keys {
                    let w = weight(bi, h, g, i, j);
                    den += w;
                    for (x, n) in num.iter_mut().enumerate().take(dv) {
                        *n += w * c.v[((bi * hkv + g) * nk + j) * dv + x] as f64;
                    }
                }
                for x in 0..dv {
                    o[((bi * hq + h) * nq + i) * dv + x] = if den == 0.0 { 0.0 } else { num[x] / den };
                }
            }
        }
    }
    o
}

fn q_row(c: &Case, b: usize, h: usize, i: usize) -> Vec<f64> {
    let Dims { hq, nq, dk, .. } = c.dims;
    c.q[((b * hq + h) * nq + i) * dk..][..dk].iter().map(|&x| x as f64).collect()
}

fn k_row(c: &Case, b: usize, g: usize, j: usize) -> Vec<f64> {
    let Dims { hkv, nk, dk, .. } = c.dims;
    c.k[((b * hkv + g) * nk + j) * dk..][..dk].iter().map(|&x| x as f64).collect()
}

fn max_err(got: &[f32], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max)
}

fn elu1(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&x| if x > 0.0 { x + 1.0 } else { x.exp() }).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn favor(x: &[f64], w: &[f32], m: usize, scale: f64) -> Vec<f64> {
    let xs: Vec<f64> = x.iter().map(|&v| v * scale.sqrt()).collect();
    let n2 = dot(&xs, &xs) / 2.0;
    (0..m)
        .map(|a| (dot(&xs, &w[a * x.len()..][..x.len()].iter().map(|&v| v as f64).collect::<Vec<_>>()) - n2).exp())
        .collect()
}

const SHAPES: [Dims; 5] = [
    Dims { b: 1, hq: 1, hkv: 1, nq: 1, nk: 1, dk: 1, dv: 1 },
    Dims { b: 2, hq: 4, hkv: 2, nq: 70, nk: 70, dk: 5, dv: 3 },
    Dims { b: 1, hq: 3, hkv: 1, nq: 33, nk: 150, dk: 16, dv: 9 },
    Dims { b: 1, hq: 2, hkv: 2, nq: 150, nk: 40, dk: 8, dv: 16 },
    Dims { b: 1, hq: 1, hkv: 1, nq: 200, nk: 200, dk: 32, dv: 32 },
];

fn offsets(d: Dims) -> [Option<i64>; 3] {
    [None, Some(0), Some(d.nk as i64 - d.nq as i64)]
}

#[test]
fn linear_attention_matches_its_definition() {
    let mut rng = Rng::new(11);
    for dims in SHAPES {
        let c = case(&mut rng, dims);
        for causal in offsets(dims) {
            let got = kernel_out(&c, causal, Kind::Linear);
            let want =
                naive_ratio(&c, causal, |b, h, g, i, j| dot(&elu1(&q_row(&c, b, h, i)), &elu1(&k_row(&c, b, g, j))));
            let e = max_err(&got, &want);
            assert!(e < TOL, "{dims:?} causal {causal:?}: max err {e}");
        }
    }
}

#[test]
fn performer_matches_its_definition() {
    let mut rng = Rng::new(12);
    for dims in SHAPES {
        for m in [1, 7, 64] {
            let c = case(&mut rng, dims);
            let w: Vec<f32> = (0..m * dims.dk).map(|_| gaussian(&mut rng)).collect();
            for causal in offsets(dims) {
                let got = kernel_out(&c, causal, Kind::Performer { features: m, projection: &w });
                let s = c.scale as f64;
                let want = naive_ratio(&c, causal, |b, h, g, i, j| {
                    dot(&favor(&q_row(&c, b, h, i), &w, m, s), &favor(&k_row(&c, b, g, j), &w, m, s))
                });
                let e = max_err(&got, &want);
                assert!(e < TOL, "{dims:?} m {m} causal {causal:?}: max err {e}");
            }
        }
    }
}

#[test]
fn linformer_matches_its_definition() {
    let mut rng = Rng::new(13);
    for dims in SHAPES {
        for rows in [1, 5, 64] {
            let c = case(&mut rng, dims);
            let nk = dims.nk;
            let e: Vec<f32> = (0..rows * nk).map(|_| gaussian(&mut rng) / (rows as f32).sqrt()).collect();
            let f: Vec<f32> = (0..rows * nk).map(|_| gaussian(&mut rng) / (rows as f32).sqrt()).collect();
            let got = kernel_out(&c, None, Kind::Linformer { rows, e: &e, f: &f });
            let Dims { b, hq, hkv, nq, dk, dv, .. } = dims;
            let mut want = vec![0.0; got.len()];
            for bi in 0..b {
                for g in 0..hkv {
                    let kp: Vec<Vec<f64>> = (0..rows)
                        .map(|r| {
                            (0..dk)
                                .map(|x| (0..nk).map(|j| e[r * nk + j] as f64 * k_row(&c, bi, g, j)[x]).sum())
                                .collect()
                        })
                        .collect();
                    let vp: Vec<Vec<f64>> = (0..rows)
                        .map(|r| {
                            (0..dv)
                                .map(|x| {
                                    (0..nk)
                                        .map(|j| f[r * nk + j] as f64 * c.v[((bi * hkv + g) * nk + j) * dv + x] as f64)
                                        .sum()
                                })
                                .collect()
                        })
                        .collect();
                    for h in g * (hq / hkv)..(g + 1) * (hq / hkv) {
                        for i in 0..nq {
                            let s: Vec<f64> =
                                kp.iter().map(|kr| dot(&q_row(&c, bi, h, i), kr) * c.scale as f64).collect();
                            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            let p: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
                            let l: f64 = p.iter().sum();
                            for x in 0..dv {
                                want[((bi * hq + h) * nq + i) * dv + x] =
                                    (0..rows).map(|r| p[r] * vp[r][x]).sum::<f64>() / l;
                            }
                        }
                    }
                }
            }
            // Projected keys are sums of nk products: scale the budget by their magnitude (√nk / √rows per entry).
            let tol = TOL * (nk as f64 / rows as f64).sqrt().max(1.0);
            let err = max_err(&got, &want);
            assert!(err < tol, "{dims:?} rows {rows}: max err {err}");
        }
    }
}

#[test]
fn performer_stays_finite_for_large_logits() {
    // |x'|² up to ~400: unshifted features would overflow f32; the shifts keep them in range.
    let mut rng = Rng::new(14);
    let dims = Dims { b: 1, hq: 1, hkv: 1, nq: 50, nk: 90, dk: 16, dv: 4 };
    let mut c = case(&mut rng, dims);
    for x in c.q.iter_mut().chain(c.k.iter_mut()) {
        *x *= 20.0;
    }
    c.scale = 1.0;
    let w: Vec<f32> = (0..16 * 16).map(|_| gaussian(&mut rng)).collect();
    for causal in [None, Some(0)] {
        let got = kernel_out(&c, causal, Kind::Performer { features: 16, projection: &w });
        assert!(got.iter().all(|x| x.is_finite() && x.abs() <= 1.0 + 1e-5), "{causal:?}");
    }
}

#[test]
fn performer_matches_its_definition_for_far_apart_features() {
    // Gaussian q, k with σ = 12 (dk 16, scale 1/4): the keys' pre-features ω_a·k' − |k'|²/2 differ by far more than
    // f32's exp range (~88) between keys and between features. One shift for the whole state lost most keys (the
    // outputs were off by O(1), then NaN); per-feature shifts keep every term that matters. The oracle evaluates
    // Σ_a exp(pre_a(q) + pre_a(k)) in float64 log-space, relative to the row's largest term (which cancels).
    let mut rng = Rng::new(15);
    let dims = Dims { b: 1, hq: 2, hkv: 1, nq: 60, nk: 150, dk: 16, dv: 4 };
    let mut c = case(&mut rng, dims);
    for x in c.q.iter_mut().chain(c.k.iter_mut()) {
        *x = 12.0 * gaussian(&mut rng);
    }
    let m = 32;
    let w: Vec<f32> = (0..m * dims.dk).map(|_| gaussian(&mut rng)).collect();
    let s = c.scale as f64;
    let pre = |x: &[f64]| -> Vec<f64> {
        let xs: Vec<f64> = x.iter().map(|&v| v * s.sqrt()).collect();
        let n2 = dot(&xs, &xs) / 2.0;
        (0..m)
            .map(|a| dot(&xs, &w[a * x.len()..][..x.len()].iter().map(|&v| v as f64).collect::<Vec<_>>()) - n2)
            .collect()
    };
    // log Σ_a exp(pre_a(q) + pre_a(k)).
    let log_weight = |h: usize, i: usize, j: usize| -> f64 {
        let (pq, pk) = (pre(&q_row(&c, 0, h, i)), pre(&k_row(&c, 0, 0, j)));
        let t: Vec<f64> = pq.iter().zip(&pk).map(|(a, b)| a + b).collect();
        let mx = t.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        mx + t.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
    };
    for causal in offsets(dims) {
        let got = kernel_out(&c, causal, Kind::Performer { features: m, projection: &w });
        let (nq, nk, dv) = (dims.nq, dims.nk, dims.dv);
        let mut want = vec![0.0; got.len()];
        for h in 0..dims.hq {
            for i in 0..nq {
                let keys = causal.map_or(nk as i64, |off| (i as i64 + off + 1).max(0).min(nk as i64)) as usize;
                let lw: Vec<f64> = (0..keys).map(|j| log_weight(h, i, j)).collect();
                let top = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let (mut num, mut den) = (vec![0.0; dv], 0.0);
                for (j, l) in lw.iter().enumerate() {
                    let wt = (l - top).exp();
                    den += wt;
                    for (x, n) in num.iter_mut().enumerate().take(dv) {
                        *n += wt * c.v[j * dv + x] as f64;
                    }
                }
                for x in 0..dv {
                    want[(h * nq + i) * dv + x] = if den == 0.0 { 0.0 } else { num[x] / den };
                }
            }
        }
        let e = max_err(&got, &want);
        assert!(e < 1e-4, "causal {causal:?}: max err {e}");
    }
}

/// A little linear memory for ABI calls.
struct Mem {
    buf: Vec<u64>,
    top: usize,
}

impl Mem {
    fn new() -> Self {
        Mem { buf: vec![0; 1 << 16], top: 64 }
    }
    fn put(&mut self, xs: &[f32]) -> u32 {
        let at = self.top;
        for (n, x) in xs.iter().enumerate() {
            let (w, half) = ((at + 4 * n) / 8, (at + 4 * n) % 8);
            let bits = (x.to_bits() as u64) << (half * 8);
            self.buf[w] = (self.buf[w] & !(0xffff_ffffu64 << (half * 8))) | bits;
        }
        self.top = (at + xs.len() * 4 + 15) / 16 * 16;
        at as u32
    }
    fn get(&self, at: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let byte = at as usize + 4 * i;
                f32::from_bits((self.buf[byte / 8] >> ((byte % 8) * 8)) as u32)
            })
            .collect()
    }
    fn call(&mut self, d: &VarDesc) -> Status {
        let at = self.top;
        self.top += 4 * VAR_WORDS;
        // SAFETY: `at` is 8-aligned... (16-aligned by construction) and the descriptor fits in the buffer.
        unsafe {
            core::ptr::write((self.buf.as_mut_ptr() as *mut u8).add(at) as *mut VarDesc, *d);
            variant_in(self.buf.as_mut_ptr() as usize, Memory { lo: 64, len: (self.buf.len() * 8) as u64 }, at as u32)
        }
    }
}

fn operand(ptr: u32, heads: usize, rows: usize, cols: usize) -> Operand {
    let s = Strides::compact(heads, rows, cols);
    Operand { ptr, strides: RawStrides { batch: s.batch as u32, head: s.head as u32, row: s.row as u32 } }
}

#[test]
fn abi_runs_a_valid_descriptor_and_names_each_bad_field() {
    let mut rng = Rng::new(15);
    let dims = Dims { b: 1, hq: 2, hkv: 1, nq: 9, nk: 12, dk: 4, dv: 3 };
    let c = case(&mut rng, dims);
    let w: Vec<f32> = (0..8 * 4).map(|_| gaussian(&mut rng)).collect();
    let mut m = Mem::new();
    let (q, k, v, o, pw) = (m.put(&c.q), m.put(&c.k), m.put(&c.v), m.put(&[0.0; 2 * 9 * 3]), m.put(&w));
    let good = VarDesc {
        magic: VAR_MAGIC,
        kind: KIND_PERFORMER,
        flags: FLAG_CAUSAL | FLAG_BOTTOM_RIGHT,
        b: 1,
        hq: 2,
        hkv: 1,
        nq: 9,
        nk: 12,
        dk: 4,
        dv: 3,
        q: operand(q, 2, 9, 4),
        k: operand(k, 1, 12, 4),
        v: operand(v, 1, 12, 3),
        o: operand(o, 2, 9, 3),
        scale: 0.5,
        features: 8,
        proj_a: pw,
        proj_b: 0,
        rounds: 0,
        chunk: 0,
    };
    assert_eq!(m.call(&good), Status::Ok);
    let want = kernel_out(&Case { scale: 0.5, ..c }, Some(3), Kind::Performer { features: 8, projection: &w });
    assert_eq!(m.get(o, want.len()), want);

    let bad = |f: &dyn Fn(&mut VarDesc), s: Status, m: &mut Mem| {
        let mut d = good;
        f(&mut d);
        assert_eq!(m.call(&d), s, "{d:?}");
    };
    bad(&|d| d.magic = 0, Status::BadMagic, &mut m);
    bad(&|d| d.kind = 9, Status::BadVariant, &mut m);
    bad(&|d| d.kind = KIND_LINFORMER, Status::BadVariant, &mut m); // causal linformer
    bad(&|d| d.flags = FLAG_BOTTOM_RIGHT, Status::BadFlags, &mut m);
    bad(&|d| d.flags = 8, Status::BadFlags, &mut m);
    bad(&|d| d.chunk = 1, Status::BadFlags, &mut m);
    bad(&|d| d.rounds = 1, Status::BadFlags, &mut m);
    bad(&|d| d.nq = 0, Status::BadDims, &mut m);
    bad(&|d| d.hkv = 3, Status::BadHeads, &mut m);
    bad(&|d| d.scale = -1.0, Status::BadScale, &mut m);
    bad(&|d| d.scale = f32::NAN, Status::BadScale, &mut m);
    bad(&|d| d.features = 0, Status::BadFeatures, &mut m);
    bad(&|d| d.features = 1 << 20, Status::BadFeatures, &mut m);
    bad(&|d| d.proj_a = 2, Status::BadProjection, &mut m);
    bad(&|d| d.proj_b = pw, Status::BadProjection, &mut m);
    bad(
        &|d| {
            d.kind = KIND_LINEAR;
            d.features = 0;
        },
        Status::BadProjection,
        &mut m,
    );
    bad(
        &|d| {
            d.kind = KIND_LINEAR;
            d.proj_a = 0;
        },
        Status::BadFeatures,
        &mut m,
    );
    bad(&|d| d.q.ptr = 1 << 30, Status::BadQ, &mut m);
    bad(&|d| d.k.strides.row = 0, Status::BadK, &mut m);
    bad(&|d| d.v.ptr = v + 2, Status::BadV, &mut m);
    bad(&|d| d.o.ptr = q, Status::BadOut, &mut m);
    bad(&|d| d.o.strides.head = 1, Status::BadOut, &mut m);
    bad(&|d| d.o.ptr = pw, Status::BadOut, &mut m);
    assert_eq!(m.call(&VarDesc { magic: VAR_MAGIC, ..VarDesc::default() }), Status::BadVariant);
    let mut m2 = Mem::new();
    // SAFETY: a descriptor pointer outside memory is rejected before any read.
    let s = unsafe { variant_in(m2.buf.as_mut_ptr() as usize, Memory { lo: 64, len: 1024 }, 1020) };
    assert_eq!(s, Status::BadMagic);
}

/// Lowered bounds force the power-of-two scaling of linear attention's key features, query features and values (and
/// Performer's values) onto inputs in [−1, 1]: where nothing underflows the scaled sums are exact multiples of the
/// unscaled ones, so the outputs must be bitwise those of the default bounds — under which nothing is scaled at all.
#[test]
fn range_scaling_is_exact_and_off_for_ordinary_inputs() {
    use super::features::{Elu1, Favor};
    use super::kernel::{run_with, Inputs, Limits};
    let mut rng = Rng::new(14);
    let forced = [Limits { k: -1, v: -3, q: 0 }, Limits { k: 32, v: -2, q: 32 }, Limits { k: 1, v: 32, q: -2 }];
    for dims in SHAPES {
        let c = case(&mut rng, dims);
        let w: Vec<f32> = (0..16 * dims.dk).map(|_| gaussian(&mut rng)).collect();
        let Dims { b, hq, hkv, nq, nk, dk, dv } = dims;
        for causal in offsets(dims) {
            let p = Inputs {
                dims,
                q: View { data: &c.q, strides: Strides::compact(hq, nq, dk) },
                k: View { data: &c.k, strides: Strides::compact(hkv, nk, dk) },
                v: View { data: &c.v, strides: Strides::compact(hkv, nk, dv) },
                causal,
            };
            let go = |performer: bool, limits: Limits| {
                let mut o = vec![f32::NAN; b * hq * nq * dv];
                let mut out = Out { o: &mut o, strides: Strides::compact(hq, nq, dv) };
                let scaled = if performer {
                    run_with(&p, &Favor::new(&w, 16, dk, c.scale).unwrap(), &mut out, limits)
                } else {
                    run_with(&p, &Elu1 { dk }, &mut out, limits)
                };
                (scaled.unwrap(), o.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
            };
            for performer in [false, true] {
                let (scaled, plain) = go(performer, Limits::DEFAULT);
                assert!(!scaled, "{dims:?}: a factor other than 1 on inputs in [-1, 1]");
                for limits in forced {
                    if performer && limits.v > 0 {
                        continue;
                    }
                    let (scaled, bits) = go(performer, limits);
                    assert!(scaled);
                    assert!(bits == plain, "{dims:?} causal {causal:?} performer {performer}: scaled bits differ");
                }
            }
        }
    }
}

/// Inputs far beyond f32's product range (|q|·|k|·|v| ~ 1e90) against the float64 definition, relative to max |v|.
#[test]
fn linear_attention_with_huge_inputs_matches_its_definition() {
    let mut rng = Rng::new(15);
    for dims in SHAPES {
        for m in [1e16f32, 1e30, 3e38] {
            let mut c = case(&mut rng, dims);
            c.q.iter_mut().chain(c.k.iter_mut()).for_each(|x| *x *= m.min(1e30));
            c.v.iter_mut().for_each(|x| *x *= m);
            for causal in offsets(dims) {
                let got = kernel_out(&c, causal, Kind::Linear);
                let want = naive_ratio(&c, causal, |b, h, g, i, j| {
                    dot(&elu1(&q_row(&c, b, h, i)), &elu1(&k_row(&c, b, g, j)))
                });
                let e = max_err(&got, &want) / m as f64;
                assert!(e < TOL, "{dims:?} |x| {m} causal {causal:?}: max err {e} relative to |v|");
            }
        }
    }
}
