//! The `extern "C"` surface of the crate — the only module where raw addresses from outside become slices. This file
//! holds the exact-attention entry; each further kernel family has its own file in this folder.
//!
//! Exports: `wa_version`, `wa_desc_magic`, `wa_desc_words`, `wa_alloc`, `wa_free`, `wa_attention` (plus the wasm
//! `memory`). `wa_attention` reads a `RawDesc` at `desc_ptr`, checks every field against linear memory (`check.rs`),
//! and only then builds slices and runs the kernel. Bad input gives a status code, never a trap.

pub mod decode;
pub mod gemm;
pub mod variants;

use std::alloc::{alloc, dealloc, Layout};

use crate::check::{check, lens_ok, Checked, Memory, Placed, Region};
use crate::desc::{RawDesc, ALIGN_BOTTOM_RIGHT, DESC_MAGIC, DESC_WORDS, FLAG_LSE_ALIBI_SHIFTED, SIM_COSINE};
use crate::exact::forward;
use crate::position::RelBias;
use crate::problem::{Outputs, Problem, Structure, View};
use crate::sparse::{Csr, Layout as BlockLayout, SparseMask};
use crate::status::Status;

/// The crate version as major << 16 | minor << 8 | patch.
pub const VERSION: u32 = {
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    let (mut out, mut part, mut i) = (0u32, 0u32, 0);
    while i < v.len() && v[i] != b'-' && v[i] != b'+' {
        if v[i] == b'.' {
            out = (out << 8) | part;
            part = 0;
        } else {
            part = part * 10 + (v[i] - b'0') as u32;
        }
        i += 1;
    }
    (out << 8) | part
};

#[no_mangle]
pub extern "C" fn wa_version() -> u32 {
    VERSION
}

#[no_mangle]
pub extern "C" fn wa_desc_magic() -> u32 {
    DESC_MAGIC
}

#[no_mangle]
pub extern "C" fn wa_desc_words() -> u32 {
    DESC_WORDS as u32
}

/// `align` 0 means 16; a size of 0 allocates 1 byte (so every live allocation has a distinct address).
fn layout(bytes: u32, align: u32) -> Option<Layout> {
    let align = if align == 0 { 16 } else { align };
    Layout::from_size_align(bytes.max(1) as usize, align as usize).ok()
}

/// Allocates `bytes` bytes aligned to `align` (a power of two); 0 on failure.
#[no_mangle]
pub extern "C" fn wa_alloc(bytes: u32, align: u32) -> u32 {
    let layout = match layout(bytes, align) {
        Some(l) => l,
        None => return 0,
    };
    // SAFETY: the layout has a nonzero size.
    let p = unsafe { alloc(layout) };
    if p.is_null() {
        return 0;
    }
    if p as usize > u32::MAX as usize {
        // Only reachable on 64-bit hosts: the address cannot be handed out as a u32.
        // SAFETY: p was just allocated with this layout.
        unsafe { dealloc(p, layout) };
        return 0;
    }
    p as usize as u32
}

/// Frees a block from `wa_alloc` with the same `bytes` and `align`. A null `ptr` is ignored.
///
/// # Safety
/// `ptr` must come from `wa_alloc(bytes, align)` and not be freed already.
#[no_mangle]
pub unsafe extern "C" fn wa_free(ptr: u32, bytes: u32, align: u32) {
    if let (false, Some(layout)) = (ptr == 0, layout(bytes, align)) {
        dealloc(ptr as usize as *mut u8, layout);
    }
}

/// Runs attention as described by the `RawDesc` at `desc_ptr`; returns a `Status` code (0 = ok).
///
/// # Safety
/// Every region the descriptor names must be memory the caller owns and does not touch during the call (in wasm:
/// blocks from `wa_alloc`). Bounds, alignment and overlaps are checked; ownership cannot be.
#[no_mangle]
pub unsafe extern "C" fn wa_attention(desc_ptr: u32) -> i32 {
    attention_in(0, memory(), desc_ptr) as i32
}

