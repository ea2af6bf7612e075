/**
 * The normalised attention descriptor (built by spec.ts from the user's arrays and options; consumed by every
 * backend and by the float64 reference) and its word encoding for the wasm ABI (crate/src/desc.rs `RawDesc`).
 */
import type { Layout } from './types.js';
import type { VariantSpec } from './variants/types.js';
import type { SparseSpec } from './sparse/types.js';

/** Element strides of a 4-D operand [batch, head, row, col]; the column stride is 1. 0 broadcasts. */
export interface Strides {
  batch: number;
  head: number;
  row: number;
}

export interface StridedView<T> {
  data: T;
  strides: Strides;
}

export const SIM_DOT = 0;
export const SIM_COSINE = 1;
export const ALIGN_TOP_LEFT = 0;
export const ALIGN_BOTTOM_RIGHT = 1;
/** winLeft / winRight value for "unbounded". */
export const WINDOW_UNBOUNDED = -1;
/** `flags`: the kernel reports the LSE less alibi[h]·alibiRowShift (crate/src/desc.rs). */
export const FLAG_LSE_ALIBI_SHIFTED = 1;

/**
 * R ≥ 0, the largest gj − diag a key of the query at global position `gi` of batch `b` may have by the lengths and the
 * right window (0 when nothing right of its diagonal is visible). The kernel adds alibi[h]·(gj − diag − R), which
 * keeps a row's largest logits near 0 where f32 holds them finely, and adds alibi[h]·R back to the LSE (as
 * crate/src/alibi.rs row_shift; global positions only, so every key range of a row has the same R).
 */
export function alibiRowShift(d: AttentionDescriptor, b: number, gi: number): number {
  const qLen = d.queryLengths ? d.queryLengths[b]! : d.nqFull;
  const kLen = d.keyLengths ? d.keyLengths[b]! : d.nkFull;
  const diag = gi + (d.align === ALIGN_BOTTOM_RIGHT ? kLen - qLen : 0);
  const right = kLen - 1 - diag;
  return Math.max(0, d.winRight < 0 ? right : Math.min(right, d.winRight));
}

export interface AttentionDescriptor {
  b: number;
  hq: number;
  hkv: number;
  nq: number;
  nk: number;
  dk: number;
  dv: number;
  layout: Layout;
  q: StridedView<Float32Array>;
  k: StridedView<Float32Array>;
  v: StridedView<Float32Array>;
  /** Strides of the output (same layout as q, with dv). */
  o: Strides;
  scale: number;
  /** 0 = off. */
  softcap: number;
  similarity: typeof SIM_DOT | typeof SIM_COSINE;
  align: typeof ALIGN_TOP_LEFT | typeof ALIGN_BOTTOM_RIGHT;
  /** -1 = unbounded. Causal is winRight = 0. */
  winLeft: number;
  winRight: number;
  queryLengths?: Uint32Array;
  keyLengths?: Uint32Array;
  mask?: StridedView<Uint8Array>;
  bias?: StridedView<Float32Array>;
  returnLse: boolean;
  returnWeights: boolean;
  /** Caller-provided output buffer, already checked for length. */
  out?: Float32Array;
  /** Global position of local query row 0 / key 0, and the global counts for bottom-right alignment (work splits). */
  qStart: number;
  kStart: number;
  nqFull: number;
  nkFull: number;
  /** A linear-time approximation to run instead of exact attention (its own kernel and descriptor). */
  variant?: VariantSpec;
  /** ALiBi slopes, one per query head: the logit of (i, j) gains alibi[h]·(gj − diag). */
  alibi?: Float32Array;
  /** Report the LSE less alibi[h]·alibiRowShift (key-range partials, merged before the shift is added back). */
  alibiLseShifted?: boolean;
  /** Relative-position bias: the logit of (i, j) gains table[h·len + clamp(gj − diag + zero, 0, len − 1)]. */
  relBias?: RelativeBias;
  /** Structured sparsity: the pattern and its compiled block mask (ts/sparse/), over global positions. */
  sparse?: SparseSpec;
}

/** A bias by relative distance (T5 buckets expanded per distance): `table` [hq, len], distance 0 at `zero`. */
export interface RelativeBias {
  table: Float32Array;
  len: number;
  zero: number;
}

