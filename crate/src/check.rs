//! Validation of a `RawDesc` against the memory it points into. Pure arithmetic (no memory access): it decides
//! whether every operand lies inside [lo, len) with its alignment, whether the outputs overlap anything, and whether
//! every option is known, and turns the descriptor into byte regions for `abi.rs`. Every failure names its field
//! through a `Status`.

use crate::desc::{
    RawDesc, ALIGN_BOTTOM_RIGHT, ALIGN_TOP_LEFT, DESC_MAGIC, FLAG_LSE_ALIBI_SHIFTED, SIM_COSINE, SIM_DOT,
};
use crate::problem::{Dims, Strides};
use crate::status::Status;

/// The addressable part of memory: operands must lie in [lo, len).
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub lo: u64,
    pub len: u64,
}

/// A byte range [ptr, ptr + bytes) of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub ptr: usize,
    pub bytes: usize,
}

impl Region {
    pub fn overlaps(&self, o: &Region) -> bool {
        let (a, b) = (self.ptr as u64, o.ptr as u64);
        a < b + o.bytes as u64 && b < a + self.bytes as u64
    }
}

/// An operand: where it lies, how many elements the region holds, and its element strides.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    pub region: Region,
    pub len: usize,
    pub strides: Strides,
}

/// A descriptor that passed every check (per-batch length values excepted: they live in memory).
#[derive(Clone, Debug)]
pub struct Checked {
    pub dims: Dims,
    pub q: Placed,
    pub k: Placed,
    pub v: Placed,
    pub o: Placed,
    pub mask: Option<Placed>,
    pub bias: Option<Placed>,
    pub q_lens: Option<Region>,
    pub k_lens: Option<Region>,
    pub lse: Option<Region>,
    pub weights: Option<Region>,
    /// f32[hq] ALiBi slopes (their values are checked where memory is read, in abi).
    pub alibi: Option<Region>,
    /// f32[hq, rel_len] relative-position bias table.
    pub rel: Option<Region>,
    /// Global query / key counts (nq_full / nk_full, defaulted).
    pub nq_full: u64,
    pub nk_full: u64,
    /// The block mask's arrays (their values are checked where memory is read, in abi).
    pub sparse: Option<SparseRegions>,
}

/// Where the arrays of a block mask lie (None = zero elements / absent).
#[derive(Clone, Copy, Debug)]
pub struct SparseRegions {
    pub row_ptr: Region,
    pub idx: Option<Region>,
    pub kind: Option<Region>,
    pub globals: Option<Region>,
    /// The layout and its rows / cols.
    pub layout: Option<(Region, u64, u64)>,
    pub csr_row_ptr: Option<Region>,
    pub csr_col: Option<Region>,
}

/// The block-mask words: all 0 when absent; else sizes consistent with nq_full / nk_full, arrays in memory and
/// aligned, k_start a multiple of the key block (listed blocks are global, so local blocks must stay aligned).
fn check_sparse(d: &RawDesc, nq_full: u64, nk_full: u64, mem: Memory) -> Result<Option<SparseRegions>, Status> {
    use crate::sparse::{BK, BQ};
    let bad = Status::BadSparse;
    let words = [
        d.sp_row_ptr,
        d.sp_idx,
        d.sp_kind,
        d.sp_nnz,
        d.sp_dilation,
        d.sp_globals,
        d.sp_globals_len,
        d.sp_layout,
        d.sp_layout_bq,
        d.sp_layout_bk,
        d.sp_csr_row_ptr,
        d.sp_csr_col,
        d.sp_csr_nnz,
    ];
    if d.sp_reserved != 0 {
        return Err(bad);
    }
    if d.sp_blocks == 0 {
        return if words.iter().all(|&w| w == 0) && d.sp_window == 0 { Ok(None) } else { Err(bad) };
    }
    if d.sp_blocks as u64 != (nq_full + BQ as u64 - 1) / BQ as u64 || d.k_start as u64 % BK as u64 != 0 {
        return Err(bad);
    }
    if d.sp_window < -1 || d.sp_dilation == 0 {
        return Err(bad);
    }
    // Zero elements: the pointer must be 0 too; otherwise a region in memory.
    let opt = |ptr: u32, count: u64, elem: u64| -> Result<Option<Region>, Status> {
        match (ptr, count) {
            (0, 0) => Ok(None),
            (_, 0) | (0, _) => Err(bad),
            _ => region(ptr, count, elem, mem, bad).map(Some),
        }
    };
    let row_ptr = region(d.sp_row_ptr, d.sp_blocks as u64 + 1, 4, mem, bad)?;
    let idx = opt(d.sp_idx, d.sp_nnz as u64, 4)?;
    let kind = opt(d.sp_kind, d.sp_nnz as u64, 1)?;
    let globals = opt(d.sp_globals, d.sp_globals_len as u64, 4)?;
    let layout = if d.sp_layout == 0 {
        if d.sp_layout_bq != 0 || d.sp_layout_bk != 0 {
            return Err(bad);
        }
        None
    } else {
        if d.sp_layout_bq == 0 || d.sp_layout_bk == 0 {
            return Err(bad);
        }
        let rows = (nq_full + d.sp_layout_bq as u64 - 1) / d.sp_layout_bq as u64;
        let cols = (nk_full + d.sp_layout_bk as u64 - 1) / d.sp_layout_bk as u64;
        Some((region(d.sp_layout, rows * cols, 1, mem, bad)?, rows, cols))
    };
    let (csr_row_ptr, csr_col) = if d.sp_csr_row_ptr == 0 {
        if d.sp_csr_col != 0 || d.sp_csr_nnz != 0 {
            return Err(bad);
        }
        (None, None)
    } else {
        (Some(region(d.sp_csr_row_ptr, nq_full + 1, 4, mem, bad)?), opt(d.sp_csr_col, d.sp_csr_nnz as u64, 4)?)
    };
    Ok(Some(SparseRegions { row_ptr, idx, kind, globals, layout, csr_row_ptr, csr_col }))
}

