//! The GEMM against a float64 triple loop on seeded shapes (edges of every block size, both B layouts, bias,
//! leading dimensions wider than the rows), and the ABI's validation over a simulated linear memory.

use super::blocks::{KC, MC, MR, NC, NR};
use super::desc::{GemmStatus, RawGemm, GEMM_MAGIC, GEMM_WORDS};
use super::{gemm, Gemm};
use crate::abi::gemm::{gemm_in, wa_gemm_magic, wa_gemm_words};
use crate::check::Memory;

/// xorshift64*: reproducible inputs in [−1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        x as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

struct Case {
    m: usize,
    n: usize,
    k: usize,
    trans_b: bool,
    bias: bool,
    pad: usize,
}

/// Runs one case with row padding `pad` on every operand; returns the max abs error against f64 relative to √k.
fn run(rng: &mut Rng, c: &Case) -> f64 {
    let (lda, ldc) = (c.k + c.pad, c.n + c.pad);
    let ldb = if c.trans_b { c.k } else { c.n } + c.pad;
    let a = rng.vec(c.m * lda);
    let b = rng.vec(if c.trans_b { c.n } else { c.k } * ldb);
    let bias = rng.vec(c.n);
    let g = Gemm {
        m: c.m,
        n: c.n,
        k: c.k,
        a: &a,
        lda,
        b: &b,
        ldb,
        trans_b: c.trans_b,
        bias: if c.bias { Some(&bias) } else { None },
    };
    let sentinel = 12345.0;
    let mut out = vec![sentinel; (c.m - 1) * ldc + c.n];
    gemm(&g, &mut out, ldc).unwrap();
    let mut worst = 0f64;
    for i in 0..c.m {
        for j in 0..c.n {
            let mut s = if c.bias { bias[j] as f64 } else { 0.0 };
            for p in 0..c.k {
                s += a[i * lda + p] as f64 * g.b_at(p, j) as f64;
            }
            worst = worst.max((out[i * ldc + j] as f64 - s).abs());
        }
        if i + 1 < c.m {
            assert!(out[i * ldc + c.n..(i + 1) * ldc].iter().all(|&x| x == sentinel), "padding written");
        }
    }
    worst / (c.k as f64).sqrt()
}

#[test]
fn matches_f64_on_block_edges() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let ms = [1, 2, 3, MR, MR + 1, MC - 1, MC + 3];
    let ns = [1, 3, NR, NR + 1, 2 * NR + 5, NC + NR + 3];
    let ks = [1, 5, KC, KC + 7];
    let mut count = 0;
    for (t, &m) in ms.iter().enumerate() {
        for (u, &n) in ns.iter().enumerate() {
            for (v, &k) in ks.iter().enumerate() {
                let sel = t + u + v;
                if n > NC && (m > MR + 1 || k > KC) {
                    continue; // keep the big column block to a few cases
                }
                let c = Case { m, n, k, trans_b: sel % 2 == 1, bias: sel % 3 != 0, pad: sel % 4 };
                let err = run(&mut rng, &c);
                assert!(
                    err < 1e-6,
                    "m {} n {} k {} trans {} bias {} pad {}: err {}",
                    m,
                    n,
                    k,
                    c.trans_b,
                    c.bias,
                    c.pad,
                    err
                );
                count += 1;
            }
        }
    }
    assert!(count > 100);
}

#[test]
fn every_layout_on_a_projection_shape() {
    let mut rng = Rng(7);
    for &(trans_b, bias, pad) in &[(false, false, 0), (true, true, 0), (true, false, 3), (false, true, 1)] {
        for &m in &[1, 2, 77] {
            let err = run(&mut rng, &Case { m, n: 96, k: 300, trans_b, bias, pad });
            assert!(err < 1e-6, "m {} trans {}: {}", m, trans_b, err);
        }
    }
}

/// A simulated linear memory: offsets below LO are "module data".
const LO: usize = 64;

struct Mem {
    buf: Vec<u32>,
    top: usize,
}

