//! The exact kernel against the float64 oracle over random and targeted cases.

use super::naive::naive;
use super::rng::Rng;
use crate::exact::forward;
use crate::problem::{Dims, Outputs, Problem, Strides, Structure, View};

/// Max abs error allowed for inputs in [-1, 1].
const TOL: f64 = 1e-5;

/// One test problem, owning its arrays.
#[derive(Clone, Debug)]
pub struct Case {
    pub dims: Dims,
    pub bnhd: bool,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub mask: Option<(Vec<u8>, Strides)>,
    pub bias: Option<(Vec<f32>, Strides)>,
    pub scale: f32,
    pub softcap: f32,
    pub cosine: bool,
    pub structure: Structure,
    pub weights: bool,
}

fn layout(bnhd: bool, heads: usize, rows: usize, cols: usize) -> Strides {
    if bnhd {
        Strides { batch: rows * heads * cols, head: cols, row: heads * cols }
    } else {
        Strides::compact(heads, rows, cols)
    }
}

impl Case {
    pub fn new(rng: &mut Rng, dims: Dims) -> Case {
        let Dims { b, hq, hkv, nq, nk, dk, dv } = dims;
        Case {
            dims,
            bnhd: false,
            q: rng.vec(b * hq * nq * dk),
            k: rng.vec(b * hkv * nk * dk),
            v: rng.vec(b * hkv * nk * dv),
            mask: None,
            bias: None,
            scale: 1.0 / (dk as f32).sqrt(),
            softcap: 0.0,
            cosine: false,
            structure: Structure { nq_full: nq as u64, nk_full: nk as u64, ..Structure::default() },
            weights: true,
        }
    }

    fn strides(&self) -> [Strides; 4] {
        let d = self.dims;
        [
            layout(self.bnhd, d.hq, d.nq, d.dk),
            layout(self.bnhd, d.hkv, d.nk, d.dk),
            layout(self.bnhd, d.hkv, d.nk, d.dv),
            layout(self.bnhd, d.hq, d.nq, d.dv),
        ]
    }

    pub fn problem(&self) -> Problem<'_> {
        let [qs, ks, vs, _] = self.strides();
        Problem {
            dims: self.dims,
            q: View { data: &self.q, strides: qs },
            k: View { data: &self.k, strides: ks },
            v: View { data: &self.v, strides: vs },
            mask: self.mask.as_ref().map(|(m, s)| View { data: m, strides: *s }),
            bias: self.bias.as_ref().map(|(m, s)| View { data: m, strides: *s }),
            scale: self.scale,
            softcap: self.softcap,
            cosine: self.cosine,
            structure: self.structure.clone(),
            alibi: None,
            rel_bias: None,
            lse_alibi_shifted: false,
        }
    }

    /// Runs the kernel: (output [b, hq, nq, dv] compact, lse, weights).
    pub fn run(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let d = self.dims;
        let os = self.strides()[3];
        let mut o = vec![f32::NAN; d.b * d.hq * d.nq * d.dv];
        let mut lse = vec![f32::NAN; d.b * d.hq * d.nq];
        let mut w = vec![f32::NAN; if self.weights { d.b * d.hq * d.nq * d.nk } else { 0 }];
        let mut out = Outputs {
            o: &mut o,
            o_strides: os,
            lse: Some(&mut lse),
            weights: if self.weights { Some(&mut w) } else { None },
        };
        forward(&self.problem(), &mut out).unwrap();
        let mut compact = vec![0.0; o.len()];
        for b in 0..d.b {
            for h in 0..d.hq {
                for i in 0..d.nq {
                    let at = os.at(b, h, i);
                    let row = ((b * d.hq + h) * d.nq + i) * d.dv;
                    compact[row..row + d.dv].copy_from_slice(&o[at..at + d.dv]);
                }
            }
        }
        (compact, lse, w)
    }

    /// Runs the kernel and the oracle and asserts they agree; returns the max output error.
    pub fn check(&self, what: &str) -> f64 {
        let (o, lse, w) = self.run();
        let want = naive(&self.problem());
        let mut worst: f64 = 0.0;
        for (n, (&g, &e)) in o.iter().zip(&want.o).enumerate() {
            let err = (g as f64 - e).abs();
            assert!(err <= TOL, "{what}: output[{n}] = {g}, want {e}\n{:?}", self.summary());
            worst = worst.max(err);
        }
        for (n, (&g, &e)) in lse.iter().zip(&want.lse).enumerate() {
            if e == f64::NEG_INFINITY {
                assert_eq!(g, f32::NEG_INFINITY, "{what}: lse[{n}]\n{:?}", self.summary());
            } else {
                assert!((g as f64 - e).abs() <= TOL * e.abs().max(1.0), "{what}: lse[{n}] = {g}, want {e}");
            }
        }
        if self.weights {
            for (n, (&g, &e)) in w.iter().zip(&want.w).enumerate() {
                assert!((g as f64 - e).abs() <= TOL, "{what}: weights[{n}] = {g}, want {e}");
            }
        }
        worst
    }

    fn summary(&self) -> String {
        format!(
            "dims {:?} bnhd {} mask {} bias {} scale {} softcap {} cosine {} structure {:?}",
            self.dims,
            self.bnhd,
            self.mask.is_some(),
            self.bias.is_some(),
            self.scale,
            self.softcap,
            self.cosine,
            self.structure
        )
    }

    /// A random mask over [b, hq, nq, nk] (sometimes broadcast over heads or batches) with about `p` allowed.
    pub fn with_mask(mut self, rng: &mut Rng, p: f64) -> Self {
        let (s, n) = self.attn_operand(rng);
        self.mask = Some(((0..n).map(|_| rng.chance(p) as u8).collect(), s));
        self
    }

    pub fn with_bias(mut self, rng: &mut Rng) -> Self {
        let (s, n) = self.attn_operand(rng);
        self.bias = Some((rng.vec(n).iter().map(|x| x * 2.0).collect(), s));
        self
    }

    fn attn_operand(&self, rng: &mut Rng) -> (Strides, usize) {
        let d = self.dims;
        let mut s = Strides::compact(d.hq, d.nq, d.nk);
        match rng.range(0, 3) {
            0 => s.head = 0,
            1 => s.batch = 0,
            _ => {}
        }
        (s, d.b * d.hq * d.nq * d.nk)
    }
}