/// Extents of a 4-D operand [batch, head, row, col].
type Extents = [u64; 4];

fn strides_of(o: &crate::desc::Operand) -> [u64; 3] {
    [o.strides.batch as u64, o.strides.head as u64, o.strides.row as u64]
}

/// Places a strided operand of `elem` bytes per element (alignment `elem`).
fn place(op: &crate::desc::Operand, ext: Extents, elem: u64, mem: Memory, bad: Status) -> Result<Placed, Status> {
    let s = strides_of(op);
    let mut last: u64 = ext[3] - 1;
    for (e, st) in ext[..3].iter().zip(s) {
        last = (e - 1).checked_mul(st).and_then(|x| x.checked_add(last)).ok_or(bad)?;
    }
    let count = last + 1;
    let region = region(op.ptr, count, elem, mem, bad)?;
    let strides = Strides { batch: s[0] as usize, head: s[1] as usize, row: s[2] as usize };
    Ok(Placed { region, len: count as usize, strides })
}

/// A contiguous region of `count` elements of `elem` bytes at `ptr`, aligned to `elem`, inside [mem.lo, mem.len).
/// Shared by every descriptor's checks (each with its own status type).
pub fn region<E: Copy>(ptr: u32, count: u64, elem: u64, mem: Memory, bad: E) -> Result<Region, E> {
    let ptr = ptr as u64;
    let bytes = count.checked_mul(elem).ok_or(bad)?;
    let end = ptr.checked_add(bytes).ok_or(bad)?;
    if ptr == 0 || ptr < mem.lo || end > mem.len || ptr % elem != 0 || bytes > u32::MAX as u64 {
        return Err(bad);
    }
    Ok(Region { ptr: ptr as usize, bytes: bytes as usize })
}

/// Whether distinct indices of a strided array map to distinct elements. `outer` holds (stride, extent) of the
/// outer dims, `inner` the extent of the innermost (stride 1) dim: sorted by stride, each stride must step over
/// everything the smaller ones reach.
pub fn distinct_strided(outer: &[(u64, u64)], inner: u64) -> bool {
    let mut dims: Vec<(u64, u64)> = outer.iter().copied().filter(|&(_, e)| e > 1).collect();
    dims.push((1, inner));
    dims.sort_unstable();
    let mut reach = 0u64;
    for (stride, e) in dims {
        if stride <= reach {
            return false;
        }
        reach += stride * (e - 1);
    }
    true
}

