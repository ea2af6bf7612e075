//! webattn: attention kernels for WebAssembly SIMD128 (exact FlashAttention-2 forward) behind a descriptor ABI.

pub mod abi;
pub mod alibi;
pub mod check;
pub mod decode;
pub mod desc;
pub mod exact;
pub mod gemm;
pub mod mask;
pub mod math;
pub mod position;
pub mod problem;
pub mod simd;
pub mod sparse;
pub mod status;
pub mod variants;

#[cfg(test)]
mod tests;