/// Linear memory: from the end of the module's data and stack (`__heap_base`) to the current memory size.
#[cfg(target_arch = "wasm32")]
fn memory() -> Memory {
    extern "C" {
        static __heap_base: u8;
    }
    // SAFETY: only the address of the linker-defined symbol is taken.
    let lo = unsafe { core::ptr::addr_of!(__heap_base) } as usize as u64;
    Memory { lo, len: core::arch::wasm32::memory_size(0) as u64 * 65_536 }
}

/// Native builds have no linear memory: only what a 32-bit address can reach bounds the regions.
#[cfg(not(target_arch = "wasm32"))]
fn memory() -> Memory {
    Memory { lo: 1, len: 1 << 32 }
}

/// `wa_attention` over the memory that starts at address `base`: descriptor pointers are byte offsets from `base`.
///
/// # Safety
/// Addresses base + [mem.lo, mem.len) must be readable and writable and not referenced elsewhere during the call.
pub unsafe fn attention_in(base: usize, mem: Memory, desc_ptr: u32) -> Status {
    match run(base, mem, desc_ptr) {
        Ok(()) => Status::Ok,
        Err(s) => s,
    }
}

/// A copy of the `T` (a repr(C) descriptor of `words` u32) at `desc_ptr`, or None when it does not lie 4-byte aligned
/// in [mem.lo, mem.len). Copied so that outputs may overwrite the descriptor's memory without affecting the call.
///
/// # Safety
/// Addresses base + [mem.lo, mem.len) must be readable; `T` must be valid for any bit pattern (u32 / f32 fields).
pub(crate) unsafe fn read_desc<T: Copy>(base: usize, mem: Memory, desc_ptr: u32, words: usize) -> Option<T> {
    debug_assert!(core::mem::size_of::<T>() == words * 4);
    let dp = desc_ptr as u64;
    if dp < mem.lo || dp % 4 != 0 || dp + (words as u64) * 4 > mem.len {
        return None;
    }
    Some(core::ptr::read((base + desc_ptr as usize) as *const T))
}

unsafe fn run(base: usize, mem: Memory, desc_ptr: u32) -> Result<(), Status> {
    let desc: RawDesc = read_desc(base, mem, desc_ptr, DESC_WORDS).ok_or(Status::BadMagic)?;
    let c = check(&desc, mem)?;

    let read_lens = |r: Option<Region>, global: u64, bad: Status| -> Result<Option<Vec<u32>>, Status> {
        match r {
            None => Ok(None),
            Some(r) => {
                let lens = core::slice::from_raw_parts((base + r.ptr) as *const u32, c.dims.b).to_vec();
                if lens_ok(&lens, global) {
                    Ok(Some(lens))
                } else {
                    Err(bad)
                }
            }
        }
    };
    let q_lens = read_lens(c.q_lens, c.nq_full, Status::BadQLens)?;
    let k_lens = read_lens(c.k_lens, c.nk_full, Status::BadKLens)?;
    let alibi = c.alibi.map(|r| core::slice::from_raw_parts((base + r.ptr) as *const f32, c.dims.hq));
    if alibi.map_or(false, |s| s.iter().any(|x| !x.is_finite())) {
        return Err(Status::BadAlibi);
    }

    let sparse = match &c.sparse {
        None => None,
        Some(s) => {
            let sp = read_sparse(base, &desc, &c, s);
            if !sp.is_valid(c.nq_full, c.nk_full) {
                return Err(Status::BadSparse);
            }
            Some(sp)
        }
    };
    let mut structure = structure(&desc, &c, q_lens, k_lens);
    structure.sparse = sparse;

    let problem = Problem {
        dims: c.dims,
        q: view(base, &c.q),
        k: view(base, &c.k),
        v: view(base, &c.v),
        mask: c.mask.as_ref().map(|m| view(base, m)),
        bias: c.bias.as_ref().map(|m| view(base, m)),
        scale: desc.scale,
        softcap: desc.softcap,
        cosine: desc.similarity == SIM_COSINE,
        structure,
        alibi,
        rel_bias: c.rel.map(|r| RelBias {
            table: core::slice::from_raw_parts((base + r.ptr) as *const f32, r.bytes / 4),
            len: desc.rel_len as usize,
            zero: desc.rel_zero as usize,
        }),
        lse_alibi_shifted: desc.flags & FLAG_LSE_ALIBI_SHIFTED != 0,
    };
    let mut out = Outputs {
        o: slice_mut(base, c.o.region, c.o.len),
        o_strides: c.o.strides,
        lse: c.lse.map(|r| slice_mut(base, r, r.bytes / 4)),
        weights: c.weights.map(|r| slice_mut(base, r, r.bytes / 4)),
    };
    forward(&problem, &mut out).map_err(|_| Status::OutOfMemory)
}

