//! Validation of a `VarDesc` against the memory it points into. Pure arithmetic (no memory access): every operand
//! must lie inside [lo, len) with f32 alignment, the output must not overlap any input nor itself, and every field
//! must be known for its kind. Each failure names its field through a `Status`.

use super::desc::{
    VarDesc, FLAG_BOTTOM_RIGHT, FLAG_CAUSAL, KIND_LINEAR, KIND_LINFORMER, KIND_LSH, KIND_PERFORMER, VAR_MAGIC,
};
use crate::check::{distinct_strided, region as region_of, Memory, Region};
use crate::desc::Operand;
use crate::problem::{Dims, Strides};
use crate::status::Status;

/// Largest feature / projected-row count (keeps the scratch a few MiB at most for D ≤ 1024).
pub const MAX_FEATURES: u32 = 1 << 16;
/// Largest number of LSH hash rounds.
pub const MAX_ROUNDS: u32 = 64;

/// A strided operand that passed its checks.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    pub region: Region,
    pub strides: Strides,
}

/// The kind with its projection regions.
#[derive(Clone, Copy, Debug)]
pub enum CheckedKind {
    Linear,
    Performer { features: usize, projection: Region },
    Linformer { rows: usize, e: Region, f: Region },
    Lsh { buckets: usize, rounds: usize, chunk: usize, rotations: Region },
}

#[derive(Clone, Copy, Debug)]
pub struct CheckedVar {
    pub dims: Dims,
    pub q: Placed,
    pub k: Placed,
    pub v: Placed,
    pub o: Placed,
    pub causal: Option<i64>,
    pub kind: CheckedKind,
}

/// `count` f32 at `ptr`, 4-byte aligned, inside [mem.lo, mem.len).
fn region(ptr: u32, count: u64, mem: Memory, bad: Status) -> Result<Region, Status> {
    region_of(ptr, count, 4, mem, bad)
}

/// A [b, h, rows, cols] f32 operand with its strides (row stride nonzero).
fn place(op: &Operand, ext: [u64; 4], mem: Memory, bad: Status) -> Result<Placed, Status> {
    let s = [op.strides.batch as u64, op.strides.head as u64, op.strides.row as u64];
    if s[2] == 0 {
        return Err(bad);
    }
    let mut last = ext[3] - 1;
    for (e, st) in ext[..3].iter().zip(s) {
        last = (e - 1).checked_mul(st).and_then(|x| x.checked_add(last)).ok_or(bad)?;
    }
    let region = region(op.ptr, last + 1, mem, bad)?;
    let strides = Strides { batch: s[0] as usize, head: s[1] as usize, row: s[2] as usize };
    Ok(Placed { region, strides })
}

