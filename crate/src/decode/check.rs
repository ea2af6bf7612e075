//! Validation of a `DecodeDesc` against the memory it points into: pure arithmetic, no memory access. Every failure
//! names its field through a `Status`; on success the byte regions that `abi/decode.rs` may turn into slices.

use super::desc::{DecodeDesc, DECODE_MAGIC, DTYPE_F16, DTYPE_F32, DTYPE_I8, FLAG_F16_FINITE, MAX_QUERIES};
use crate::check::{distinct_strided, region, Memory, Region};
use crate::status::Status;

/// A descriptor that passed every check.
#[derive(Clone, Copy, Debug)]
pub struct CheckedDecode {
    pub k: Region,
    pub v: Region,
    pub k_scale: Option<Region>,
    pub v_scale: Option<Region>,
    pub q: Region,
    pub o: Region,
    pub lse: Option<Region>,
    pub sinks: Option<Region>,
    pub page_table: Option<Region>,
}

/// Elements spanned by a [heads, rows, cols] operand with strides (head, row, 1); None on overflow.
fn extent(heads: u64, rows: u64, cols: u64, head: u64, row: u64) -> Option<u64> {
    (heads - 1).checked_mul(head)?.checked_add((rows - 1).checked_mul(row)?)?.checked_add(cols)
}

/// Distinct (head, row, col) map to distinct elements (needed for the output only).
fn distinct(heads: u64, rows: u64, cols: u64, head: u64, row: u64) -> bool {
    distinct_strided(&[(head, heads), (row, rows)], cols)
}

/// The lowest position any query may read: (end − nq) − win_left with a window, else 0 (q_end = 0 only).
pub fn lowest_needed(d: &DecodeDesc) -> u64 {
    let first = (d.end - d.nq) as u64;
    if d.win_left < 0 {
        0
    } else {
        first.saturating_sub(d.win_left as u64)
    }
}

pub fn check_decode(d: &DecodeDesc, mem: Memory) -> Result<CheckedDecode, Status> {
    if d.magic != DECODE_MAGIC {
        return Err(Status::BadMagic);
    }
    if d.flags & !FLAG_F16_FINITE != 0 {
        return Err(Status::BadFlags);
    }
    if [d.hq, d.hkv, d.nq, d.dk, d.dv].contains(&0) || d.nq > MAX_QUERIES {
        return Err(Status::BadDims);
    }
    if d.hq % d.hkv != 0 {
        return Err(Status::BadHeads);
    }
    if !d.scale.is_finite() {
        return Err(Status::BadScale);
    }
    if d.causal > 1 {
        return Err(Status::BadAlign);
    }
    if d.win_left < -1 {
        return Err(Status::BadWindow);
    }
    let [hq, hkv, nq, dk, dv] = [d.hq, d.hkv, d.nq, d.dk, d.dv].map(|x| x as u64);
    let paged = d.page_size > 0;
    if d.capacity == 0 || d.dtype > DTYPE_I8 || (paged && d.page_count == 0) || (!paged && d.page_table_ptr != 0) {
        return Err(Status::BadCache);
    }
    // Slots per kv head: capacity, or pages · page_size.
    let cap = d.capacity as u64 * (d.page_size as u64).max(1);
    let room = if paged { d.page_count as u64 * d.page_size as u64 } else { cap };
    let span = (d.end - d.start.min(d.end)) as u64;
    if d.start > d.end || span > room || (paged && d.end as u64 > room) {
        return Err(Status::BadCacheRange);
    }
    // q_end = 0: the queries are the last nq held tokens and every key they may see is still held. q_end ≠ 0: a chunk
    // of a sharded history; the keys outside [start, end) are the caller's (other shards).
    let queries_ok = if d.q_end == 0 { d.end >= d.nq && lowest_needed(d) >= d.start as u64 } else { d.q_end >= d.nq };
    if !queries_ok {
        return Err(Status::BadCacheRange);
    }
    let elem = match d.dtype {
        DTYPE_F32 => 4,
        DTYPE_F16 => 2,
        _ => 1,
    };
    let count = |x: u64| hkv.checked_mul(cap).and_then(|n| n.checked_mul(x)).ok_or(Status::BadCache);
    let k = region(d.k_ptr, count(dk)?, elem, mem, Status::BadCache)?;
    let v = region(d.v_ptr, count(dv)?, elem, mem, Status::BadCache)?;
    let (k_scale, v_scale) = if d.dtype == DTYPE_I8 {
        (
            Some(region(d.k_scale_ptr, hkv * cap, 4, mem, Status::BadCache)?),
            Some(region(d.v_scale_ptr, hkv * cap, 4, mem, Status::BadCache)?),
        )
    } else if d.k_scale_ptr != 0 || d.v_scale_ptr != 0 {
        return Err(Status::BadCache);
    } else {
        (None, None)
    };
    let (qh, qr, oh, or) = (d.q_head as u64, d.q_row as u64, d.o_head as u64, d.o_row as u64);
    let q_len = extent(hq, nq, dk, qh, qr).ok_or(Status::BadQ)?;
    let q = region(d.q_ptr, q_len, 4, mem, Status::BadQ)?;
    let o_len = extent(hq, nq, dv, oh, or).ok_or(Status::BadOut)?;
    let o = region(d.o_ptr, o_len, 4, mem, Status::BadOut)?;
    if !distinct(hq, nq, dv, oh, or) {
        return Err(Status::BadOut);
    }
    let page_table =
        if paged { Some(region(d.page_table_ptr, d.page_count as u64, 4, mem, Status::BadCache)?) } else { None };
    let lse = if d.lse_ptr == 0 { None } else { Some(region(d.lse_ptr, hq * nq, 4, mem, Status::BadLse)?) };
    let sinks = if d.sinks_ptr == 0 { None } else { Some(region(d.sinks_ptr, hq, 4, mem, Status::BadSinks)?) };

    let inputs: Vec<Region> =
        [Some(k), Some(v), k_scale, v_scale, Some(q), sinks, page_table].iter().flatten().copied().collect();
    if inputs.iter().any(|r| r.overlaps(&o)) {
        return Err(Status::BadOut);
    }
    if let Some(l) = lse {
        if inputs.iter().any(|r| r.overlaps(&l)) || o.overlaps(&l) {
            return Err(Status::BadLse);
        }
    }
    Ok(CheckedDecode { k, v, k_scale, v_scale, q, o, lse, sinks, page_table })
}

/// The pages holding positions [start, end) are pages of the pool (the other table entries are never read).
pub fn page_table_ok(table: &[u32], d: &DecodeDesc) -> bool {
    if d.start == d.end {
        return true;
    }
    let ps = d.page_size as usize;
    let (first, last) = (d.start as usize / ps, (d.end as usize - 1) / ps);
    last < table.len() && table[first..=last].iter().all(|&p| p < d.capacity)
}
