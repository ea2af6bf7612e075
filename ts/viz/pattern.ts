/**
 * Which (query, key) pairs an option set lets attention compute, as a rows × cols 0/1 picture: the structural part
 * of the semantics written on `RawDesc` in crate/src/desc.rs (lengths, causal / window with their alignment, the
 * boolean mask). The options are read by the SDK's own validators, so an option set that `attention()` rejects is
 * rejected here with the same error. Nothing larger than the picture itself is allocated.
 *
 * What is drawn is structure, not data: a finite bias or a softcap changes weights, not which pairs are computed
 * (a −∞ bias entry does mask a pair, but it is data and is not shown).
 */
import { AttentionError } from '../errors.js';
import { ALIGN_BOTTOM_RIGHT } from '../descriptor.js';
import type { AttentionOptions } from '../types.js';
import { readBroadcast } from '../validate/broadcast.js';
import { readLengths } from '../validate/lengths.js';
import { readOptions, readStructure } from '../validate/options.js';
import { toMaskBytes } from '../validate/tensor.js';
import { sparseAllowed } from '../sparse/predicate.js';
import type { SparseSpec } from '../sparse/types.js';
import { readSparsity } from '../sparse/validate.js';

/** The problem a pattern is drawn for: batch size and query heads (for lengths and masks), Nq rows, Nk cols. */
export interface PatternShape {
  /** B, default 1. */
  batch?: number;
  /** Hq, default 1. */
  heads?: number;
  /** Nq. */
  rows: number;
  /** Nk. */
  cols: number;
}

/** Which (batch entry, query head) to draw, default (0, 0). */
export interface PatternSelection {
  batch?: number;
  head?: number;
}

/** One rule of the pattern: given the normalised context, whether (i, j) is computed. Every rule must agree. */
interface PatternContext {
  qLen: number;
  kLen: number;
  /** diag(i) = i + shift. */
  shift: number;
  winLeft: number;
  winRight: number;
  mask?: { data: Uint8Array; base: number; rowStride: number };
  /** Structured sparsity (ts/sparse/): the pattern's own rule, on the same positions as the kernel. */
  sparse?: SparseSpec;
}
type Rule = (c: PatternContext, i: number, j: number) => boolean;

/** The structural rules of crate/src/desc.rs, in its order. A new structural variant adds one entry. */
const RULES: readonly Rule[] = [
  (c, i, j) => i < c.qLen && j < c.kLen,
  (c, i, j) => c.winLeft < 0 || j >= i + c.shift - c.winLeft,
  (c, i, j) => c.winRight < 0 || j <= i + c.shift + c.winRight,
  (c, i, j) => !c.mask || c.mask.data[c.mask.base + i * c.mask.rowStride + j] !== 0,
  (c, i, j) => !c.sparse || sparseAllowed(c.sparse, i, j),
];

function dim(v: number | undefined, fallback: number, name: string): number {
  const x = v ?? fallback;
  if (!Number.isInteger(x) || x < 1) throw new AttentionError('INVALID_DIM', name, 'a positive integer', String(x));
  return x;
}

function index(v: number | undefined, n: number, name: string): number {
  const x = v ?? 0;
  if (!Number.isInteger(x) || x < 0 || x >= n) throw new AttentionError('INVALID_OPTION', name, `an integer in [0, ${n - 1}]`, String(x));
  return x;
}

/** rows × cols bytes, row-major: 1 where query i attends key j under `options`, 0 where the pair is skipped. */
export function maskPattern(shape: PatternShape, options: AttentionOptions = {}, at: PatternSelection = {}): Uint8Array {
  const b = dim(shape.batch, 1, 'shape.batch');
  const hq = dim(shape.heads, 1, 'shape.heads');
  const nq = dim(shape.rows, 0, 'shape.rows');
  const nk = dim(shape.cols, 0, 'shape.cols');
  const bi = index(at.batch, b, 'batch');
  const hi = index(at.head, hq, 'head');
  const o = readOptions(options);
  const s = readStructure(o, nq, nk);
  const qLen = o.queryLengths !== undefined ? readLengths(o.queryLengths, 'queryLengths', b, nq, 'Nq')[bi]! : nq;
  const kLen = o.keyLengths !== undefined ? readLengths(o.keyLengths, 'keyLengths', b, nk, 'Nk')[bi]! : nk;
  const c: PatternContext = {
    qLen, kLen, shift: s.align === ALIGN_BOTTOM_RIGHT ? kLen - qLen : 0, winLeft: s.winLeft, winRight: s.winRight,
  };
  if (o.mask !== undefined) {
    const convert = o.convert === true;
    const m = readBroadcast(o.mask, 'mask', 'INVALID_MASK', { b, hq, nq, nk }, (x) => toMaskBytes(x, 'mask', convert, 'INVALID_MASK'));
    c.mask = { data: m.data, base: bi * m.strides.batch + hi * m.strides.head, rowStride: m.strides.row };
  }
  if (o.sparsity !== undefined) c.sparse = readSparsity(o.sparsity, nq, nk, s.align === ALIGN_BOTTOM_RIGHT ? nk - nq : 0);
  const out = new Uint8Array(nq * nk);
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < nk; j++) out[i * nk + j] = RULES.every((rule) => rule(c, i, j)) ? 1 : 0;
  }
  return out;
}
