//! The GEMM entry of the ABI: `wa_gemm_magic`, `wa_gemm_words`, `wa_gemm`. `wa_gemm` reads a `RawGemm` at
//! `desc_ptr`, checks it against linear memory (`gemm/desc.rs`) and only then builds slices and runs the product.
//! Bad input gives a `GemmStatus` code, never a trap.

use super::memory;
use crate::check::{Memory, Region};
use crate::gemm::desc::{check_gemm, GemmStatus, RawGemm, GEMM_MAGIC, GEMM_WORDS};
use crate::gemm::{gemm, Gemm};

#[no_mangle]
pub extern "C" fn wa_gemm_magic() -> u32 {
    GEMM_MAGIC
}

#[no_mangle]
pub extern "C" fn wa_gemm_words() -> u32 {
    GEMM_WORDS as u32
}

/// Runs the product described by the `RawGemm` at `desc_ptr`; returns a `GemmStatus` code (0 = ok).
///
/// # Safety
/// Every region the descriptor names must be memory the caller owns and does not touch during the call (in wasm:
/// blocks from `wa_alloc`). Bounds, alignment and the output's overlaps are checked; ownership cannot be.
#[no_mangle]
pub unsafe extern "C" fn wa_gemm(desc_ptr: u32) -> i32 {
    gemm_in(0, memory(), desc_ptr) as i32
}

/// `wa_gemm` over the memory that starts at address `base`: descriptor pointers are byte offsets from `base`.
///
/// # Safety
/// Addresses base + [mem.lo, mem.len) must be readable and writable and not referenced elsewhere during the call.
pub unsafe fn gemm_in(base: usize, mem: Memory, desc_ptr: u32) -> GemmStatus {
    let d: RawGemm = match super::read_desc(base, mem, desc_ptr, GEMM_WORDS) {
        Some(d) => d,
        None => return GemmStatus::BadMagic,
    };
    let c = match check_gemm(&d, mem) {
        Ok(c) => c,
        Err(s) => return s,
    };
    // SAFETY: each region was checked to lie in memory and to be 4-byte aligned; C overlaps none of them.
    let input = |r: Region| core::slice::from_raw_parts((base + r.ptr) as *const f32, r.bytes / 4);
    let g = Gemm {
        m: c.m,
        n: c.n,
        k: c.k,
        a: input(c.a),
        lda: d.lda as usize,
        b: input(c.b),
        ldb: d.ldb as usize,
        trans_b: d.trans_b == 1,
        bias: c.bias.map(input),
    };
    let out = core::slice::from_raw_parts_mut((base + c.c.ptr) as *mut f32, c.c.bytes / 4);
    match gemm(&g, out, d.ldc as usize) {
        Ok(()) => GemmStatus::Ok,
        Err(_) => GemmStatus::OutOfMemory,
    }
}
