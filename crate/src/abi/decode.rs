//! `wa_decode`: the decode entry of the wasm ABI. Reads a `DecodeDesc`, checks every field against linear memory
//! (`decode/check.rs`), and only then makes slices and runs the kernel. Bad input gives a status code, never a trap.

use super::memory;
use crate::check::{Memory, Region};
use crate::decode::check::{check_decode, page_table_ok};
use crate::decode::desc::{
    DecodeDesc, DECODE_MAGIC, DECODE_WORDS, DEFAULT_SPLIT, DTYPE_F16, DTYPE_F32, FLAG_F16_FINITE,
};
use crate::decode::{decode, probe, CacheData, DecodeOutputs, DecodeProblem, F16Raw, Slots, F16};
use crate::status::Status;

#[no_mangle]
pub extern "C" fn wa_decode_magic() -> u32 {
    DECODE_MAGIC
}

#[no_mangle]
pub extern "C" fn wa_decode_words() -> u32 {
    DECODE_WORDS as u32
}

/// Decodes as described by the `DecodeDesc` at `desc_ptr`; returns a `Status` code (0 = ok).
///
/// # Safety
/// Every region the descriptor names must be memory the caller owns and does not touch during the call (in wasm:
/// blocks from `wa_alloc`). Bounds, alignment and overlaps are checked; ownership cannot be.
#[no_mangle]
pub unsafe extern "C" fn wa_decode(desc_ptr: u32) -> i32 {
    decode_in(0, memory(), desc_ptr) as i32
}

/// `wa_decode` over the memory that starts at address `base` (descriptor pointers are offsets from `base`).
///
/// # Safety
/// Addresses base + [mem.lo, mem.len) must be readable and writable and not referenced elsewhere during the call.
pub unsafe fn decode_in(base: usize, mem: Memory, desc_ptr: u32) -> Status {
    match run(base, mem, desc_ptr) {
        Ok(()) => Status::Ok,
        Err(s) => s,
    }
}

unsafe fn run(base: usize, mem: Memory, desc_ptr: u32) -> Result<(), Status> {
    let d: DecodeDesc = super::read_desc(base, mem, desc_ptr, DECODE_WORDS).ok_or(Status::BadMagic)?;
    let c = check_decode(&d, mem)?;
    let cache = match d.dtype {
        DTYPE_F32 => CacheData::F32 { k: slice(base, c.k), v: slice(base, c.v) },
        DTYPE_F16 if d.flags & FLAG_F16_FINITE != 0 => {
            CacheData::F16Finite { k: slice::<F16Raw>(base, c.k), v: slice::<F16Raw>(base, c.v) }
        }
        DTYPE_F16 => CacheData::F16 { k: slice::<F16>(base, c.k), v: slice::<F16>(base, c.v) },
        _ => match (c.k_scale, c.v_scale) {
            (Some(ks), Some(vs)) => CacheData::I8 {
                k: slice(base, c.k),
                v: slice(base, c.v),
                k_scale: slice(base, ks),
                v_scale: slice(base, vs),
            },
            _ => return Err(Status::BadCache),
        },
    };
    let slots = match c.page_table {
        Some(r) => {
            let table: &[u32] = slice(base, r);
            if !page_table_ok(table, &d) {
                return Err(Status::BadCache);
            }
            Slots::Paged { page_size: d.page_size as usize, pages: d.capacity as usize, table }
        }
        None => Slots::Ring { capacity: d.capacity as usize },
    };
    let problem = DecodeProblem {
        hq: d.hq as usize,
        hkv: d.hkv as usize,
        nq: d.nq as usize,
        dk: d.dk as usize,
        dv: d.dv as usize,
        slots,
        start: d.start as u64,
        end: d.end as u64,
        q_end: if d.q_end == 0 { d.end as u64 } else { d.q_end as u64 },
        q: slice(base, c.q),
        q_head: d.q_head as usize,
        q_row: d.q_row as usize,
        scale: d.scale,
        causal: d.causal == 1,
        win_left: if d.win_left < 0 { None } else { Some(d.win_left as u64) },
        sinks: c.sinks.map(|r| slice::<f32>(base, r)),
        split: if d.split == 0 { DEFAULT_SPLIT as usize } else { d.split as usize },
        cache,
    };
    let mut out = DecodeOutputs {
        o: slice_mut(base, c.o),
        o_head: d.o_head as usize,
        o_row: d.o_row as usize,
        lse: c.lse.map(|r| slice_mut(base, r)),
    };
    decode(&problem, &mut out).map_err(|_| Status::OutOfMemory)
}

/// # Safety
/// `r` was checked to lie in memory and to be aligned for `T`; it must not overlap any `&mut` slice in use.
unsafe fn slice<'a, T>(base: usize, r: Region) -> &'a [T] {
    core::slice::from_raw_parts((base + r.ptr) as *const T, r.bytes / core::mem::size_of::<T>())
}

/// # Safety
/// `r` was checked to lie in memory, to be 4-byte aligned and to overlap no other region in use.
unsafe fn slice_mut<'a>(base: usize, r: Region) -> &'a mut [f32] {
    core::slice::from_raw_parts_mut((base + r.ptr) as *mut f32, r.bytes / 4)
}

/// The f32 region [ptr, ptr + 4·len) when it lies in memory and is 4-byte aligned.
fn probe_region(mem: Memory, ptr: u32, len: u32) -> Option<Region> {
    let (p, bytes) = (ptr as u64, len as u64 * 4);
    if p == 0 || p < mem.lo || p % 4 != 0 || p + bytes > mem.len {
        return None;
    }
    Some(Region { ptr: p as usize, bytes: bytes as usize })
}

/// Read-bandwidth probe for the decode benchmark: the sum of `len` f32 at `ptr` (NaN when out of bounds).
///
/// # Safety
/// The region must be memory the caller owns (checked against linear memory).
#[no_mangle]
pub unsafe extern "C" fn wa_probe_sum(ptr: u32, len: u32) -> f32 {
    match probe_region(memory(), ptr, len) {
        Some(r) => probe::sum(slice(0, r)),
        None => f32::NAN,
    }
}

/// Copy-bandwidth probe: copies `len` f32 from `src` to `dst`; returns 0, or 1 when a region is out of bounds or
/// they overlap.
///
/// # Safety
/// Both regions must be memory the caller owns (checked against linear memory).
#[no_mangle]
pub unsafe extern "C" fn wa_probe_copy(dst: u32, src: u32, len: u32) -> i32 {
    let mem = memory();
    match (probe_region(mem, dst, len), probe_region(mem, src, len)) {
        (Some(d), Some(s)) if d.ptr + d.bytes <= s.ptr || s.ptr + s.bytes <= d.ptr => {
            probe::copy(slice(0, s), slice_mut(0, d));
            0
        }
        _ => 1,
    }
}