pub fn dims(b: usize, hq: usize, hkv: usize, nq: usize, nk: usize, dk: usize, dv: usize) -> Dims {
    Dims { b, hq, hkv, nq, nk, dk, dv }
}

fn random_window(rng: &mut Rng, s: &mut Structure) {
    let side = |rng: &mut Rng| match rng.range(0, 3) {
        0 => None,
        1 => Some(0),
        _ => Some(rng.range(0, 40) as u64),
    };
    s.win_left = side(rng);
    s.win_right = side(rng);
    s.bottom_right = rng.chance(0.5);
}

#[test]
fn random_shapes_and_options() {
    let mut rng = Rng::new(7);
    let mut worst: f64 = 0.0;
    for n in 0..250 {
        let hkv = rng.range(1, 2);
        let hq = hkv * rng.range(1, 3);
        let d = dims(rng.range(1, 2), hq, hkv, rng.range(1, 90), rng.range(1, 150), rng.range(1, 40), rng.range(1, 40));
        let mut c = Case::new(&mut rng, d);
        c.bnhd = rng.chance(0.3);
        c.weights = rng.chance(0.5);
        if rng.chance(0.5) {
            random_window(&mut rng, &mut c.structure);
        }
        if rng.chance(0.3) {
            c.structure.q_lens = Some((0..d.b).map(|_| rng.range(0, d.nq) as u32).collect());
        }
        if rng.chance(0.3) {
            c.structure.k_lens = Some((0..d.b).map(|_| rng.range(0, d.nk) as u32).collect());
        }
        if rng.chance(0.2) {
            c = c.with_mask(&mut rng, 0.7);
        }
        if rng.chance(0.2) {
            c = c.with_bias(&mut rng);
        }
        if rng.chance(0.2) {
            c.softcap = [0.5, 5.0, 30.0][rng.range(0, 2)];
        }
        c.cosine = rng.chance(0.15);
        if rng.chance(0.2) {
            c.scale = rng.unit() * 3.0;
        }
        worst = worst.max(c.check(&format!("random case {n}")));
    }
    assert!(worst > 0.0, "the comparison must see rounding differences");
}

#[test]
fn single_query_and_single_key() {
    let mut rng = Rng::new(1);
    Case::new(&mut rng, dims(1, 1, 1, 1, 1, 3, 5)).check("1x1");
    Case::new(&mut rng, dims(2, 4, 2, 1, 200, 64, 64)).check("decode");
    Case::new(&mut rng, dims(1, 2, 1, 70, 1, 7, 9)).check("one key");
}

#[test]
fn blocks_heads_and_widths() {
    let mut rng = Rng::new(2);
    // Several query and key blocks, GQA stacking with a group that does not divide BR, D not a multiple of 4.
    Case::new(&mut rng, dims(1, 6, 2, 150, 333, 37, 13)).check("gqa 3");
    Case::new(&mut rng, dims(1, 8, 1, 70, 140, 64, 64)).check("mqa 8");
    Case::new(&mut rng, dims(1, 2, 2, 130, 130, 256, 256)).check("d 256");
    let mut c = Case::new(&mut rng, dims(2, 3, 3, 65, 129, 16, 8));
    c.bnhd = true;
    c.check("bnhd");
}

