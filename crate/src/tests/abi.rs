//! The ABI over a simulated linear memory: a valid descriptor computes what the kernel computes, and each bad field
//! gives its own status code (never a panic).

use super::exact::{dims, Case};
use super::rng::Rng;
use crate::abi::{attention_in, wa_alloc, wa_desc_magic, wa_desc_words, wa_free, VERSION};
use crate::check::Memory;
use crate::desc::{Operand, RawDesc, Strides, DESC_MAGIC, DESC_WORDS};
use crate::status::Status;

/// Bytes below this offset are "module data": operands may not live there.
const LO: usize = 64;

struct Mem {
    buf: Vec<u64>,
    top: usize,
}

impl Mem {
    fn new(bytes: usize) -> Self {
        Mem { buf: vec![0; bytes / 8], top: LO }
    }
    fn len(&self) -> usize {
        self.buf.len() * 8
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.len();
        // SAFETY: a u64 buffer viewed as bytes.
        unsafe { core::slice::from_raw_parts_mut(self.buf.as_mut_ptr() as *mut u8, n) }
    }
    fn alloc(&mut self, bytes: usize) -> u32 {
        let at = self.top;
        self.top = (self.top + bytes + 15) / 16 * 16;
        assert!(self.top <= self.len());
        at as u32
    }
    fn put_f32(&mut self, xs: &[f32]) -> u32 {
        let at = self.alloc(xs.len() * 4);
        for (n, x) in xs.iter().enumerate() {
            self.bytes()[at as usize + 4 * n..at as usize + 4 * n + 4].copy_from_slice(&x.to_le_bytes());
        }
        at
    }
    fn put_u32(&mut self, xs: &[u32]) -> u32 {
        let at = self.alloc(xs.len() * 4);
        for (n, x) in xs.iter().enumerate() {
            self.bytes()[at as usize + 4 * n..at as usize + 4 * n + 4].copy_from_slice(&x.to_le_bytes());
        }
        at
    }
    fn put_u8(&mut self, xs: &[u8]) -> u32 {
        let at = self.alloc(xs.len());
        self.bytes()[at as usize..at as usize + xs.len()].copy_from_slice(xs);
        at
    }
    fn f32s(&mut self, at: u32, n: usize) -> Vec<f32> {
        let b = &self.bytes()[at as usize..at as usize + 4 * n];
        b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }
    fn call(&mut self, d: &RawDesc) -> Status {
        let at = self.alloc(DESC_WORDS * 4);
        // SAFETY: RawDesc is plain data of DESC_WORDS words; `at` is 16-aligned inside the buffer.
        unsafe { core::ptr::write((self.buf.as_mut_ptr() as *mut u8).add(at as usize) as *mut RawDesc, *d) };
        let mem = Memory { lo: LO as u64, len: self.len() as u64 };
        // SAFETY: the buffer is exclusively borrowed for the call.
        unsafe { attention_in(self.buf.as_mut_ptr() as usize, mem, at) }
    }
}

fn operand(ptr: u32, batch: u32, head: u32, row: u32) -> Operand {
    Operand { ptr, strides: Strides { batch, head, row } }
}

/// A valid descriptor of `c` (BHND, every optional part present) placed in `m`.
fn place(m: &mut Mem, c: &Case) -> RawDesc {
    let d = c.dims;
    let (b, hq, hkv, nq, nk, dk, dv) =
        (d.b as u32, d.hq as u32, d.hkv as u32, d.nq as u32, d.nk as u32, d.dk as u32, d.dv as u32);
    let (mask, mask_s) = c.mask.clone().unwrap();
    let (bias, bias_s) = c.bias.clone().unwrap();
    let attn = |p: u32, s: crate::problem::Strides| operand(p, s.batch as u32, s.head as u32, s.row as u32);
    RawDesc {
        magic: DESC_MAGIC,
        b,
        hq,
        hkv,
        nq,
        nk,
        dk,
        dv,
        q: operand(m.put_f32(&c.q), hq * nq * dk, nq * dk, dk),
        k: operand(m.put_f32(&c.k), hkv * nk * dk, nk * dk, dk),
        v: operand(m.put_f32(&c.v), hkv * nk * dv, nk * dv, dv),
        o: operand(m.alloc(d.b * d.hq * d.nq * d.dv * 4), hq * nq * dv, nq * dv, dv),
        scale: c.scale,
        softcap: c.softcap,
        similarity: 0,
        align: 1,
        win_left: 6,
        win_right: 0,
        q_lens_ptr: m.put_u32(c.structure.q_lens.as_ref().unwrap()),
        k_lens_ptr: m.put_u32(c.structure.k_lens.as_ref().unwrap()),
        mask: attn(m.put_u8(&mask), mask_s),
        bias: attn(m.put_f32(&bias), bias_s),
        lse_ptr: m.alloc(d.b * d.hq * d.nq * 4),
        weights_ptr: m.alloc(d.b * d.hq * d.nq * d.nk * 4),
        q_start: 0,
        k_start: 0,
        nq_full: 0,
        nk_full: 0,
        flags: 0,
        reserved: 0,
        alibi_ptr: 0,
        rel_ptr: 0,
        rel_len: 0,
        rel_zero: 0,
        ..RawDesc::default()
    }
}