impl Mem {
    fn new(words: usize) -> Self {
        Mem { buf: vec![0; words], top: LO }
    }
    fn put(&mut self, xs: &[f32]) -> u32 {
        let at = self.top;
        for (i, x) in xs.iter().enumerate() {
            self.buf[at / 4 + i] = x.to_bits();
        }
        self.top += (xs.len() * 4 + 15) / 16 * 16;
        at as u32
    }
    fn get(&self, at: u32, n: usize) -> Vec<f32> {
        self.buf[at as usize / 4..at as usize / 4 + n].iter().map(|&w| f32::from_bits(w)).collect()
    }
    fn desc(&mut self, d: &RawGemm) -> u32 {
        let words: [u32; GEMM_WORDS] = unsafe { core::mem::transmute(*d) };
        let at = self.top;
        self.buf[at / 4..at / 4 + GEMM_WORDS].copy_from_slice(&words);
        self.top += GEMM_WORDS * 4;
        at as u32
    }
    fn call(&mut self, d: &RawGemm) -> GemmStatus {
        let p = self.desc(d);
        let mem = Memory { lo: LO as u64, len: (self.buf.len() * 4) as u64 };
        // SAFETY: the buffer outlives the call and nothing else references it.
        unsafe { gemm_in(self.buf.as_mut_ptr() as usize, mem, p) }
    }
}

#[test]
fn abi_computes_and_rejects_each_bad_field() {
    assert_eq!((wa_gemm_magic(), wa_gemm_words()), (GEMM_MAGIC, GEMM_WORDS as u32));
    let mut mem = Mem::new(4096);
    let a = mem.put(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]); // [2, 3]
    let b = mem.put(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]); // [3, 2]
    let bias = mem.put(&[10.0, 20.0]);
    let c = mem.put(&[0.0; 4]);
    let good = RawGemm {
        magic: GEMM_MAGIC,
        m: 2,
        n: 2,
        k: 3,
        a_ptr: a,
        lda: 3,
        b_ptr: b,
        ldb: 2,
        trans_b: 0,
        bias_ptr: bias,
        c_ptr: c,
        ldc: 2,
        reserved: [0; 4],
    };
    assert_eq!(mem.call(&good), GemmStatus::Ok);
    assert_eq!(mem.get(c, 4), vec![14.0, 25.0, 20.0, 31.0]);
    // B read as [n, k] = [2, 3]: rows (1, 0, 0) and (1, 1, 1).
    assert_eq!(mem.call(&RawGemm { trans_b: 1, ldb: 3, bias_ptr: 0, ..good }), GemmStatus::Ok);
    assert_eq!(mem.get(c, 4), vec![1.0, 6.0, 4.0, 15.0]);

    let len = (mem.buf.len() * 4) as u32;
    let bad: &[(RawGemm, GemmStatus)] = &[
        (RawGemm { magic: 0, ..good }, GemmStatus::BadMagic),
        (RawGemm { reserved: [0, 1, 0, 0], ..good }, GemmStatus::BadFlags),
        (RawGemm { trans_b: 2, ..good }, GemmStatus::BadFlags),
        (RawGemm { k: 0, ..good }, GemmStatus::BadDims),
        (RawGemm { lda: 2, ..good }, GemmStatus::BadA),
        (RawGemm { a_ptr: 0, ..good }, GemmStatus::BadA),
        (RawGemm { a_ptr: a + 1, ..good }, GemmStatus::BadA),
        (RawGemm { a_ptr: 16, ..good }, GemmStatus::BadA),
        (RawGemm { a_ptr: len - 8, ..good }, GemmStatus::BadA),
        (RawGemm { ldb: 1, ..good }, GemmStatus::BadB),
        (RawGemm { b_ptr: len - 4, ..good }, GemmStatus::BadB),
        (RawGemm { bias_ptr: len - 4, ..good }, GemmStatus::BadBias),
        (RawGemm { ldc: 1, ..good }, GemmStatus::BadC),
        (RawGemm { c_ptr: a, ..good }, GemmStatus::BadC),
        (RawGemm { c_ptr: b + 4, ..good }, GemmStatus::BadC),
        (RawGemm { m: u32::MAX, lda: u32::MAX, ..good }, GemmStatus::BadA),
    ];
    for (d, want) in bad {
        assert_eq!(mem.call(d), *want, "{:?}", d);
    }
    let p = mem.desc(&good);
    let small = Memory { lo: LO as u64, len: p as u64 + 8 };
    // SAFETY: as in `call`; the descriptor does not fit the declared memory, so nothing is read.
    assert_eq!(unsafe { gemm_in(mem.buf.as_mut_ptr() as usize, small, p) }, GemmStatus::BadMagic);
}
