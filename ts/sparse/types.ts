/**
 * Structured sparsity (issue #4): the `sparsity` option and its normalised, compiled form. One representation
 * serves every pattern: a block mask over blocks of BQ query positions × BK keys (FULL: every pair of the block is
 * allowed by the pattern; PARTIAL: a per-element rule decides), plus the data of that rule. Semantics are written
 * on `RawDesc` in crate/src/desc.rs; the float64 reference (ts/reference/sparse.ts) evaluates them pair by pair.
 */
import type { Lengths } from '../types.js';

/** Query positions per block of the block mask (= the exact kernel's query block). */
export const SPARSE_BQ = 32;
/** Keys per block of the block mask (= the exact kernel's key block). */
export const SPARSE_BK = 128;
export const KIND_FULL = 1;
export const KIND_PARTIAL = 2;

/** A block layout: `layout[r · cols + c]` nonzero = query block r may attend key block c; blocks of
 * `blockSize` = [bq, bk] positions; layout has ceil(Nq / bq) × ceil(Nk / bk) entries. */
export interface BlockLayoutOption {
  layout: Uint8Array;
  blockSize: readonly [number, number];
}

/** BigBird's random blocks: `count` distinct key blocks per query block, drawn from `seed` (mulberry32). Blocks are
 * those of `blocks.blockSize` when a layout is given, else [32, 128]. */
export interface RandomBlocksOption {
  count: number;
  seed: number;
}

/** Arbitrary sparsity (graph attention): query i may attend keys colIdx[rowPtr[i] .. rowPtr[i + 1]). */
export interface CsrOption {
  rowPtr: Lengths;
  colIdx: Lengths;
}

/**
 * Structured sparsity: query i may attend key j when ANY listed part allows it (OR), and the result is ANDed with
 * causal / window / mask / lengths. Positions are those of the whole problem; diag(i) = i (+ Nk − Nq when the
 * causal / window alignment is 'bottom-right').
 */
export interface SparsityOption {
  /** Dilated sliding window: keys j with |diag − j| ≤ window·dilation and (diag − j) mod dilation = 0. */
  window?: number;
  /** Dilation d ≥ 1 of `window` (default 1). */
  dilation?: number;
  /** Longformer global tokens: these positions attend every key and are attended by every query. */
  globalTokens?: Lengths;
  /** BigBird random key blocks per query block. */
  randomBlocks?: RandomBlocksOption;
  /** Block-sparse layout. */
  blocks?: BlockLayoutOption;
  /** Arbitrary sparsity as CSR over query rows. */
  csr?: CsrOption;
}

/** The normalised pattern (what the predicate needs) and its compiled block mask. */
export interface SparseSpec {
  /** -1 = no window. */
  window: number;
  dilation: number;
  /** diag = gi + shift. */
  shift: number;
  /** Strictly increasing. */
  globals: Uint32Array;
  /** The layout with the random blocks merged in. */
  layout?: { data: Uint8Array; bq: number; bk: number; rows: number; cols: number };
  /** Rows sorted, over nqFull rows. */
  csr?: { rowPtr: Uint32Array; colIdx: Uint32Array };
  /** Block mask: ceil(nqFull / BQ) rows. */
  blockRows: number;
  rowPtr: Uint32Array;
  idx: Uint32Array;
  kind: Uint8Array;
}
