//! The safe, validated form of a descriptor that the kernels consume: operands are slices plus element strides, the
//! optional parts are `Option`s. `abi.rs` builds it from wasm memory; tests build it from vectors.

/// Element strides of a 4-D operand indexed [batch, head, row, col]; the column stride is 1, 0 broadcasts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strides {
    pub batch: usize,
    pub head: usize,
    pub row: usize,
}

impl Strides {
    /// Compact strides of a [_, heads, rows, cols] array.
    pub fn compact(heads: usize, rows: usize, cols: usize) -> Self {
        Strides { batch: heads * rows * cols, head: rows * cols, row: cols }
    }

    #[inline(always)]
    pub fn at(&self, b: usize, h: usize, row: usize) -> usize {
        b * self.batch + h * self.head + row * self.row
    }
}

/// A read-only strided operand. Every index reachable from the problem's dimensions lies inside `data`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T> {
    pub data: &'a [T],
    pub strides: Strides,
}

impl<'a, T> View<'a, T> {
    /// The `len` elements of row (b, h, row) starting at column `col`.
    #[inline(always)]
    pub fn row(&self, b: usize, h: usize, row: usize, col: usize, len: usize) -> &'a [T] {
        let at = self.strides.at(b, h, row) + col;
        &self.data[at..at + len]
    }
}

/// Dimensions: batch, query heads, kv heads, query rows, keys, key/query width, value width.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dims {
    pub b: usize,
    pub hq: usize,
    pub hkv: usize,
    pub nq: usize,
    pub nk: usize,
    pub dk: usize,
    pub dv: usize,
}

/// Everything that decides which (query, key) pairs attend (the structural part of `RawDesc`'s semantics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Structure {
    pub bottom_right: bool,
    /// None = unbounded on that side. Causal is `win_right = Some(0)`.
    pub win_left: Option<u64>,
    pub win_right: Option<u64>,
    /// Valid query rows / keys per batch (global counts); None = `nq_full` / `nk_full`.
    pub q_lens: Option<Vec<u32>>,
    pub k_lens: Option<Vec<u32>>,
    pub q_start: u64,
    pub k_start: u64,
    /// Global counts (already defaulted: never 0).
    pub nq_full: u64,
    pub nk_full: u64,
    /// Structured sparsity as a block mask (`crate::sparse`), ANDed with the rest; None = dense.
    pub sparse: Option<crate::sparse::SparseMask>,
}

/// The inputs of one attention call.
#[derive(Clone, Debug)]
pub struct Problem<'a> {
    pub dims: Dims,
    pub q: View<'a, f32>,
    pub k: View<'a, f32>,
    pub v: View<'a, f32>,
    pub mask: Option<View<'a, u8>>,
    pub bias: Option<View<'a, f32>>,
    pub scale: f32,
    /// 0 = off.
    pub softcap: f32,
    pub cosine: bool,
    pub structure: Structure,
    /// ALiBi slopes, one per query head (`crate::alibi`); None = off.
    pub alibi: Option<&'a [f32]>,
    /// Relative-position bias table (`crate::position`); None = off.
    pub rel_bias: Option<crate::position::RelBias<'a>>,
    /// Report the LSE without the ALiBi row shift (`crate::alibi::row_shift`): for key-range partials, which are
    /// merged by their LSEs before the shift is added once.
    pub lse_alibi_shifted: bool,
}

/// The outputs of one attention call: `o` [b, hq, nq, dv] strided, `lse` [b, hq, nq] and `weights`
/// [b, hq, nq, nk] contiguous.
#[derive(Debug)]
pub struct Outputs<'a> {
    pub o: &'a mut [f32],
    pub o_strides: Strides,
    pub lse: Option<&'a mut [f32]>,
    pub weights: Option<&'a mut [f32]>,
}

/// The kernel could not allocate its scratch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;