pub fn check_variant(d: &VarDesc, mem: Memory) -> Result<CheckedVar, Status> {
    if d.magic != VAR_MAGIC {
        return Err(Status::BadMagic);
    }
    let lsh = d.kind == KIND_LSH;
    if (!lsh && (d.rounds != 0 || d.chunk != 0))
        || d.flags & !(FLAG_CAUSAL | FLAG_BOTTOM_RIGHT) != 0
        || d.flags == FLAG_BOTTOM_RIGHT
    {
        return Err(Status::BadFlags);
    }
    let causal = d.flags & FLAG_CAUSAL != 0;
    match d.kind {
        KIND_LINEAR | KIND_PERFORMER | KIND_LSH => {}
        KIND_LINFORMER if !causal => {}
        _ => return Err(Status::BadVariant),
    }
    let raw = [d.b, d.hq, d.hkv, d.nq, d.nk, d.dk, d.dv];
    if raw.contains(&0) {
        return Err(Status::BadDims);
    }
    let [b, hq, hkv, nq, nk, dk, dv] = raw.map(|x| x as u64);
    let fits = |xs: &[u64]| xs.iter().try_fold(1u64, |a, &x| a.checked_mul(x)).map_or(false, |p| p <= u32::MAX as u64);
    if !fits(&[b, hq, nq, dk.max(dv)]) || !fits(&[b, hkv, nk, dk.max(dv)]) {
        return Err(Status::BadDims);
    }
    if hq % hkv != 0 || (lsh && hq != hkv) {
        return Err(Status::BadHeads);
    }
    if lsh && nq != nk {
        return Err(Status::BadDims);
    }
    let scale_ok = d.scale.is_finite() && (d.kind != KIND_PERFORMER || d.scale >= 0.0);
    if !scale_ok {
        return Err(Status::BadScale);
    }
    let m = d.features as u64;
    let features_ok = match d.kind {
        KIND_LINEAR => m == 0,
        KIND_LSH => {
            m >= 2
                && m % 2 == 0
                && m <= MAX_FEATURES as u64
                && d.rounds >= 1
                && d.rounds <= MAX_ROUNDS
                && d.chunk >= 1
                && d.chunk <= MAX_FEATURES
        }
        _ => m >= 1 && m <= MAX_FEATURES as u64,
    };
    if !features_ok {
        return Err(Status::BadFeatures);
    }
    let kind = match d.kind {
        KIND_LINEAR if d.proj_a == 0 && d.proj_b == 0 => CheckedKind::Linear,
        KIND_PERFORMER if d.proj_b == 0 => CheckedKind::Performer {
            features: m as usize,
            projection: region(d.proj_a, m * dk, mem, Status::BadProjection)?,
        },
        KIND_LINFORMER => {
            let count = m.checked_mul(nk).filter(|&c| c <= u32::MAX as u64).ok_or(Status::BadFeatures)?;
            CheckedKind::Linformer {
                rows: m as usize,
                e: region(d.proj_a, count, mem, Status::BadProjection)?,
                f: region(d.proj_b, count, mem, Status::BadProjection)?,
            }
        }
        KIND_LSH if d.proj_b == 0 => {
            let count = (d.rounds as u64 * dk)
                .checked_mul(m / 2)
                .filter(|&c| c <= u32::MAX as u64)
                .ok_or(Status::BadFeatures)?;
            CheckedKind::Lsh {
                buckets: m as usize,
                rounds: d.rounds as usize,
                chunk: d.chunk as usize,
                rotations: region(d.proj_a, count, mem, Status::BadProjection)?,
            }
        }
        _ => return Err(Status::BadProjection),
    };

    let q = place(&d.q, [b, hq, nq, dk], mem, Status::BadQ)?;
    let k = place(&d.k, [b, hkv, nk, dk], mem, Status::BadK)?;
    let v = place(&d.v, [b, hkv, nk, dv], mem, Status::BadV)?;
    let o_ext = [b, hq, nq, dv];
    let o = place(&d.o, o_ext, mem, Status::BadOut)?;
    let os = [d.o.strides.batch as u64, d.o.strides.head as u64, d.o.strides.row as u64];
    if !distinct_strided(&[(os[0], o_ext[0]), (os[1], o_ext[1]), (os[2], o_ext[2])], o_ext[3]) {
        return Err(Status::BadOut);
    }
    let mut inputs = vec![q.region, k.region, v.region];
    match kind {
        CheckedKind::Linear => {}
        CheckedKind::Performer { projection, .. } | CheckedKind::Lsh { rotations: projection, .. } => {
            inputs.push(projection)
        }
        CheckedKind::Linformer { e, f, .. } => inputs.extend([e, f]),
    }
    if inputs.iter().any(|r| r.overlaps(&o.region)) {
        return Err(Status::BadOut);
    }
    let offset = if d.flags & FLAG_BOTTOM_RIGHT != 0 { nk as i64 - nq as i64 } else { 0 };
    let dims = Dims {
        b: b as usize,
        hq: hq as usize,
        hkv: hkv as usize,
        nq: nq as usize,
        nk: nk as usize,
        dk: dk as usize,
        dv: dv as usize,
    };
    Ok(CheckedVar { dims, q, k, v, o, causal: if causal { Some(offset) } else { None }, kind })
}