#[test]
fn causal_in_both_alignments() {
    let mut rng = Rng::new(3);
    for (nq, nk) in [(100, 100), (40, 170), (170, 40), (1, 77)] {
        for bottom_right in [false, true] {
            let mut c = Case::new(&mut rng, dims(1, 2, 1, nq, nk, 16, 16));
            c.structure.win_right = Some(0);
            c.structure.bottom_right = bottom_right;
            c.check(&format!("causal {nq}x{nk} bottom_right={bottom_right}"));
        }
    }
}

#[test]
fn windows_lengths_and_fully_masked_rows() {
    let mut rng = Rng::new(4);
    let mut c = Case::new(&mut rng, dims(1, 2, 1, 150, 150, 8, 8));
    c.structure.win_left = Some(5);
    c.structure.win_right = Some(3);
    c.check("window");

    let mut c = Case::new(&mut rng, dims(3, 2, 2, 50, 90, 8, 12));
    c.structure.q_lens = Some(vec![50, 0, 17]);
    c.structure.k_lens = Some(vec![0, 90, 33]);
    c.structure.win_right = Some(0);
    c.structure.bottom_right = true;
    let (o, lse, _) = c.run();
    assert!(o[..2 * 50 * 12].iter().all(|&x| x == 0.0), "batch 0 has no keys");
    assert!(lse[..2 * 50].iter().all(|&x| x == f32::NEG_INFINITY));
    c.check("lengths");

    // A mask that removes every key of some rows.
    let mut c = Case::new(&mut rng, dims(1, 1, 1, 20, 70, 8, 8)).with_mask(&mut rng, 0.5);
    let (m, _) = c.mask.as_mut().unwrap();
    m[3 * 70..4 * 70].fill(0);
    let (o, lse, _) = c.run();
    assert!(o[3 * 8..4 * 8].iter().all(|&x| x == 0.0) && lse[3] == f32::NEG_INFINITY);
    c.check("mask");
}

#[test]
fn bias_softcap_cosine() {
    let mut rng = Rng::new(5);
    let mut c = Case::new(&mut rng, dims(1, 2, 1, 80, 90, 24, 24)).with_bias(&mut rng);
    // A bias of −∞ acts as a mask; a whole row of it gives a row with no weight.
    let (bias, s) = c.bias.as_mut().unwrap();
    *s = Strides::compact(2, 80, 90);
    bias[5 * 90..6 * 90].fill(f32::NEG_INFINITY);
    bias[7 * 90 + 3] = f32::NEG_INFINITY;
    let (o, lse, _) = c.run();
    assert!(o[5 * 24..6 * 24].iter().all(|&x| x == 0.0) && lse[5] == f32::NEG_INFINITY);
    c.check("bias");

    let mut c = Case::new(&mut rng, dims(1, 2, 1, 60, 60, 20, 20));
    c.softcap = 0.3;
    c.scale = 4.0;
    c.check("softcap");

    let mut c = Case::new(&mut rng, dims(1, 2, 1, 60, 61, 20, 20));
    c.cosine = true;
    c.scale = 10.0;
    c.k[..20].fill(0.0); // a zero key: sim 0 (its norm is clamped to 1e-12)
    c.check("cosine");
}

#[test]
fn splits_merge_to_the_whole() {
    let mut rng = Rng::new(6);
    let d = dims(1, 2, 1, 90, 130, 16, 16);
    let mut whole = Case::new(&mut rng, d);
    whole.structure.win_right = Some(0);
    whole.structure.bottom_right = true;
    whole.structure.k_lens = Some(vec![120]);
    let (o_all, lse_all, _) = whole.run();
    whole.check("whole");

    // Rows [30, 90) and keys [0, 50) + [50, 130), merged by LSE, must match the whole problem.
    let part = |q0: usize, k0: usize, nk: usize| {
        let mut c = whole.clone();
        let nq = 60;
        c.dims.nq = nq;
        c.dims.nk = nk;
        c.q = (0..2).flat_map(|h| whole.q[(h * 90 + q0) * 16..(h * 90 + q0 + nq) * 16].to_vec()).collect();
        c.k = whole.k[k0 * 16..(k0 + nk) * 16].to_vec();
        c.v = whole.v[k0 * 16..(k0 + nk) * 16].to_vec();
        c.structure.q_start = q0 as u64;
        c.structure.k_start = k0 as u64;
        c.check(&format!("part q0={q0} k0={k0}"));
        c.run()
    };
    let (o1, l1, _) = part(30, 0, 50);
    let (o2, l2, _) = part(30, 50, 80);
    for h in 0..2 {
        for i in 0..60 {
            let r = h * 60 + i;
            let (a, b) = (l1[r] as f64, l2[r] as f64);
            let m = a.max(b);
            let lse = m + ((a - m).exp() + (b - m).exp()).ln();
            let want_lse = lse_all[h * 90 + 30 + i] as f64;
            assert!((lse - want_lse).abs() < 1e-5, "lse {lse} vs {want_lse}");
            for c in 0..16 {
                let merged = (a - lse).exp() * o1[r * 16 + c] as f64 + (b - lse).exp() * o2[r * 16 + c] as f64;
                let want = o_all[(h * 90 + 30 + i) * 16 + c] as f64;
                assert!((merged - want).abs() < 1e-5, "merged {merged} vs {want}");
            }
        }
    }
}

