/**
 * The call wrapper of the exact attention kernel: operands into wasm memory (each as one contiguous block, so the
 * descriptor's strides still hold), the descriptor after them, wa_attention, results out.
 */
import { DESC_WORDS, encodeDescriptor, type AttentionDescriptor, type DescriptorPointers, type SparsePointers, type Strides } from '../descriptor.js';
import type { SparseSpec } from '../sparse/types.js';
import { AttentionError, statusError } from '../errors.js';
import type { AttentionResult } from '../types.js';
import { getExports, type KernelExports } from './loader.js';
import { arenaFor, extent, planBlocks } from './memory.js';
import { decodeRoutable, runViaDecode } from './decode-route.js';
import { runKeyRanges } from './key-ranges.js';
import { isDecodeLike } from '../pool/split.js';

function checkedExtent(name: string, data: ArrayLike<number>, s: Strides, b: number, h: number, rows: number, cols: number): number {
  const n = extent(s, b, h, rows, cols);
  if (n > data.length) {
    throw new AttentionError('INVALID_SHAPE', name, `at least ${n} elements for its strides`, `${data.length} elements`);
  }
  return n;
}

/** A descriptor's operands copied into this thread's wasm memory (valid until the arena is released). */
interface Staged {
  k: KernelExports;
  pDesc: number;
  ptrs: DescriptorPointers;
  /** Elements of the output region and of the lse / weights regions. */
  nO: number;
  nLse: number;
  nWeights: number;
}

/** Copies the operands of `d` into the arena (acquired here; the caller releases it). `lseRows`: rows per head of
 * the lse region (default d.nq). */
function stage(d: AttentionDescriptor, lseRows = d.nq): Staged {
  const k = getExports();
  const { b, hq, hkv, nq, nk, dk, dv } = d;
  const nQ = checkedExtent('q', d.q.data, d.q.strides, b, hq, nq, dk);
  const nK = checkedExtent('k', d.k.data, d.k.strides, b, hkv, nk, dk);
  const nV = checkedExtent('v', d.v.data, d.v.strides, b, hkv, nk, dv);
  const nO = extent(d.o, b, hq, nq, dv);
  const nMask = d.mask ? checkedExtent('mask', d.mask.data, d.mask.strides, b, hq, nq, nk) : 0;
  const nBias = d.bias ? checkedExtent('bias', d.bias.data, d.bias.strides, b, hq, nq, nk) : 0;
  const nLse = d.returnLse ? b * hq * lseRows : 0;
  const nWeights = d.returnWeights ? b * hq * nq * nk : 0;

  const { offsets, total } = planBlocks([
    DESC_WORDS * 4, 4 * nQ, 4 * nK, 4 * nV, 4 * nO,
    d.queryLengths ? 4 * b : 0, d.keyLengths ? 4 * b : 0, nMask, 4 * nBias, 4 * nLse, 4 * nWeights,
    d.alibi ? 4 * hq : 0, d.relBias ? 4 * d.relBias.table.length : 0,
    ...sparseSizes(d),
  ]);
  const base = arenaFor(k).acquire(total);
  const at = offsets.map((o) => (o < 0 ? 0 : base + o));
  const [pDesc, pQ, pK, pV, pO, pQLens, pKLens, pMask, pBias, pLse, pWeights, pAlibi, pRel] = at as
    [number, number, number, number, number, number, number, number, number, number, number, number, number];

  // Views are made after the allocation: growing the memory detaches the previous buffer.
  const mem = k.memory.buffer;
  new Float32Array(mem, pQ, nQ).set(d.q.data.subarray(0, nQ));
  new Float32Array(mem, pK, nK).set(d.k.data.subarray(0, nK));
  new Float32Array(mem, pV, nV).set(d.v.data.subarray(0, nV));
  if (d.queryLengths) new Uint32Array(mem, pQLens, b).set(d.queryLengths);
  if (d.keyLengths) new Uint32Array(mem, pKLens, b).set(d.keyLengths);
  if (d.mask) new Uint8Array(mem, pMask, nMask).set(d.mask.data.subarray(0, nMask));
  if (d.bias) new Float32Array(mem, pBias, nBias).set(d.bias.data.subarray(0, nBias));
  if (d.alibi) new Float32Array(mem, pAlibi, hq).set(d.alibi);
  if (d.relBias) new Float32Array(mem, pRel, d.relBias.table.length).set(d.relBias.table);
  const sparse = d.sparse ? writeSparse(mem, d.sparse, at.slice(13)) : undefined;
  const ptrs: DescriptorPointers = {
    q: pQ, k: pK, v: pV, o: pO, qLens: pQLens, kLens: pKLens, mask: pMask, bias: pBias, lse: pLse, weights: pWeights, alibi: pAlibi, relBias: pRel,
    ...(sparse ? { sparse } : {}),
  };
  return { k, pDesc, ptrs, nO, nLse, nWeights };
}

