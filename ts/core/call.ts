/**
 * The call wrapper of the exact attention kernel: operands into wasm memory (each as one contiguous block, so the
 * descriptor's strides still hold), the descriptor after them, wa_attention, results out.
 */
import { DESC_WORDS, encodeDescriptor, type AttentionDescriptor, type SparsePointers, type Strides } from '../descriptor.js';
import type { SparseSpec } from '../sparse/types.js';
import { AttentionError, statusError } from '../errors.js';
import type { AttentionResult } from '../types.js';
import { getExports } from './loader.js';
import { arenaFor, planBlocks } from './memory.js';

/** Elements from an operand's first element to one past its last: what must be copied so its strides hold. */
function extent(s: Strides, b: number, h: number, rows: number, cols: number): number {
  return (b - 1) * s.batch + (h - 1) * s.head + (rows - 1) * s.row + cols;
}

function checkedExtent(name: string, data: ArrayLike<number>, s: Strides, b: number, h: number, rows: number, cols: number): number {
  const n = extent(s, b, h, rows, cols);
  if (n > data.length) {
    throw new AttentionError('INVALID_SHAPE', name, `at least ${n} elements for its strides`, `${data.length} elements`);
  }
  return n;
}

/** Runs exact attention on a validated descriptor in this thread's wasm instance. */
export function runDescriptor(d: AttentionDescriptor): AttentionResult {
  const k = getExports();
  const { b, hq, hkv, nq, nk, dk, dv } = d;
  const nQ = checkedExtent('q', d.q.data, d.q.strides, b, hq, nq, dk);
  const nK = checkedExtent('k', d.k.data, d.k.strides, b, hkv, nk, dk);
  const nV = checkedExtent('v', d.v.data, d.v.strides, b, hkv, nk, dv);
  const nO = extent(d.o, b, hq, nq, dv);
  const nMask = d.mask ? checkedExtent('mask', d.mask.data, d.mask.strides, b, hq, nq, nk) : 0;
  const nBias = d.bias ? checkedExtent('bias', d.bias.data, d.bias.strides, b, hq, nq, nk) : 0;
  const nLse = d.returnLse ? b * hq * nq : 0;
  const nWeights = d.returnWeights ? b * hq * nq * nk : 0;
  const output = d.out ?? new Float32Array(nO);
  if (output.length < nO) throw new AttentionError('INVALID_OUTPUT', 'out', `${nO} elements`, `${output.length} elements`);

  const { offsets, total } = planBlocks([
    DESC_WORDS * 4, 4 * nQ, 4 * nK, 4 * nV, 4 * nO,
    d.queryLengths ? 4 * b : 0, d.keyLengths ? 4 * b : 0, nMask, 4 * nBias, 4 * nLse, 4 * nWeights,
    d.alibi ? 4 * hq : 0, d.relBias ? 4 * d.relBias.table.length : 0,
    ...sparseSizes(d),
  ]);
  const arena = arenaFor(k);
  try {
    const base = arena.acquire(total);
    const ptrs = offsets.map((o) => (o < 0 ? 0 : base + o));
    const [pDesc, pQ, pK, pV, pO, pQLens, pKLens, pMask, pBias, pLse, pWeights, pAlibi, pRel] = ptrs as
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
    const sparse = d.sparse ? writeSparse(mem, d.sparse, ptrs.slice(13)) : undefined;
    encodeDescriptor(mem, pDesc, d, {
      q: pQ, k: pK, v: pV, o: pO, qLens: pQLens, kLens: pKLens, mask: pMask, bias: pBias, lse: pLse, weights: pWeights, alibi: pAlibi, relBias: pRel,
      ...(sparse ? { sparse } : {}),
    });

    const status = k.wa_attention(pDesc);
    if (status !== 0) throw statusError(status);

    const after = k.memory.buffer; // the kernel may have grown the memory for its scratch
    output.set(new Float32Array(after, pO, nO));
    const result: AttentionResult = {
      output,
      shape: d.layout === 'BNHD' ? [b, nq, hq, dv] : [b, hq, nq, dv],
    };
    if (d.returnLse) result.lse = new Float32Array(after, pLse, nLse).slice();
    if (d.returnWeights) result.weights = new Float32Array(after, pWeights, nWeights).slice();
    return result;
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
