//! Which keys a query row may attend: lengths, window / causal bands with their alignment, and the split offsets
//! reduce, for one batch, to one contiguous local key span per query row. The mask operand (if any) is applied on
//! top, per element. From the spans of a block of rows follow the per-(query block, key block) decisions.

use crate::problem::Structure;

/// A half-open local key range [lo, hi); empty when lo >= hi.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub lo: usize,
    pub hi: usize,
}

impl Span {
    pub const EMPTY: Span = Span { lo: 0, hi: 0 };

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.lo >= self.hi
    }

    #[inline(always)]
    pub fn contains(&self, j: usize) -> bool {
        self.lo <= j && j < self.hi
    }
}

/// The structural mask of one batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchMask {
    q_len: i64,
    k_len: i64,
    shift: i64,
    win_left: Option<i64>,
    win_right: Option<i64>,
    q_start: i64,
    k_start: i64,
    nq: usize,
    nk: usize,
}

impl BatchMask {
    pub fn new(s: &Structure, b: usize, nq: usize, nk: usize) -> Self {
        let q_len = s.q_lens.as_ref().map_or(s.nq_full, |l| l[b] as u64) as i64;
        let k_len = s.k_lens.as_ref().map_or(s.nk_full, |l| l[b] as u64) as i64;
        BatchMask {
            q_len,
            k_len,
            shift: if s.bottom_right { k_len - q_len } else { 0 },
            win_left: s.win_left.map(|w| w as i64),
            win_right: s.win_right.map(|w| w as i64),
            q_start: s.q_start as i64,
            k_start: s.k_start as i64,
            nq,
            nk,
        }
    }

    /// Local rows [0, valid_rows) are query rows; the others are padding (no key, output 0, LSE −∞).
    pub fn valid_rows(&self) -> usize {
        (self.q_len - self.q_start).clamp(0, self.nq as i64) as usize
    }

    /// The local keys that local query row `i` may attend, before the mask operand.
    pub fn span(&self, i: usize) -> Span {
        let gi = self.q_start + i as i64;
        if gi >= self.q_len {
            return Span::EMPTY;
        }
        let diag = gi + self.shift;
        let mut lo = self.k_start;
        let mut hi = (self.k_start + self.nk as i64).min(self.k_len);
        if let Some(w) = self.win_left {
            lo = lo.max(diag - w);
        }
        if let Some(w) = self.win_right {
            hi = hi.min(diag + w + 1);
        }
        if lo >= hi {
            return Span::EMPTY;
        }
        Span { lo: (lo - self.k_start) as usize, hi: (hi - self.k_start) as usize }
    }
}

/// What a (query block, key block) pair needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// No row attends any key of the block.
    Skip,
    /// Every row attends every key of the block: no per-element test.
    Full,
    /// Test every element (spans and mask operand).
    Partial,
    /// Test every element (spans, mask operand and the block mask's per-element rule, `crate::sparse`).
    Sparse,
}

/// The kind of a block listed by a block mask (`crate::sparse`, kind byte FULL / PARTIAL) given what the spans and
/// the mask operand say (`classify`): both must allow a pair (AND).
pub fn with_block_mask(spans_kind: BlockKind, kind_byte: u8) -> BlockKind {
    match (spans_kind, kind_byte) {
        (BlockKind::Skip, _) | (_, 0) => BlockKind::Skip,
        (_, crate::sparse::KIND_PARTIAL) => BlockKind::Sparse,
        (k, _) => k,
    }
}

/// The union of the spans (the only keys a block of rows needs to visit).
pub fn union(spans: &[Span]) -> Span {
    let mut u = Span { lo: usize::MAX, hi: 0 };
    for s in spans.iter().filter(|s| !s.is_empty()) {
        u.lo = u.lo.min(s.lo);
        u.hi = u.hi.max(s.hi);
    }
    if u.is_empty() {
        Span::EMPTY
    } else {
        u
    }
}

