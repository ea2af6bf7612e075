//! The variants entry of the ABI: `wa_variant_magic`, `wa_variant_words`, `wa_variant_attention`. The last reads a
//! `VarDesc` at `desc_ptr`, checks it against linear memory (`variants/check.rs`) and only then builds slices and
//! runs linear attention, Performer, Linformer or LSH attention. Bad input gives a `Status` code, never a trap.

use super::memory;
use crate::check::{Memory, Region};
use crate::problem::View;
use crate::status::Status;
use crate::variants::check::{check_variant, CheckedKind, Placed};
use crate::variants::desc::{VarDesc, VAR_MAGIC, VAR_WORDS};
use crate::variants::{run, Kind, Out, VarProblem};

#[no_mangle]
pub extern "C" fn wa_variant_magic() -> u32 {
    VAR_MAGIC
}

#[no_mangle]
pub extern "C" fn wa_variant_words() -> u32 {
    VAR_WORDS as u32
}

/// Runs the variant described by the `VarDesc` at `desc_ptr`; returns a `Status` code (0 = ok).
///
/// # Safety
/// Every region the descriptor names must be memory the caller owns and does not touch during the call (in wasm:
/// blocks from `wa_alloc`). Bounds, alignment and the output's overlaps are checked; ownership cannot be.
#[no_mangle]
pub unsafe extern "C" fn wa_variant_attention(desc_ptr: u32) -> i32 {
    variant_in(0, memory(), desc_ptr) as i32
}

/// `wa_variant_attention` over the memory that starts at address `base`: pointers are byte offsets from `base`.
///
/// # Safety
/// Addresses base + [mem.lo, mem.len) must be readable and writable and not referenced elsewhere during the call.
pub unsafe fn variant_in(base: usize, mem: Memory, desc_ptr: u32) -> Status {
    let d: VarDesc = match super::read_desc(base, mem, desc_ptr, VAR_WORDS) {
        Some(d) => d,
        None => return Status::BadMagic,
    };
    let c = match check_variant(&d, mem) {
        Ok(c) => c,
        Err(s) => return s,
    };
    // SAFETY: each region was checked to lie in memory and to be 4-byte aligned; the output overlaps none of them.
    let slice = |r: Region| core::slice::from_raw_parts((base + r.ptr) as *const f32, r.bytes / 4);
    let view = |p: Placed| View { data: slice(p.region), strides: p.strides };
    let kind = match c.kind {
        CheckedKind::Linear => Kind::Linear,
        CheckedKind::Performer { features, projection } => Kind::Performer { features, projection: slice(projection) },
        CheckedKind::Linformer { rows, e, f } => Kind::Linformer { rows, e: slice(e), f: slice(f) },
        CheckedKind::Lsh { buckets, rounds, chunk, rotations } => {
            Kind::Lsh { buckets, rounds, chunk, rotations: slice(rotations) }
        }
    };
    let p =
        VarProblem { dims: c.dims, q: view(c.q), k: view(c.k), v: view(c.v), scale: d.scale, causal: c.causal, kind };
    let o = core::slice::from_raw_parts_mut((base + c.o.region.ptr) as *mut f32, c.o.region.bytes / 4);
    match run(&p, &mut Out { o, strides: c.o.strides }) {
        Ok(()) => Status::Ok,
        Err(_) => Status::OutOfMemory,
    }
}