function call(s: Staged, d: AttentionDescriptor, ptrs: DescriptorPointers): void {
  encodeDescriptor(s.k.memory.buffer, s.pDesc, d, ptrs);
  const status = s.k.wa_attention(s.pDesc);
  if (status !== 0) throw statusError(status);
}

/** Runs exact attention on a validated descriptor in this thread's wasm instance. */
export function runDescriptor(d: AttentionDescriptor): AttentionResult {
  const nO = extent(d.o, d.b, d.hq, d.nq, d.dv);
  const output = d.out ?? new Float32Array(nO);
  if (output.length < nO) throw new AttentionError('INVALID_OUTPUT', 'out', `${nO} elements`, `${output.length} elements`);
  if (isDecodeLike(d)) return runKeyRanges(d, output, runDescriptor);
  if (decodeRoutable(d)) return runViaDecode(d, output);
  const arena = arenaFor(getExports());
  try {
    const s = stage(d);
    call(s, d, s.ptrs);
    const after = s.k.memory.buffer; // the kernel may have grown the memory for its scratch
    output.set(new Float32Array(after, s.ptrs.o, s.nO));
    const result: AttentionResult = {
      output,
      shape: d.layout === 'BNHD' ? [d.b, d.nq, d.hq, d.dv] : [d.b, d.hq, d.nq, d.dv],
    };
    if (d.returnLse) result.lse = new Float32Array(after, s.ptrs.lse, s.nLse).slice();
    if (d.returnWeights) result.weights = new Float32Array(after, s.ptrs.weights, s.nWeights).slice();
    return result;
  } finally {
    arena.release();
  }
}

/** Where runRowBlocks writes: output [hq, nq, dv] and lse [hq, nq] of a one-batch compact (BHND) problem. */
export interface RowBlockOutput {
  output: Float32Array;
  lse?: Float32Array;
}

/**
 * Runs a one-batch, compact-output problem (no weights, no variant, no block mask) in blocks of `blockRows` query
 * rows, the operands copied in once: `claim()` names the next block to compute (≥ the block count: stop). Each row
 * block is a row chunk (qStart moved to its first row), so a row's result does not depend on which thread computes
 * it. Other threads may claim the other blocks and write theirs into the same `out`. Returns the blocks computed.
 */
export function runRowBlocks(d: AttentionDescriptor, blockRows: number, claim: () => number, out: RowBlockOutput): number {
  const { hq, nq, dv } = d;
  const blocks = Math.ceil(nq / blockRows);
  const arena = arenaFor(getExports());
  let done = 0;
  try {
    const s = stage(d, blockRows);
    for (let blk = claim(); blk < blocks; blk = claim()) {
      const row0 = blk * blockRows;
      const rows = Math.min(blockRows, nq - row0);
      const row = (p: number, st: Strides | undefined, size: number): number => (p && st ? p + size * row0 * st.row : p);
      const ptrs: DescriptorPointers = {
        ...s.ptrs,
        q: row(s.ptrs.q, d.q.strides, 4), o: row(s.ptrs.o, d.o, 4),
        mask: row(s.ptrs.mask, d.mask?.strides, 1), bias: row(s.ptrs.bias, d.bias?.strides, 4),
      };
      call(s, { ...d, nq: rows, qStart: d.qStart + row0 }, ptrs);
      const mem = s.k.memory.buffer;
      for (let h = 0; h < hq; h++) {
        const from = s.ptrs.o + 4 * (h * d.o.head + row0 * d.o.row);
        out.output.set(new Float32Array(mem, from, rows * dv), h * nq * dv + row0 * dv);
        if (out.lse) out.lse.set(new Float32Array(mem, s.ptrs.lse + 4 * h * rows, rows), h * nq + row0);
      }
      done += 1;
    }
    return done;
  } finally {
    arena.release();
  }
}
/** The arrays of a block mask, in wasm-memory order: row pointers, block indices, kinds, globals, layout, CSR. */
function sparseArrays(s: SparseSpec): (Uint32Array | Uint8Array)[] {
  return [s.rowPtr, s.idx, s.kind, s.globals, s.layout?.data ?? new Uint8Array(0), s.csr?.rowPtr ?? new Uint32Array(0),
    s.csr?.colIdx ?? new Uint32Array(0)];
}

function sparseSizes(d: AttentionDescriptor): number[] {
  return d.sparse ? sparseArrays(d.sparse).map((a) => a.byteLength) : [];
}

/** Copies the block mask into memory at `ptrs` (0 for empty arrays) and returns the descriptor's pointers. */
function writeSparse(mem: ArrayBuffer, s: SparseSpec, ptrs: number[]): SparsePointers {
  const arrays = sparseArrays(s);
  arrays.forEach((a, n) => {
    if (a.length > 0) new (a.constructor as Uint32ArrayConstructor | Uint8ArrayConstructor)(mem, ptrs[n]!, a.length).set(a);
  });
  const at = (n: number): number => (arrays[n]!.length > 0 ? ptrs[n]! : 0);
  return { rowPtr: at(0), idx: at(1), kind: at(2), globals: at(3), layout: at(4), csrRowPtr: at(5), csrCol: at(6) };
}