fn structure(d: &RawDesc, c: &Checked, q_lens: Option<Vec<u32>>, k_lens: Option<Vec<u32>>) -> Structure {
    let window = |w: i32| if w < 0 { None } else { Some(w as u64) };
    Structure {
        bottom_right: d.align == ALIGN_BOTTOM_RIGHT,
        win_left: window(d.win_left),
        win_right: window(d.win_right),
        q_lens,
        k_lens,
        q_start: d.q_start as u64,
        k_start: d.k_start as u64,
        nq_full: c.nq_full,
        nk_full: c.nk_full,
        sparse: None,
    }
}

/// Copies the block mask's arrays out of memory (O(blocks + entries); the values are checked by the caller).
///
/// # Safety
/// The regions of `s` were checked to lie in memory and to be aligned.
unsafe fn read_sparse(base: usize, d: &RawDesc, c: &Checked, s: &crate::check::SparseRegions) -> SparseMask {
    unsafe fn copy<T: Copy>(base: usize, r: Option<Region>, elem: usize) -> Vec<T> {
        r.map_or_else(Vec::new, |r| core::slice::from_raw_parts((base + r.ptr) as *const T, r.bytes / elem).to_vec())
    }
    SparseMask {
        row_ptr: copy(base, Some(s.row_ptr), 4),
        idx: copy(base, s.idx, 4),
        kind: copy(base, s.kind, 1),
        window: if d.sp_window < 0 { None } else { Some(d.sp_window as u64) },
        dilation: d.sp_dilation as u64,
        shift: if d.align == ALIGN_BOTTOM_RIGHT { c.nk_full as i64 - c.nq_full as i64 } else { 0 },
        globals: copy(base, s.globals, 4),
        layout: s.layout.map(|(r, rows, cols)| BlockLayout {
            data: copy(base, Some(r), 1),
            bq: d.sp_layout_bq as usize,
            bk: d.sp_layout_bk as usize,
            rows: rows as usize,
            cols: cols as usize,
        }),
        csr: s.csr_row_ptr.map(|r| Csr { row_ptr: copy(base, Some(r), 4), col: copy(base, s.csr_col, 4) }),
    }
}

/// # Safety
/// `p.region` was checked to lie in memory and to be aligned for `T`; it must not overlap any `&mut` slice.
unsafe fn view<'a, T>(base: usize, p: &Placed) -> View<'a, T> {
    View { data: core::slice::from_raw_parts((base + p.region.ptr) as *const T, p.len), strides: p.strides }
}

/// # Safety
/// `r` was checked to lie in memory, to be 4-byte aligned and to overlap no other region in use.
unsafe fn slice_mut<'a>(base: usize, r: Region, len: usize) -> &'a mut [f32] {
    core::slice::from_raw_parts_mut((base + r.ptr) as *mut f32, len)
}