#[test]
fn nan_reaches_only_the_rows_it_touches() {
    let mut rng = Rng::new(8);
    let mut c = Case::new(&mut rng, dims(1, 1, 1, 70, 70, 8, 8));
    c.q[10 * 8 + 2] = f32::NAN;
    c.structure.win_right = Some(0);
    // key 40 is only seen by rows ≥ 40 (causal)
    c.k[40 * 8] = f32::NAN;
    let (o, lse, _) = c.run();
    for i in 0..70 {
        let nan = o[i * 8..(i + 1) * 8].iter().any(|x| x.is_nan());
        assert_eq!(nan, i == 10 || i >= 40, "row {i}");
        assert_eq!(lse[i].is_nan(), i == 10 || i >= 40, "lse row {i}");
    }
}

#[test]
fn key_blocks_start_on_packed_panels() {
    // The keys of a kv head are packed once; a query block's first key block starts at its span rounded down to a
    // panel (NR keys), so windows whose spans start mid-panel and mid-block, GQA stacking and the weights pass all
    // read the same packed keys.
    let mut rng = Rng::new(11);
    for (wl, wr) in [(Some(70), Some(0)), (Some(3), Some(9)), (Some(131), None)] {
        let mut c = Case::new(&mut rng, dims(1, 4, 2, 300, 300, 20, 12));
        c.structure.win_left = wl;
        c.structure.win_right = wr;
        c.check(&format!("window {wl:?} {wr:?}"));
    }
    let mut c = Case::new(&mut rng, dims(2, 3, 1, 90, 270, 16, 16)).with_bias(&mut rng);
    c.structure.win_left = Some(40);
    c.structure.win_right = Some(40);
    c.structure.bottom_right = true;
    c.check("window bottom-right with bias");
}

#[test]
fn a_reused_workspace_gives_what_a_fresh_one_gives() {
    // Calls of the same dims on one thread share the workspace (exact::workspace): the second call finds the first
    // one's numbers, including non-finite values and the per-kv-head count of them, in its buffers.
    let mut rng = Rng::new(21);
    let d = dims(1, 2, 1, 70, 70, 8, 8);
    let mut finite = Case::new(&mut rng, d);
    let mut poisoned = Case::new(&mut rng, d);
    // Causal for both: partly hidden key blocks, so both calls count the non-finite values of kv head 0.
    finite.structure.win_right = Some(0);
    poisoned.structure.win_right = Some(0);
    poisoned.q[10 * 8 + 2] = f32::NAN;
    poisoned.v[40 * 8 + 3] = f32::INFINITY; // value of key 40: only rows ≥ 40 see it (causal)
    let fresh = |c: &Case| {
        let c = c.clone();
        std::thread::spawn(move || c.run()).join().unwrap()
    };
    let (want_finite, want_poisoned) = (fresh(&finite), fresh(&poisoned));
    let other = Case::new(&mut rng, dims(1, 1, 1, 5, 5, 8, 8));
    for (first, second, want) in [(&poisoned, &finite, &want_finite), (&finite, &poisoned, &want_poisoned)] {
        other.run(); // other dims: the first call below starts from a new workspace
        first.run();
        let got = second.run();
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.0), bits(&want.0), "output after a call of the same dims");
        assert_eq!(bits(&got.1), bits(&want.1), "lse after a call of the same dims");
        assert_eq!(bits(&got.2), bits(&want.2), "weights after a call of the same dims");
    }
    let (o, _, _) = poisoned.run();
    for i in 0..70 {
        let bad = o[i * 8..(i + 1) * 8].iter().any(|x| !x.is_finite());
        assert_eq!(bad, i == 10 || i >= 40, "row {i}");
    }
    finite.check("after the poisoned call");
}
