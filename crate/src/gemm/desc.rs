//! The GEMM descriptor (`RawGemm`, written by ts/layer/gemm.ts as 4-byte words) and its validation against the
//! memory it points into: pure arithmetic, no memory access. Pointers are byte offsets into wasm memory, leading
//! dimensions count f32 elements.
//!
//! Semantics: C[i·ldc + j] = Σ_{p<k} A[i·lda + p]·B(p, j) + (bias ? bias[j] : 0) for i < m, j < n, where
//! B(p, j) = B[p·ldb + j] (trans_b = 0, B is [k, n]) or B[j·ldb + p] (trans_b = 1, B is [n, k]).

use crate::check::{Memory, Region};

/// "WAG1" — bumped whenever the word layout changes.
pub const GEMM_MAGIC: u32 = 0x5741_4731;
/// Number of 4-byte words in a `RawGemm`.
pub const GEMM_WORDS: usize = 16;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawGemm {
    pub magic: u32,
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub a_ptr: u32,
    pub lda: u32,
    pub b_ptr: u32,
    pub ldb: u32,
    /// 0: B is [k, n]; 1: B is [n, k] (C = A·Bᵀ of the stored matrix).
    pub trans_b: u32,
    /// f32[n], 0 = no bias.
    pub bias_ptr: u32,
    pub c_ptr: u32,
    pub ldc: u32,
    /// Reserved, must be 0.
    pub reserved: [u32; 4],
}

const _: () = assert!(core::mem::size_of::<RawGemm>() == GEMM_WORDS * 4);

/// Status codes of `wa_gemm`; mirror of `GEMM_STATUS` in ts/layer/gemm.ts.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmStatus {
    Ok = 0,
    BadMagic = 1,
    BadDims = 2,
    BadA = 3,
    BadB = 4,
    BadBias = 5,
    BadC = 6,
    BadFlags = 7,
    OutOfMemory = 8,
}

/// A descriptor that passed every check: the regions of its operands.
#[derive(Clone, Copy, Debug)]
pub struct CheckedGemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Region,
    pub b: Region,
    pub bias: Option<Region>,
    pub c: Region,
}

/// Elements spanned by `rows` rows of `cols` elements at row stride `ld` (ld ≥ cols checked by the caller).
fn span(rows: u64, cols: u64, ld: u64) -> Option<u64> {
    (rows - 1).checked_mul(ld)?.checked_add(cols)
}

fn region(ptr: u32, elems: Option<u64>, mem: Memory, bad: GemmStatus) -> Result<Region, GemmStatus> {
    crate::check::region(ptr, elems.ok_or(bad)?, 4, mem, bad)
}

pub fn check_gemm(d: &RawGemm, mem: Memory) -> Result<CheckedGemm, GemmStatus> {
    use GemmStatus::{BadA, BadB, BadBias, BadC, BadDims, BadFlags, BadMagic};
    if d.magic != GEMM_MAGIC {
        return Err(BadMagic);
    }
    if d.reserved != [0; 4] || d.trans_b > 1 {
        return Err(BadFlags);
    }
    if d.m == 0 || d.n == 0 || d.k == 0 {
        return Err(BadDims);
    }
    let [m, n, k, lda, ldb, ldc] = [d.m, d.n, d.k, d.lda, d.ldb, d.ldc].map(|x| x as u64);
    let trans = d.trans_b == 1;
    if lda < k {
        return Err(BadA);
    }
    if ldb < if trans { k } else { n } {
        return Err(BadB);
    }
    if ldc < n {
        return Err(BadC);
    }
    let a = region(d.a_ptr, span(m, k, lda), mem, BadA)?;
    let b = region(d.b_ptr, if trans { span(n, k, ldb) } else { span(k, n, ldb) }, mem, BadB)?;
    let bias = if d.bias_ptr == 0 { None } else { Some(region(d.bias_ptr, Some(n), mem, BadBias)?) };
    let c = region(d.c_ptr, span(m, n, ldc), mem, BadC)?;
    if [Some(a), Some(b), bias].iter().flatten().any(|r| r.overlaps(&c)) {
        return Err(BadC);
    }
    Ok(CheckedGemm { m: m as usize, n: n as usize, k: k as usize, a, b, bias, c })
}
