//! Structured sparsity as ONE block-mask representation (issue #4): window, dilation, global tokens, BigBird random
//! blocks, block layouts and CSR are compiled by the SDK (ts/sparse/compile.ts) into, per query block of `BQ`
//! positions, the sorted key blocks of `BK` keys that are FULL (every pair allowed by the pattern: no per-element
//! test) or PARTIAL (the per-element predicate of `predicate.rs` is evaluated). Blocks not listed are skipped. The
//! pattern is defined on global positions and ANDed with the rest of the descriptor (lengths, causal / window, mask).

mod predicate;
#[cfg(test)]
mod tests;

use crate::exact::blocks::{BC, BR};

/// Query positions per block of the block mask (the kernel runs one head per query block of this many positions).
pub const BQ: usize = 32;
/// Keys per block of the block mask.
pub const BK: usize = 128;
/// Kind bytes of a listed block.
pub const KIND_FULL: u8 = 1;
pub const KIND_PARTIAL: u8 = 2;

const _: () = assert!(BQ == BR && BK == BC);

/// A block layout [rows, cols] of `bq` × `bk` blocks (BigBird's random blocks are merged into it by the SDK).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub data: Vec<u8>,
    pub bq: usize,
    pub bk: usize,
    pub rows: usize,
    pub cols: usize,
}

/// Arbitrary sparsity: for global query gi, the allowed global keys col[row_ptr[gi]..row_ptr[gi + 1]], sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csr {
    pub row_ptr: Vec<u32>,
    pub col: Vec<u32>,
}

/// The compiled pattern: block lists plus the data of the per-element predicate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseMask {
    /// Per query block, [row_ptr[r], row_ptr[r + 1]) indexes `idx` / `kind`.
    pub row_ptr: Vec<u32>,
    /// Key block indices (global, strictly increasing within a row).
    pub idx: Vec<u32>,
    /// KIND_FULL or KIND_PARTIAL.
    pub kind: Vec<u8>,
    /// Dilated window half-width w (keys gj with |diag − gj| ≤ w·d and (diag − gj) mod d = 0), None = no window.
    pub window: Option<u64>,
    /// Dilation d ≥ 1.
    pub dilation: u64,
    /// diag = gi + shift (global counts: nk_full − nq_full when bottom-right aligned, else 0).
    pub shift: i64,
    /// Global tokens, strictly increasing: they attend every key and every query attends them.
    pub globals: Vec<u32>,
    pub layout: Option<Layout>,
    pub csr: Option<Csr>,
}

/// Whether `ptr` is a valid CSR row-pointer array over `nnz` entries.
fn row_ptr_ok(ptr: &[u32], nnz: usize) -> bool {
    ptr.first() == Some(&0) && ptr.last().map_or(false, |&x| x as usize == nnz) && ptr.windows(2).all(|w| w[0] <= w[1])
}

/// Whether every row of a CSR holds strictly increasing entries below `bound`.
fn rows_sorted(ptr: &[u32], col: &[u32], bound: u64) -> bool {
    ptr.windows(2).all(|w| {
        let row = &col[w[0] as usize..w[1] as usize];
        row.windows(2).all(|p| p[0] < p[1]) && row.last().map_or(true, |&c| (c as u64) < bound)
    })
}

impl SparseMask {
    /// Checks every value against the global counts (sizes were checked by `check.rs`): row pointers monotone and
    /// ending at the entry count, block indices in range and strictly increasing per row, kinds known, globals
    /// strictly increasing, CSR rows sorted and in range.
    pub fn is_valid(&self, nq_full: u64, nk_full: u64) -> bool {
        let qb = (nq_full as usize + BQ - 1) / BQ;
        let kb = (nk_full + BK as u64 - 1) / BK as u64;
        let blocks_ok = self.row_ptr.len() == qb + 1
            && self.kind.len() == self.idx.len()
            && row_ptr_ok(&self.row_ptr, self.idx.len())
            && rows_sorted(&self.row_ptr, &self.idx, kb)
            && self.kind.iter().all(|&k| k == KIND_FULL || k == KIND_PARTIAL);
        let globals_ok = self.globals.windows(2).all(|w| w[0] < w[1]);
        let layout_ok = self.layout.as_ref().map_or(true, |l| {
            l.bq > 0
                && l.bk > 0
                && l.rows * l.bq >= nq_full as usize
                && l.cols * l.bk >= nk_full as usize
                && l.data.len() == l.rows * l.cols
        });
        let csr_ok = self.csr.as_ref().map_or(true, |c| {
            c.row_ptr.len() as u64 == nq_full + 1
                && row_ptr_ok(&c.row_ptr, c.col.len())
                && rows_sorted(&c.row_ptr, &c.col, nk_full)
        });
        blocks_ok && globals_ok && layout_ok && csr_ok && self.dilation >= 1
    }

    /// The listed key blocks of query block `r` and their kinds.
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[u8]) {
        let (a, b) = (self.row_ptr[r] as usize, self.row_ptr[r + 1] as usize);
        (&self.idx[a..b], &self.kind[a..b])
    }

    /// The kind byte of (query block r, key block kb), 0 when not listed.
    pub fn kind_at(&self, r: usize, kb: usize) -> u8 {
        let (idx, kind) = self.row(r);
        idx.binary_search(&(kb as u32)).map_or(0, |n| kind[n])
    }
}
