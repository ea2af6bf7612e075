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
}
