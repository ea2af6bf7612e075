//! The partial results of the key splits and their log-sum-exp merge (flash-decoding's reduction), with the
//! attention sink added once to the merged denominator.

use crate::math::{exp2_scalar, LN_2};
use crate::problem::OutOfMemory;

/// Per split and row: running max m (log2 domain), sum l, unnormalised output acc (dv wide).
pub struct Partials {
    rows: usize,
    dv: usize,
    m: Vec<f32>,
    l: Vec<f32>,
    acc: Vec<f32>,
}

fn zeros(n: usize) -> Result<Vec<f32>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
    v.resize(n, 0.0);
    Ok(v)
}

impl Partials {
    pub fn new(splits: usize, rows: usize, dv: usize) -> Result<Self, OutOfMemory> {
        let n = splits.checked_mul(rows).ok_or(OutOfMemory)?;
        Ok(Partials { rows, dv, m: zeros(n)?, l: zeros(n)?, acc: zeros(n.checked_mul(dv).ok_or(OutOfMemory)?)? })
    }

    fn splits(&self) -> usize {
        self.m.len() / self.rows.max(1)
    }

    /// (m, l, acc) of split s, for every row.
    pub fn split_mut(&mut self, s: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
        let (r, d) = (self.rows, self.dv);
        (&mut self.m[s * r..(s + 1) * r], &mut self.l[s * r..(s + 1) * r], &mut self.acc[s * r * d..(s + 1) * r * d])
    }
}

/// Merges row r over every split into `o` (normalised) and returns the natural-log LSE. `sink` is the row's sink
/// logit in the log2 domain. No key and no sink: o = 0 and −∞.
pub fn merge_row(p: &Partials, r: usize, sink: Option<f32>, o: &mut [f32]) -> f32 {
    let (rows, dv) = (p.rows, p.dv);
    let mut big = f32::MIN;
    for s in 0..p.splits() {
        big = big.max(p.m[s * rows + r]);
    }
    if let Some(x) = sink {
        big = big.max(x);
    }
    o.fill(0.0);
    let mut l = 0.0f32;
    for s in 0..p.splits() {
        let ls = p.l[s * rows + r];
        if ls == 0.0 {
            continue;
        }
        let f = exp2_scalar(p.m[s * rows + r] - big);
        l += ls * f;
        let acc = &p.acc[(s * rows + r) * dv..][..dv];
        for (x, a) in o.iter_mut().zip(acc) {
            *x += a * f;
        }
    }
    if let Some(x) = sink {
        l += exp2_scalar(x - big);
    }
    if l == 0.0 {
        return f32::NEG_INFINITY;
    }
    let inv = 1.0 / l;
    for x in o.iter_mut() {
        *x *= inv;
    }
    ((big as f64 + (l as f64).log2()) * LN_2) as f32
}