/** Word layout of RawDesc; must match crate/src/desc.rs. */
export const DESC_MAGIC = 0x57415434; // 'WAT4'
export const DESC_WORDS = 68;
export const W = {
  magic: 0, b: 1, hq: 2, hkv: 3, nq: 4, nk: 5, dk: 6, dv: 7,
  q: 8, k: 12, v: 16, o: 20, // each: ptr, batch, head, row
  scale: 24, softcap: 25, similarity: 26, align: 27, winLeft: 28, winRight: 29,
  qLensPtr: 30, kLensPtr: 31,
  mask: 32, bias: 36, // each: ptr, batch, head, row
  lsePtr: 40, weightsPtr: 41, qStart: 42, kStart: 43, nqFull: 44, nkFull: 45, flags: 46, reserved: 47,
  alibiPtr: 48, relPtr: 49, relLen: 50, relZero: 51,
  spBlocks: 52, spRowPtr: 53, spIdx: 54, spKind: 55, spNnz: 56, spWindow: 57, spDilation: 58, spGlobals: 59,
  spGlobalsLen: 60, spLayout: 61, spLayoutBq: 62, spLayoutBk: 63, spCsrRowPtr: 64, spCsrCol: 65, spCsrNnz: 66,
  spReserved: 67,
} as const;

/** Byte pointers of the operands once they sit in wasm memory (0 = absent). */
export interface DescriptorPointers {
  q: number;
  k: number;
  v: number;
  o: number;
  qLens: number;
  kLens: number;
  mask: number;
  bias: number;
  lse: number;
  weights: number;
  /** f32[hq] ALiBi slopes (0 or absent = none). */
  alibi?: number;
  /** f32[hq, len] relative-position bias table (0 or absent = none). */
  relBias?: number;
  /** The block mask's arrays (0 = empty). */
  sparse?: SparsePointers;
}

/** Byte pointers of a block mask's arrays in wasm memory (0 where the array is empty or absent). */
export interface SparsePointers {
  rowPtr: number;
  idx: number;
  kind: number;
  globals: number;
  layout: number;
  csrRowPtr: number;
  csrCol: number;
}

/** Writes `d` at byte offset `at` of `memory` in the RawDesc layout. Strides passed here are the ones the data has
 * inside wasm memory (the SDK copies each operand as one contiguous block, so strides are unchanged). */
export function encodeDescriptor(memory: ArrayBuffer, at: number, d: AttentionDescriptor, p: DescriptorPointers): void {
  const u = new Uint32Array(memory, at, DESC_WORDS);
  const f = new Float32Array(memory, at, DESC_WORDS);
  const i = new Int32Array(memory, at, DESC_WORDS);
  u.fill(0);
  u[W.magic] = DESC_MAGIC;
  u[W.b] = d.b; u[W.hq] = d.hq; u[W.hkv] = d.hkv; u[W.nq] = d.nq; u[W.nk] = d.nk; u[W.dk] = d.dk; u[W.dv] = d.dv;
  const operand = (w: number, ptr: number, s: Strides | undefined): void => {
    u[w] = ptr;
    if (s) { u[w + 1] = s.batch; u[w + 2] = s.head; u[w + 3] = s.row; }
  };
  operand(W.q, p.q, d.q.strides);
  operand(W.k, p.k, d.k.strides);
  operand(W.v, p.v, d.v.strides);
  operand(W.o, p.o, d.o);
  f[W.scale] = d.scale;
  f[W.softcap] = d.softcap;
  u[W.similarity] = d.similarity;
  u[W.align] = d.align;
  i[W.winLeft] = d.winLeft;
  i[W.winRight] = d.winRight;
  u[W.qLensPtr] = p.qLens;
  u[W.kLensPtr] = p.kLens;
  operand(W.mask, p.mask, d.mask?.strides);
  operand(W.bias, p.bias, d.bias?.strides);
  u[W.lsePtr] = p.lse;
  u[W.weightsPtr] = p.weights;
  u[W.alibiPtr] = p.alibi ?? 0;
  u[W.flags] = d.alibi && d.alibiLseShifted ? FLAG_LSE_ALIBI_SHIFTED : 0;
  if (d.relBias && p.relBias) {
    u[W.relPtr] = p.relBias;
    u[W.relLen] = d.relBias.len;
    u[W.relZero] = d.relBias.zero;
  }
  u[W.qStart] = d.qStart; u[W.kStart] = d.kStart; u[W.nqFull] = d.nqFull; u[W.nkFull] = d.nkFull;
  const s = d.sparse;
  const sp = p.sparse;
  if (s && sp) {
    u[W.spBlocks] = s.blockRows; u[W.spRowPtr] = sp.rowPtr; u[W.spIdx] = sp.idx; u[W.spKind] = sp.kind;
    u[W.spNnz] = s.idx.length; i[W.spWindow] = s.window; u[W.spDilation] = s.dilation;
    u[W.spGlobals] = sp.globals; u[W.spGlobalsLen] = s.globals.length;
    if (s.layout) { u[W.spLayout] = sp.layout; u[W.spLayoutBq] = s.layout.bq; u[W.spLayoutBk] = s.layout.bk; }
    if (s.csr) { u[W.spCsrRowPtr] = sp.csrRowPtr; u[W.spCsrCol] = sp.csrCol; u[W.spCsrNnz] = s.csr.colIdx.length; }
  }
}
