//! Linear-time approximations of softmax attention (issue #4): linear attention (elu + 1 features), Performer
//! FAVOR+ (positive random features), Linformer (sequence projection) and Reformer LSH attention (`lsh`, N log N at
//! most). Each is defined in float64 by ts/reference/variants/ and reached through its own descriptor (`desc`,
//! checked in crate/src/abi/variants.rs).
//!
//! `features` holds the two feature maps, `kernel` the state / prefix-sum loop nest they share, `linformer` the
//! projection in front of the exact flash kernel, `lsh` hashing, sorting and chunked attention; `ops` the padded-row
//! vector helpers.

pub mod check;
pub mod desc;
mod features;
pub mod kernel;
mod linformer;
mod lsh;
mod ops;

#[cfg(test)]
mod lsh_tests;
#[cfg(test)]
mod tests;

use crate::problem::{Dims, OutOfMemory, Strides, View};

/// Which variant, with its parameters.
pub enum Kind<'a> {
    Linear,
    /// `projection` [features, dk] row-major (row a = ω_a).
    Performer {
        features: usize,
        projection: &'a [f32],
    },
    /// `e`, `f` [rows, nk] row-major.
    Linformer {
        rows: usize,
        e: &'a [f32],
        f: &'a [f32],
    },
    /// Reformer shared-QK LSH attention (`k` not read); `rotations` [rounds, dk, buckets / 2] row-major.
    Lsh {
        buckets: usize,
        rounds: usize,
        chunk: usize,
        rotations: &'a [f32],
    },
}

/// One validated variant call.
pub struct VarProblem<'a> {
    pub dims: Dims,
    pub q: View<'a, f32>,
    pub k: View<'a, f32>,
    pub v: View<'a, f32>,
    /// Logit scale (Performer, Linformer); unused by linear attention.
    pub scale: f32,
    /// Causal diagonal offset: query i sees keys j ≤ i + offset (0: top-left, Nk − Nq: bottom-right).
    pub causal: Option<i64>,
    pub kind: Kind<'a>,
}

/// The output [b, hq, nq, dv] with its strides.
pub struct Out<'a> {
    pub o: &'a mut [f32],
    pub strides: Strides,
}

/// Runs the variant. Only fails when scratch cannot be allocated. Linformer ignores `causal` (the ABI rejects it).
pub fn run(p: &VarProblem, out: &mut Out) -> Result<(), OutOfMemory> {
    let inputs = kernel::Inputs { dims: p.dims, q: p.q, k: p.k, v: p.v, causal: p.causal };
    match p.kind {
        Kind::Linear => kernel::run(&inputs, &features::Elu1 { dk: p.dims.dk }, out),
        Kind::Performer { features, projection } => {
            let map = features::Favor::new(projection, features, p.dims.dk, p.scale)?;
            kernel::run(&inputs, &map, out)
        }
        Kind::Linformer { rows, e, f } => {
            linformer::run(p.dims, p.q, p.k, p.v, p.scale, &linformer::Linformer { rows, e, f }, out)
        }
        Kind::Lsh { buckets, rounds, chunk, rotations } => lsh::run(
            p.dims,
            p.q,
            p.v,
            p.scale,
            p.causal.is_some(),
            &lsh::Lsh { buckets, rounds, chunk, rotations },
            out,
        ),
    }
}
