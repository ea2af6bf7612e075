//! The scratch of one call, allocated once (fallibly) and reused by every block.

use super::blocks::{round_up, BC, BR, NC, NR};
use crate::mask::Span;
use crate::problem::OutOfMemory;

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
        })
    }
}
