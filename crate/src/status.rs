//! Status codes of the wasm ABI; mirror of `STATUS` in ts/core/status.ts (same numbers, same meaning).

#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    BadMagic = 1,
    BadDims = 2,
    BadHeads = 3,
    BadQ = 4,
    BadK = 5,
    BadV = 6,
    BadOut = 7,
    BadMask = 8,
    BadBias = 9,
    BadQLens = 10,
    BadKLens = 11,
    BadScale = 12,
    BadSoftcap = 13,
    BadSimilarity = 14,
    BadAlign = 15,
    BadWindow = 16,
    BadLse = 17,
    BadWeights = 18,
    BadSplit = 19,
    BadFlags = 20,
    OutOfMemory = 21,
    /// Decode (crate/src/abi/decode.rs): a cache pointer, dtype, capacity or scale table is invalid.
    BadCache = 22,
    /// Decode: cache positions inconsistent (start > end, end - start > capacity, end < nq) or a query needs a key
    /// the cache no longer holds (evicted by the ring buffer).
    BadCacheRange = 23,
    /// Decode: the sinks buffer is out of bounds or misaligned.
    BadSinks = 24,
    /// Variants (crate/src/abi/variants.rs): unknown kind, or an option the kind does not support (causal linformer).
    BadVariant = 25,
    /// Variants: feature / projected-row count invalid for the kind.
    BadFeatures = 26,
    /// Variants: a projection matrix pointer is out of bounds, misaligned, overlapping the output, or set when unused.
    BadProjection = 27,
    /// Exact attention: the ALiBi slopes are out of bounds, misaligned or not finite.
    BadAlibi = 28,
    /// Exact attention: the relative-position bias table is out of bounds or misaligned, or its length / zero index
    /// is invalid.
    BadRelBias = 29,
    /// Exact attention: the block mask (structured sparsity) is out of bounds, misaligned or inconsistent (row
    /// pointers, block indices, kinds, global tokens, layout, CSR), or k_start is not a multiple of its key block.
    BadSparse = 30,
}