pub fn check(d: &RawDesc, mem: Memory) -> Result<Checked, Status> {
    if d.magic != DESC_MAGIC {
        return Err(Status::BadMagic);
    }
    if d.flags & !FLAG_LSE_ALIBI_SHIFTED != 0
        || d.reserved != 0
        || (d.rel_ptr == 0 && (d.rel_len != 0 || d.rel_zero != 0))
    {
        return Err(Status::BadFlags);
    }
    let raw = [d.b, d.hq, d.hkv, d.nq, d.nk, d.dk, d.dv];
    if raw.contains(&0) {
        return Err(Status::BadDims);
    }
    let [b, hq, hkv, nq, nk, dk, dv] = raw.map(|x| x as u64);
    // Every element count must fit u32 (and so usize on wasm32): b·hq·nq·max(dk, dv), b·hkv·nk·max(dk, dv), and
    // b·hq·nq·nk only when the weights are asked for (masks and biases are placed with checked u64 extents below).
    let fits = |xs: &[u64]| xs.iter().try_fold(1u64, |a, &x| a.checked_mul(x)).map_or(false, |p| p <= u32::MAX as u64);
    let weights_nk = if d.weights_ptr != 0 { nk } else { 1 };
    if !fits(&[b, hq, nq, dk.max(dv).max(weights_nk)]) || !fits(&[b, hkv, nk, dk.max(dv)]) {
        return Err(Status::BadDims);
    }
    if hq % hkv != 0 {
        return Err(Status::BadHeads);
    }
    if !d.scale.is_finite() {
        return Err(Status::BadScale);
    }
    if !(d.softcap.is_finite() && d.softcap >= 0.0) {
        return Err(Status::BadSoftcap);
    }
    if d.similarity != SIM_DOT && d.similarity != SIM_COSINE {
        return Err(Status::BadSimilarity);
    }
    if d.align != ALIGN_TOP_LEFT && d.align != ALIGN_BOTTOM_RIGHT {
        return Err(Status::BadAlign);
    }
    if d.win_left < -1 || d.win_right < -1 {
        return Err(Status::BadWindow);
    }
    let nq_full = if d.nq_full == 0 { nq } else { d.nq_full as u64 };
    let nk_full = if d.nk_full == 0 { nk } else { d.nk_full as u64 };
    if d.q_start as u64 + nq > nq_full || d.k_start as u64 + nk > nk_full {
        return Err(Status::BadSplit);
    }

    let q = place(&d.q, [b, hq, nq, dk], 4, mem, Status::BadQ)?;
    let k = place(&d.k, [b, hkv, nk, dk], 4, mem, Status::BadK)?;
    let v = place(&d.v, [b, hkv, nk, dv], 4, mem, Status::BadV)?;
    let o_ext = [b, hq, nq, dv];
    let o = place(&d.o, o_ext, 4, mem, Status::BadOut)?;
    for (p, bad) in [(&d.q, Status::BadQ), (&d.k, Status::BadK), (&d.v, Status::BadV), (&d.o, Status::BadOut)] {
        if p.strides.row == 0 {
            return Err(bad);
        }
    }
    let os = strides_of(&d.o);
    if !distinct_strided(&[(os[0], o_ext[0]), (os[1], o_ext[1]), (os[2], o_ext[2])], o_ext[3]) {
        return Err(Status::BadOut);
    }
    let optional = |op: &crate::desc::Operand, elem: u64, bad: Status| {
        if op.ptr == 0 {
            Ok(None)
        } else {
            place(op, [b, hq, nq, nk], elem, mem, bad).map(Some)
        }
    };
    let mask = optional(&d.mask, 1, Status::BadMask)?;
    let bias = optional(&d.bias, 4, Status::BadBias)?;
    let lens = |ptr: u32, bad: Status| if ptr == 0 { Ok(None) } else { region(ptr, b, 4, mem, bad).map(Some) };
    let q_lens = lens(d.q_lens_ptr, Status::BadQLens)?;
    let k_lens = lens(d.k_lens_ptr, Status::BadKLens)?;
    let alibi = if d.alibi_ptr == 0 { None } else { Some(region(d.alibi_ptr, hq, 4, mem, Status::BadAlibi)?) };
    let rel = if d.rel_ptr == 0 {
        None
    } else if d.rel_len == 0 || d.rel_zero >= d.rel_len {
        return Err(Status::BadRelBias);
    } else {
        Some(region(d.rel_ptr, hq * d.rel_len as u64, 4, mem, Status::BadRelBias)?)
    };
    let out =
        |ptr: u32, count: u64, bad: Status| if ptr == 0 { Ok(None) } else { region(ptr, count, 4, mem, bad).map(Some) };
    let lse = out(d.lse_ptr, b * hq * nq, Status::BadLse)?;
    let weights = out(d.weights_ptr, b * hq * nq * nk, Status::BadWeights)?;

    let sparse = check_sparse(d, nq_full, nk_full, mem)?;
    let mut inputs: Vec<Region> = [
        Some(q.region),
        Some(k.region),
        Some(v.region),
        mask.map(|m| m.region),
        bias.map(|m| m.region),
        q_lens,
        k_lens,
        alibi,
        rel,
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(s) = sparse {
        inputs.extend(
            [Some(s.row_ptr), s.idx, s.kind, s.globals, s.layout.map(|l| l.0), s.csr_row_ptr, s.csr_col]
                .into_iter()
                .flatten(),
        );
    }
    let outputs = [(Some(o.region), Status::BadOut), (lse, Status::BadLse), (weights, Status::BadWeights)];
    for (n, (out, bad)) in outputs.iter().enumerate() {
        let out = match out {
            Some(out) => out,
            None => continue,
        };
        let clash_in = inputs.iter().any(|i| i.overlaps(out));
        let clash_out = outputs[..n].iter().any(|(o, _)| o.map_or(false, |o| o.overlaps(out)));
        if clash_in || clash_out {
            return Err(*bad);
        }
    }

    let dims = Dims {
        b: b as usize,
        hq: hq as usize,
        hkv: hkv as usize,
        nq: nq as usize,
        nk: nk as usize,
        dk: dk as usize,
        dv: dv as usize,
    };
    Ok(Checked { dims, q, k, v, o, mask, bias, q_lens, k_lens, lse, weights, alibi, rel, nq_full, nk_full, sparse })
}

/// Per-batch lengths must not exceed the global count.
pub fn lens_ok(lens: &[u32], global: u64) -> bool {
    lens.iter().all(|&l| l as u64 <= global)
}
