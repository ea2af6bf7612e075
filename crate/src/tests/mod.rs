//! Tests of the whole kernel against a float64 oracle, and of the ABI's validation.

mod abi;
mod exact;
pub(crate) mod naive;
mod rng;
mod sparse;

use crate::problem::{Dims, Problem, Strides, Structure, View};

/// A problem over compact BHND q, k, v with dot-product logits and nothing else (tests set what they need on top).
pub(crate) fn compact_problem<'a>(
    dims: Dims,
    (q, k, v): (&'a [f32], &'a [f32], &'a [f32]),
    scale: f32,
    structure: Structure,
) -> Problem<'a> {
    Problem {
        dims,
        q: View { data: q, strides: Strides::compact(dims.hq, dims.nq, dims.dk) },
        k: View { data: k, strides: Strides::compact(dims.hkv, dims.nk, dims.dk) },
        v: View { data: v, strides: Strides::compact(dims.hkv, dims.nk, dims.dv) },
        mask: None,
        bias: None,
        scale,
        softcap: 0.0,
        cosine: false,
        structure,
        alibi: None,
        rel_bias: None,
        lse_alibi_shifted: false,
    }
}