/// Classifies keys [j0, j1) for the rows whose spans are given.
pub fn classify(spans: &[Span], j0: usize, j1: usize, has_mask: bool) -> BlockKind {
    let mut any = false;
    let mut all = true;
    for s in spans {
        let overlaps = s.lo < j1 && j0 < s.hi && !s.is_empty();
        any |= overlaps;
        all &= s.lo <= j0 && j1 <= s.hi;
    }
    if !any {
        BlockKind::Skip
    } else if all && !has_mask {
        BlockKind::Full
    } else {
        BlockKind::Partial
    }
}

/// The per-element predicate: key `j` of a row with span `span` and mask byte `mask` (None = no mask operand).
#[inline(always)]
pub fn allowed(span: Span, j: usize, mask: Option<u8>) -> bool {
    span.contains(j) && mask != Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(bottom_right: bool, wl: Option<u64>, wr: Option<u64>, nq: u64, nk: u64) -> Structure {
        Structure {
            bottom_right,
            win_left: wl,
            win_right: wr,
            q_lens: None,
            k_lens: None,
            q_start: 0,
            k_start: 0,
            nq_full: nq,
            nk_full: nk,
            sparse: None,
        }
    }

    #[test]
    fn causal_alignments() {
        let top = BatchMask::new(&structure(false, None, Some(0), 3, 5), 0, 3, 5);
        assert_eq!(top.span(0), Span { lo: 0, hi: 1 });
        assert_eq!(top.span(2), Span { lo: 0, hi: 3 });
        let bottom = BatchMask::new(&structure(true, None, Some(0), 3, 5), 0, 3, 5);
        assert_eq!(bottom.span(0), Span { lo: 0, hi: 3 });
        assert_eq!(bottom.span(2), Span { lo: 0, hi: 5 });
        // More queries than keys, bottom-right: the first rows see nothing.
        let tall = BatchMask::new(&structure(true, None, Some(0), 5, 3), 0, 5, 3);
        assert!(tall.span(1).is_empty());
        assert_eq!(tall.span(2), Span { lo: 0, hi: 1 });
    }

    #[test]
    fn windows_lengths_and_splits() {
        let mut s = structure(false, Some(1), Some(2), 10, 10);
        s.k_lens = Some(vec![6]);
        s.q_lens = Some(vec![8]);
        s.q_start = 4;
        s.k_start = 2;
        let m = BatchMask::new(&s, 0, 6, 8);
        assert_eq!(m.valid_rows(), 4);
        // row 0 is global 4: keys 3..=6, capped by kLen 6 -> global 3..6 -> local 1..4
        assert_eq!(m.span(0), Span { lo: 1, hi: 4 });
        assert!(m.span(4).is_empty());
    }

    #[test]
    fn block_decisions() {
        let spans = [Span { lo: 0, hi: 4 }, Span { lo: 0, hi: 8 }];
        assert_eq!(classify(&spans, 0, 4, false), BlockKind::Full);
        assert_eq!(classify(&spans, 0, 4, true), BlockKind::Partial);
        assert_eq!(classify(&spans, 4, 8, false), BlockKind::Partial);
        assert_eq!(classify(&spans, 8, 12, false), BlockKind::Skip);
        assert_eq!(union(&spans), Span { lo: 0, hi: 8 });
        assert_eq!(union(&[Span::EMPTY]), Span::EMPTY);
        assert_eq!(with_block_mask(BlockKind::Full, crate::sparse::KIND_PARTIAL), BlockKind::Sparse);
        assert_eq!(with_block_mask(BlockKind::Partial, crate::sparse::KIND_FULL), BlockKind::Partial);
        assert_eq!(with_block_mask(BlockKind::Skip, crate::sparse::KIND_FULL), BlockKind::Skip);
        assert_eq!(with_block_mask(BlockKind::Full, 0), BlockKind::Skip);
        assert!(allowed(spans[0], 3, Some(1)) && !allowed(spans[0], 3, Some(0)) && !allowed(spans[0], 4, None));
    }
}
