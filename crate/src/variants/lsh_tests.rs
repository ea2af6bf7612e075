//! The LSH kernel against a plain float64 loop of its definition (lsh.rs): hashes in f32 summed in order (as the
//! definition fixes), a stable sort by (bucket, position), chunk c seeing chunks c − 1 and c, self only when alone,
//! rounds combined by their log-sum-exp.

use super::{run, Kind, Out, VarProblem};
use crate::problem::{Dims, Strides, View};

/// xorshift64*: reproducible inputs without dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

struct Params {
    h: usize,
    n: usize,
    dk: usize,
    dv: usize,
    buckets: usize,
    rounds: usize,
    chunk: usize,
    causal: bool,
}

fn bucket(x: &[f32], rot: &[f32], half: usize) -> usize {
    let u: Vec<f32> =
        (0..half).map(|a| x.iter().enumerate().fold(0.0f32, |s, (c, &t)| s + t * rot[c * half + a])).collect();
    let vals: Vec<f32> = u.iter().copied().chain(u.iter().map(|&t| -t)).collect();
    let mut best = 0;
    for a in 1..vals.len() {
        if vals[a] > vals[best] {
            best = a;
        }
    }
    best
}

fn naive(p: &Params, q: &[f32], v: &[f32], rot: &[f32], scale: f64) -> Vec<f64> {
    let (n, dk, dv, half) = (p.n, p.dk, p.dv, p.buckets / 2);
    let mut out = vec![0.0; p.h * n * dv];
    for h in 0..p.h {
        let qr = |i: usize| &q[(h * n + i) * dk..(h * n + i + 1) * dk];
        let keys: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let norm = qr(i).iter().map(|&t| t as f64 * t as f64).sum::<f64>().sqrt();
                qr(i).iter().map(|&t| if norm > 0.0 { t as f64 / norm } else { 0.0 }).collect()
            })
            .collect();
        let mut per_round: Vec<Vec<(f64, Vec<f64>)>> = vec![Vec::new(); n];
        for r in 0..p.rounds {
            let rr = &rot[r * dk * half..(r + 1) * dk * half];
            let mut order: Vec<usize> = (0..n).collect();
            let b: Vec<usize> = (0..n).map(|i| bucket(qr(i), rr, half)).collect();
            order.sort_by_key(|&i| (b[i], i));
            for s in 0..n {
                let i = order[s];
                let c = s / p.chunk;
                let from = c.saturating_sub(1) * p.chunk;
                let to = ((c + 1) * p.chunk).min(n);
                let mut cand: Vec<usize> = order[from..to].iter().copied().filter(|&j| !(p.causal && j > i)).collect();
                if cand.len() > 1 {
                    cand.retain(|&j| j != i);
                }
                let qi: Vec<f64> = qr(i).iter().map(|&t| t as f64).collect();
                let sc: Vec<f64> =
                    cand.iter().map(|&j| scale * qi.iter().zip(&keys[j]).map(|(a, b)| a * b).sum::<f64>()).collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let l: f64 = sc.iter().map(|x| (x - m).exp()).sum();
                let mut o = vec![0.0; dv];
                for (t, &j) in cand.iter().enumerate() {
                    let pw = (sc[t] - m).exp() / l;
                    for x in 0..dv {
                        o[x] += pw * v[(h * n + j) * dv + x] as f64;
                    }
                }
                per_round[i].push((m + l.ln(), o));
            }
        }
        for i in 0..n {
            let big = per_round[i].iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = per_round[i].iter().map(|x| (x.0 - big).exp()).sum();
            for (lse, o) in &per_round[i] {
                let w = (lse - big).exp() / total;
                for x in 0..dv {
                    out[(h * n + i) * dv + x] += w * o[x];
                }
            }
        }
    }
    out
}

