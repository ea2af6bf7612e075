/**
 * attention() on decode-like shapes (1…16 queries against many keys) through the split-key decode kernel
 * (crate/src/decode/) instead of the flash kernel: the keys and values, once in wasm memory, are read as a linear
 * KV cache. The flash kernel packs every head's keys for its query blocks, which a single query row never repays:
 * at (1, 32, 1, 4096, 128) its compute took ~31 ms, the decode kernel's ~11 ms.
 *
 * Only problems both kernels define alike come here: plain dot-product logits (no softcap, cosine, masks, biases,
 * ALiBi, relative bias, lengths, block masks, variants or weights), a window bounded on the left only (causal or
 * not), and keys and values laid out head by head with rows of exactly one head dim, as BHND is. Query positions
 * map onto key positions as in the reference: query i sits at qStart + i + shift − kStart (shift = nkFull − nqFull
 * when aligned bottom-right), which the decode kernel takes as qEnd = that of the last query + 1.
 */
import { ALIGN_BOTTOM_RIGHT, SIM_DOT, type AttentionDescriptor, type Strides } from '../descriptor.js';
import { DECODE_WORDS, DTYPE_CODES, encodeDecodeDescriptor } from '../decode/descriptor.js';
import { decodeExports } from '../decode/exports.js';
import { statusError } from '../errors.js';
import type { AttentionResult } from '../types.js';
import { arenaFor, extent, planBlocks } from './memory.js';

/** At most this many query rows (the decode kernel's limit). */
const MAX_ROWS = 16;
/** At least this many keys: below it the flash kernel is as fast and small problems keep its exact rounding. */
export const MIN_KEYS = 256;

/** Head by head, each head's rows consecutive: what the decode kernel reads as a linear cache of `rows` positions. */
const cacheLike = (s: Strides, heads: number, rows: number, cols: number): boolean =>
  s.row === cols && (heads === 1 || s.head === rows * cols);

/** The decode kernel's qEnd for `d` (the position after its last query, keys at 0 … nk − 1), or undefined when some
 * query would sit before key 0 and positions matter. */
function queryEnd(d: AttentionDescriptor): number | undefined {
  const shift = d.align === ALIGN_BOTTOM_RIGHT ? d.nkFull - d.nqFull : 0;
  const first = d.qStart + shift - d.kStart;
  if (first >= 0) return first + d.nq;
  return d.winLeft < 0 && d.winRight < 0 ? d.nq : undefined;
}

export function decodeRoutable(d: AttentionDescriptor): boolean {
  return d.nq <= MAX_ROWS && d.nk >= MIN_KEYS && !d.variant && !d.sparse && !d.mask && !d.bias && !d.alibi &&
    !d.relBias && !d.queryLengths && !d.keyLengths && !d.returnWeights && d.softcap === 0 && d.similarity === SIM_DOT &&
    d.winRight <= 0 && cacheLike(d.k.strides, d.hkv, d.nk, d.dk) && cacheLike(d.v.strides, d.hkv, d.nk, d.dv) &&
    queryEnd(d) !== undefined;
}

/** Runs a problem decodeRoutable() accepted, one decode call per batch entry; same result layout as runDescriptor. */
export function runViaDecode(d: AttentionDescriptor, output: Float32Array): AttentionResult {
  const k = decodeExports('attention');
  const { b, hq, hkv, nq, nk, dk, dv } = d;
  const nQ = extent(d.q.strides, b, hq, nq, dk);
  const nK = extent(d.k.strides, b, hkv, nk, dk);
  const nV = extent(d.v.strides, b, hkv, nk, dv);
  const nO = extent(d.o, b, hq, nq, dv);
  const nLse = d.returnLse ? b * hq * nq : 0;
  const { offsets, total } = planBlocks([DECODE_WORDS * 4, 4 * nQ, 4 * nK, 4 * nV, 4 * nO, 4 * nLse]);
  const arena = arenaFor(k);
  try {
    const base = arena.acquire(total);
    const [pDesc, pQ, pK, pV, pO, pLse] = offsets.map((x) => (x < 0 ? 0 : base + x)) as
      [number, number, number, number, number, number];
    const mem = k.memory.buffer;
    new Float32Array(mem, pQ, nQ).set(d.q.data.subarray(0, nQ));
    new Float32Array(mem, pK, nK).set(d.k.data.subarray(0, nK));
    new Float32Array(mem, pV, nV).set(d.v.data.subarray(0, nV));
    const qEnd = queryEnd(d)!;
    for (let i = 0; i < b; i++) {
      // Views are re-taken per call: the kernel may grow the memory for its scratch (the pointers stay valid).
      encodeDecodeDescriptor(k.memory.buffer, pDesc, {
        hq, hkv, nq, dk, dv, dtype: DTYPE_CODES.f32, capacity: nk, start: 0, end: nk, qEnd,
        kPtr: pK + 4 * i * d.k.strides.batch, vPtr: pV + 4 * i * d.v.strides.batch, kScalePtr: 0, vScalePtr: 0,
        qPtr: pQ + 4 * i * d.q.strides.batch, qHead: d.q.strides.head, qRow: d.q.strides.row,
        oPtr: pO + 4 * i * d.o.batch, oHead: d.o.head, oRow: d.o.row,
        lsePtr: d.returnLse ? pLse + 4 * i * hq * nq : 0, sinksPtr: 0,
        scale: d.scale, causal: d.winRight === 0, winLeft: d.winLeft, split: 0,
        pageSize: 0, pageTablePtr: 0, pageCount: 0, flags: 0,
      });
      const status = k.wa_decode(pDesc);
      if (status !== 0) throw statusError(status);
    }
    const after = k.memory.buffer;
    output.set(new Float32Array(after, pO, nO));
    const result: AttentionResult = {
      output,
      shape: d.layout === 'BNHD' ? [b, nq, hq, dv] : [b, hq, nq, dv],
    };
    if (d.returnLse) result.lse = new Float32Array(after, pLse, nLse).slice();
    return result;
  } finally {
    arena.release();
  }
}
