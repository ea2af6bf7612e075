//! Tests of the whole kernel against a float64 oracle, and of the ABI's validation.

mod abi;
mod exact;
pub(crate) mod naive;
mod rng;
mod sparse;