fn check(p: Params, seed: u64) {
    let mut rng = Rng(seed);
    let (h, n, dk, dv) = (p.h, p.n, p.dk, p.dv);
    let q = rng.vec(h * n * dk);
    let v = rng.vec(h * n * dv);
    let rot = rng.vec(p.rounds * dk * p.buckets / 2);
    let scale = 1.0 / (dk as f32).sqrt();
    let dims = Dims { b: 1, hq: h, hkv: h, nq: n, nk: n, dk, dv };
    let prob = VarProblem {
        dims,
        q: View { data: &q, strides: Strides::compact(h, n, dk) },
        k: View { data: &q, strides: Strides::compact(h, n, dk) },
        v: View { data: &v, strides: Strides::compact(h, n, dv) },
        scale,
        causal: if p.causal { Some(0) } else { None },
        kind: Kind::Lsh { buckets: p.buckets, rounds: p.rounds, chunk: p.chunk, rotations: &rot },
    };
    let mut o = vec![f32::NAN; h * n * dv];
    run(&prob, &mut Out { o: &mut o, strides: Strides::compact(h, n, dv) }).unwrap();
    let want = naive(&p, &q, &v, &rot, scale as f64);
    let err = o.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max);
    assert!(
        err < 2e-5,
        "n={} buckets={} rounds={} chunk={} causal={}: max err {err:e}",
        n,
        p.buckets,
        p.rounds,
        p.chunk,
        p.causal
    );
}

#[test]
fn lsh_matches_its_definition() {
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    for &(n, chunk) in &[(1, 4), (2, 1), (37, 8), (100, 16), (130, 64), (50, 64)] {
        for rounds in 1..=4 {
            for &causal in &[false, true] {
                for &(buckets, dk, dv) in &[(2, 3, 5), (8, 16, 8), (6, 9, 4)] {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
                    check(Params { h: 2, n, dk, dv, buckets, rounds, chunk, causal }, seed);
                }
            }
        }
    }
}

/// The descriptor checks of the LSH kind (pure arithmetic: pointers need not point at real memory).
#[test]
fn lsh_descriptor_checks() {
    use super::check::{check_variant, CheckedKind};
    use super::desc::*;
    use crate::check::Memory;
    use crate::desc::{Operand, Strides as RawStrides};
    use crate::status::Status;
    let mem = Memory { lo: 64, len: 1 << 20 };
    let op = |ptr: u32, h: u32, n: u32, d: u32| Operand {
        ptr,
        strides: RawStrides { batch: h * n * d, head: n * d, row: d },
    };
    // b = 1, h = 2, n = 10, dk = 4, dv = 3; 8 buckets, 3 rounds: rotations 3·4·4 floats.
    let good = VarDesc {
        magic: VAR_MAGIC,
        kind: KIND_LSH,
        flags: FLAG_CAUSAL,
        b: 1,
        hq: 2,
        hkv: 2,
        nq: 10,
        nk: 10,
        dk: 4,
        dv: 3,
        q: op(1024, 2, 10, 4),
        k: op(1024, 2, 10, 4),
        v: op(2048, 2, 10, 3),
        o: op(4096, 2, 10, 3),
        scale: 0.5,
        features: 8,
        proj_a: 8192,
        proj_b: 0,
        rounds: 3,
        chunk: 5,
    };
    match check_variant(&good, mem) {
        Ok(c) => match c.kind {
            CheckedKind::Lsh { buckets, rounds, chunk, rotations } => {
                assert_eq!((buckets, rounds, chunk, rotations.ptr, rotations.bytes), (8, 3, 5, 8192, 3 * 4 * 4 * 4));
                assert_eq!(c.causal, Some(0));
            }
            _ => panic!("not lsh"),
        },
        Err(s) => panic!("{s:?}"),
    }
    let bad = |f: &dyn Fn(&mut VarDesc), want: Status| {
        let mut d = good;
        f(&mut d);
        assert_eq!(check_variant(&d, mem).err(), Some(want), "{d:?}");
    };
    bad(&|d| d.features = 7, Status::BadFeatures);
    bad(&|d| d.features = 0, Status::BadFeatures);
    bad(&|d| d.rounds = 0, Status::BadFeatures);
    bad(&|d| d.rounds = 65, Status::BadFeatures);
    bad(&|d| d.chunk = 0, Status::BadFeatures);
    bad(&|d| d.hkv = 1, Status::BadHeads);
    bad(&|d| d.nk = 9, Status::BadDims);
    bad(&|d| d.proj_b = 8192, Status::BadProjection);
    bad(&|d| d.proj_a = 0, Status::BadProjection);
    bad(&|d| d.proj_a = (1 << 20) - 16, Status::BadProjection);
    bad(&|d| d.o.ptr = 8192, Status::BadOut); // output over the rotations
    bad(&|d| d.kind = KIND_LINEAR, Status::BadFlags); // rounds / chunk set for another kind
}
