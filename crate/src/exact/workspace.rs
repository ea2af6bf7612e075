//! The scratch of one call, allocated once (fallibly) and reused by every block — and by the next call of the same
//! dims: a pool worker runs one head, or one block of rows, per call, and allocating and zero-filling ~0.3 MB each
//! time cost it ~2 % of its kernel time at 512 keys.

use std::cell::RefCell;

use super::blocks::{round_up, BC, BR, NC, NR};
use crate::mask::Span;
use crate::problem::OutOfMemory;

/// The largest workspace kept between calls: a bigger one (long key ranges) would hold wasm memory that other
/// kernels could use.
const SPARE_MAX_BYTES: usize = 4 << 20;

thread_local! {
    static SPARE: RefCell<Option<Workspace>> = const { RefCell::new(None) };
}

pub struct Workspace {
    /// Packed query block: BR rows × dk (scaled, cosine-normalised), interleaved by groups of MR rows.
    pub q: Vec<f32>,
    /// Every key of the current (batch, kv head), packed once as panels of dk × NR (O(Nk·dk), never N×N).
    pub k: Vec<f32>,
    /// Value block when V cannot be used in place: BC rows × dvp.
    pub v: Vec<f32>,
    /// Logits, then probabilities: BR rows × BC.
    pub s: Vec<f32>,
    /// Unnormalised output accumulator: BR rows × dvp.
    pub o: Vec<f32>,
    /// Running maximum (log2 domain) and running sum per row.
    pub m: Vec<f32>,
    pub l: Vec<f32>,
    /// Key span of each query position of the block.
    pub spans: Vec<Span>,
    /// The block mask's per-element rule for one row of a key block (`crate::sparse`).
    pub allow: Vec<bool>,
    /// Value width rounded up to the P·V tile width.
    pub dvp: usize,
    /// Non-finite values (∞, NaN) among the values of keys [0, j) of one (batch, kv head): `nonfinite[j]`, counted
    /// when a block first needs it (see flash::key_block); `nonfinite_of` says for which (batch, kv head).
    pub nonfinite: Vec<u32>,
    pub nonfinite_of: Option<(usize, usize)>,
    /// (dk, dv, nk) it was made for.
    dims: (usize, usize, usize),
}

fn zeros<T: Clone>(n: usize, value: T) -> Result<Vec<T>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
    v.resize(n, value);
    Ok(v)
}

impl Workspace {
    pub fn new(dk: usize, dv: usize, nk: usize) -> Result<Self, OutOfMemory> {
        let dvp = round_up(dv, NC);
        let area = |a: usize, b: usize| a.checked_mul(b).ok_or(OutOfMemory);
        Ok(Workspace {
            q: zeros(area(BR, dk)?, 0.0)?,
            k: zeros(area(round_up(nk, NR), dk)?, 0.0)?,
            v: zeros(area(BC, dvp)?, 0.0)?,
            s: zeros(BR * BC, 0.0)?,
            o: zeros(area(BR, dvp)?, 0.0)?,
            m: zeros(BR, 0.0)?,
            l: zeros(BR, 0.0)?,
            spans: zeros(BR, Span::EMPTY)?,
            allow: zeros(BC, false)?,
            dvp,
            nonfinite: zeros(nk + 1, 0)?,
            nonfinite_of: None,
            dims: (dk, dv, nk),
        })
    }

    /// The workspace of a call: the previous call's when made for the same dims, else a new one (the spare dropped
    /// first). A reused one holds that call's numbers, which is safe because every buffer is written before it is read
    /// (as between the blocks of one call: the packers write the zero padding themselves); only the per-(batch,
    /// kv head) count of non-finite values must be recounted, for these are other values.
    pub fn take(dk: usize, dv: usize, nk: usize) -> Result<Self, OutOfMemory> {
        if let Some(mut ws) = SPARE.with(|s| s.borrow_mut().take()) {
            if ws.dims == (dk, dv, nk) {
                ws.nonfinite_of = None;
                return Ok(ws);
            }
        }
        Workspace::new(dk, dv, nk)
    }

    /// Keeps this workspace for the next call, unless it is too big to hold on to.
    pub fn give_back(self) {
        let floats =
            self.q.len() + self.k.len() + self.v.len() + self.s.len() + self.o.len() + self.m.len() + self.l.len();
        let bytes =
            4 * (floats + self.nonfinite.len()) + self.allow.len() + self.spans.len() * std::mem::size_of::<Span>();
        if bytes <= SPARE_MAX_BYTES {
            SPARE.with(|s| *s.borrow_mut() = Some(self));
        }
    }
}