fn case() -> Case {
    let mut rng = Rng::new(11);
    let mut c = Case::new(&mut rng, dims(2, 4, 2, 9, 13, 6, 5)).with_mask(&mut rng, 0.8).with_bias(&mut rng);
    c.structure.q_lens = Some(vec![9, 7]);
    c.structure.k_lens = Some(vec![12, 13]);
    c.structure.win_left = Some(6);
    c.structure.win_right = Some(0);
    c.structure.bottom_right = true;
    c.softcap = 2.0;
    c
}

#[test]
fn a_valid_descriptor_runs_the_kernel() {
    let c = case();
    let mut m = Mem::new(1 << 16);
    let d = place(&mut m, &c);
    assert_eq!(m.call(&d), Status::Ok);
    let (o, lse, w) = c.run();
    assert_eq!(m.f32s(d.o.ptr, o.len()), o);
    assert_eq!(m.f32s(d.lse_ptr, lse.len()), lse);
    assert_eq!(m.f32s(d.weights_ptr, w.len()), w);
    c.check("abi case");
}

#[test]
fn every_bad_field_has_its_status() {
    let c = case();
    let mut m = Mem::new(1 << 16);
    let good = place(&mut m, &c);
    let len = m.len() as u32;
    type Edit = fn(&mut RawDesc, u32);
    let cases: Vec<(&str, Edit, Status)> = vec![
        ("magic", |d, _| d.magic ^= 1, Status::BadMagic),
        ("flags", |d, _| d.flags = 2, Status::BadFlags),
        ("reserved", |d, _| d.reserved = 2, Status::BadFlags),
        ("b = 0", |d, _| d.b = 0, Status::BadDims),
        ("dv = 0", |d, _| d.dv = 0, Status::BadDims),
        (
            "overflowing dims",
            |d, _| {
                d.nq = 1 << 20;
                d.nk = 1 << 20;
            },
            Status::BadDims,
        ),
        ("hq % hkv", |d, _| d.hkv = 3, Status::BadHeads),
        ("scale nan", |d, _| d.scale = f32::NAN, Status::BadScale),
        ("scale inf", |d, _| d.scale = f32::INFINITY, Status::BadScale),
        ("softcap < 0", |d, _| d.softcap = -1.0, Status::BadSoftcap),
        ("softcap inf", |d, _| d.softcap = f32::INFINITY, Status::BadSoftcap),
        ("similarity", |d, _| d.similarity = 2, Status::BadSimilarity),
        ("align", |d, _| d.align = 2, Status::BadAlign),
        ("window", |d, _| d.win_left = -2, Status::BadWindow),
        ("q_start", |d, _| d.q_start = 1, Status::BadSplit),
        (
            "k_start past nk_full",
            |d, _| {
                d.k_start = 5;
                d.nk_full = 17;
            },
            Status::BadSplit,
        ),
        ("q null", |d, _| d.q.ptr = 0, Status::BadQ),
        ("q misaligned", |d, _| d.q.ptr += 2, Status::BadQ),
        ("q below lo", |d, _| d.q.ptr = 16, Status::BadQ),
        ("q stride past memory", |d, _| d.q.strides.batch = 1 << 20, Status::BadQ),
        ("q row stride 0", |d, _| d.q.strides.row = 0, Status::BadQ),
        ("k past end", |d, len| d.k.ptr = len - 8, Status::BadK),
        ("v huge stride", |d, _| d.v.strides.head = u32::MAX, Status::BadV),
        ("out misaligned", |d, _| d.o.ptr += 1, Status::BadOut),
        ("out over q", |d, _| d.o.ptr = d.q.ptr, Status::BadOut),
        ("out self-overlap", |d, _| d.o.strides.row = 1, Status::BadOut),
        ("out head stride 0", |d, _| d.o.strides.head = 0, Status::BadOut),
        ("mask past end", |d, len| d.mask.ptr = len - 4, Status::BadMask),
        ("bias misaligned", |d, _| d.bias.ptr += 2, Status::BadBias),
        ("q_lens past end", |d, len| d.q_lens_ptr = len - 4, Status::BadQLens),
        ("k_lens misaligned", |d, _| d.k_lens_ptr += 1, Status::BadKLens),
        ("lse over out", |d, _| d.lse_ptr = d.o.ptr, Status::BadLse),
        ("weights over lse", |d, _| d.weights_ptr = d.lse_ptr, Status::BadWeights),
        ("lse past end", |d, len| d.lse_ptr = len - 4, Status::BadLse),
        ("weights over k", |d, _| d.weights_ptr = d.k.ptr, Status::BadWeights),
        ("weights over out", |d, _| d.weights_ptr = d.o.ptr + 4, Status::BadWeights),
        ("rel_len without a table", |d, _| d.rel_len = 1, Status::BadFlags),
        ("rel_zero without a table", |d, _| d.rel_zero = 1, Status::BadFlags),
        (
            "rel table misaligned",
            |d, _| {
                d.rel_ptr = d.q.ptr + 2;
                d.rel_len = 1;
            },
            Status::BadRelBias,
        ),
        (
            "rel table past end",
            |d, len| {
                d.rel_ptr = len - 4;
                d.rel_len = 2;
            },
            Status::BadRelBias,
        ),
        (
            "rel_len 0",
            |d, _| {
                d.rel_ptr = d.q.ptr;
                d.rel_len = 0;
            },
            Status::BadRelBias,
        ),
        (
            "rel_zero past the table",
            |d, _| {
                d.rel_ptr = d.q.ptr;
                d.rel_len = 3;
                d.rel_zero = 3;
            },
            Status::BadRelBias,
        ),
        (
            "out over rel table",
            |d, _| {
                d.rel_ptr = d.o.ptr;
                d.rel_len = 1;
            },
            Status::BadOut,
        ),
        ("alibi misaligned", |d, _| d.alibi_ptr = d.q.ptr + 2, Status::BadAlibi),
        ("alibi past end", |d, len| d.alibi_ptr = len - 4, Status::BadAlibi),
        ("out over alibi", |d, _| d.alibi_ptr = d.o.ptr, Status::BadOut),
    ];
    for (what, edit, want) in cases {
        let mut d = good;
        edit(&mut d, len);
        assert_eq!(m.call(&d), want, "{what}");
    }
    // Length values larger than the global count.
    let mut d = good;
    d.q_lens_ptr = m.put_u32(&[9, 10]);
    assert_eq!(m.call(&d), Status::BadQLens);
    let mut d = good;
    d.k_lens_ptr = m.put_u32(&[14, 1]);
    assert_eq!(m.call(&d), Status::BadKLens);
    // ALiBi slopes must be finite; finite ones run.
    let mut d = good;
    d.alibi_ptr = m.put_f32(&[0.5, f32::NAN, 0.25, 0.125]);
    assert_eq!(m.call(&d), Status::BadAlibi);
    d.alibi_ptr = m.put_f32(&[0.5, 0.3, 0.25, 0.125]);
    assert_eq!(m.call(&d), Status::Ok);
    // The descriptor pointer itself.
    let mem = Memory { lo: LO as u64, len: m.len() as u64 };
    for bad in [0, 2, LO as u32 - 4, m.len() as u32 - 8, u32::MAX - 3] {
        // SAFETY: nothing is read unless the pointer checks pass.
        assert_eq!(unsafe { attention_in(m.buf.as_mut_ptr() as usize, mem, bad) }, Status::BadMagic);
    }
    // Optional parts may be absent, and a split inside the global counts is fine.
    let mut d = good;
    d.mask.ptr = 0;
    d.bias.ptr = 0;
    d.q_lens_ptr = 0;
    d.k_lens_ptr = 0;
    d.lse_ptr = 0;
    d.weights_ptr = 0;
    d.q_start = 3;
    d.nq_full = 12;
    assert_eq!(m.call(&d), Status::Ok);
}

#[test]
fn small_exports() {
    assert_eq!(wa_desc_magic(), DESC_MAGIC);
    assert_eq!(wa_desc_words() as usize, DESC_WORDS);
    assert_eq!(VERSION, 0x00_01_00);
    let p = wa_alloc(100, 16);
    // On a 64-bit host the heap may sit above 4 GiB, in which case wa_alloc reports failure with 0.
    if p != 0 {
        assert_eq!(p % 16, 0);
        // SAFETY: p came from wa_alloc(100, 16).
        unsafe { wa_free(p, 100, 16) };
    }
    assert_eq!(wa_alloc(8, 3), 0, "alignment must be a power of two");
}
