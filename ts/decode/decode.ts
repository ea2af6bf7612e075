/**
 * decode(q, cache, options): attention of Nq = 1…16 new queries against a KVCache, on the calling thread. The
 * cache is read in place from wasm memory; only q (and the sinks) are copied in and the output out.
 */
import { arenaFor, planBlocks } from '../core/memory.js';
import { statusError } from '../errors.js';
import type { AttentionInput, AttentionResult, ConvertibleInput } from '../types.js';
import { isFloat32Array, typeName, valueString } from '../validate/describe.js';
import { fail, toFloat32 } from '../validate/tensor.js';
import { layoutStrides, readOperand } from '../validate/operands.js';
import { readLayout } from '../validate/options.js';
import { KVCache, type CacheState } from './cache.js';
import { PagedKVCache } from './pages.js';
import { DECODE_WORDS, DTYPE_CODES, FLAG_F16_FINITE, MAX_DECODE_QUERIES, encodeDecodeDescriptor } from './descriptor.js';
import { decodeExports, type DecodeExports } from './exports.js';
import { readCount, readFlag, readKnown } from './options.js';
import type { ConvertDecodeOptions, DecodeOptions } from './types.js';

const KEYS = ['layout', 'scale', 'causal', 'window', 'sinks', 'returnLse', 'out', 'splitSize', 'convert'] as const;
/** Largest |sink| (its base-2 logit, × log2 e, must stay a finite f32). */
const MAX_SINK = 1e38;

/** The normalised call (also what the float64 reference consumes). */
export interface DecodePlan {
  hq: number;
  nq: number;
  q: Float32Array;
  /** Element strides (head, row) of q and of the output. */
  qHead: number;
  qRow: number;
  oHead: number;
  oRow: number;
  layout: 'BHND' | 'BNHD';
  scale: number;
  causal: boolean;
  /** −1 = unbounded. */
  winLeft: number;
  sinks: Float32Array | undefined;
  returnLse: boolean;
  out: Float32Array | undefined;
  split: number;
}

/**
 * Validates q and the options against the cache; every error names its argument. `chunk`: the queries need not be
 * the last held tokens nor see only held keys (decodeRange: keys outside the range are another shard's).
 */
export function planDecode(q: ConvertibleInput, cache: DecodeCache, options?: DecodeOptions, chunk = false): DecodePlan {
  if (!(cache instanceof KVCache) && !(cache instanceof PagedKVCache)) {
    fail('INVALID_TYPE', 'cache', 'a KVCache or a PagedKVCache', typeName(cache));
  }
  return planDecodeFor(q, cache.state('decode'), options, chunk);
}

/** What planDecode reads of a cache (a pool's sharded cache passes its global view). */
export type PlanCache = Pick<CacheState, 'heads' | 'headDim' | 'valueDim' | 'start' | 'end' | 'window'>;

/** planDecode for a cache given by its state. */
export function planDecodeFor(q: ConvertibleInput, c: PlanCache, options?: DecodeOptions, chunk = false): DecodePlan {
  const o = readKnown<DecodeOptions>(options, KEYS, 'decode options');
  const layout = readLayout(o);
  const convert = readFlag(o.convert, 'convert', false);
  const Q = readOperand(q, 'q', layout, convert);
  const dims = `[${Q.dims.join(', ')}]`;
  if (Q.b !== 1 || Q.d !== c.headDim) {
    const want = layout === 'BHND' ? `[1, Hq, Nq, ${c.headDim}] or [Hq, Nq, ${c.headDim}]` : `[1, Nq, Hq, ${c.headDim}] or [Nq, Hq, ${c.headDim}]`;
    fail('INVALID_SHAPE', 'q', `shape ${want} (Dk of the cache, batch 1: one cache is one sequence)`, dims);
  }
  if (Q.h % c.heads !== 0) fail('INVALID_HEADS', 'q', `Hq a multiple of the cache's Hkv = ${c.heads}`, `Hq = ${Q.h}`);
  if (Q.n > MAX_DECODE_QUERIES) {
    fail('INVALID_SHAPE', 'q', `Nq ≤ ${MAX_DECODE_QUERIES} new queries`, `Nq = ${Q.n}`, 'use attention() for longer blocks');
  }
  if (!chunk && Q.n > c.end) {
    fail('INVALID_SHAPE', 'q', `Nq ≤ the cache's position (${c.end}): the queries are the last Nq appended tokens`,
      `Nq = ${Q.n}`, "append the new tokens' keys and values before decode()");
  }
  const scale: unknown = o.scale ?? 1 / Math.sqrt(c.headDim);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) fail('INVALID_OPTION', 'scale', 'a finite number', valueString(scale));
  const causal = readFlag(o.causal, 'causal', true);
  let winLeft = c.window === undefined ? -1 : c.window - 1;
  if (o.window !== undefined) {
    const w = readKnown<{ left?: number }>(o.window, ['left'], 'window options');
    if (w.left === undefined || w.left === Infinity) winLeft = -1;
    else winLeft = readCount(w.left, 'window.left', 2 ** 31 - 1, true);
  }
  const first = c.end - Q.n;
  const lowest = winLeft < 0 ? 0 : Math.max(0, first - winLeft);
  if (!chunk && lowest < c.start) {
    fail('INVALID_OPTION', winLeft < 0 ? 'window' : 'window.left',
      `a window the cache still holds: it keeps positions [${c.start}, ${c.end}), so left ≤ ${first - c.start}`,
      winLeft < 0 ? 'an unbounded window' : `left = ${winLeft} (reaching position ${lowest})`,
      'a ring cache keeps only its last capacity tokens');
  }
  let sinks: Float32Array | undefined;
  if (o.sinks !== undefined) {
    sinks = isFloat32Array(o.sinks) ? o.sinks : toFloat32(o.sinks, 'sinks', Array.isArray(o.sinks), 'INVALID_OPTION');
    if (sinks.length !== Q.h) fail('INVALID_OPTION', 'sinks', `${Q.h} values (one per query head)`, `${sinks.length} values`);
    // NaN or +∞ would turn every row of the head into NaN; a logit ≥ 2^127 / log2(e) overflows the kernel's base-2
    // logit. −∞ is a head without a sink.
    const bad = sinks.findIndex((x) => !(x === -Infinity || Math.abs(x) <= MAX_SINK));
    if (bad >= 0) {
      fail('INVALID_OPTION', 'sinks', `finite logits of magnitude ≤ 1e38, or −∞ (no sink)`, `sinks[${bad}] = ${sinks[bad]}`);
    }
  }
  const returnLse = readFlag(o.returnLse, 'returnLse', false);
  const size = Q.h * Q.n * c.valueDim;
  let out: Float32Array | undefined;
  if (o.out !== undefined) {
    if (!isFloat32Array(o.out)) fail('INVALID_OUTPUT', 'out', 'Float32Array', typeName(o.out));
    if (o.out.length !== size) fail('INVALID_OUTPUT', 'out', `${size} elements (Hq·Nq·Dv)`, `${o.out.length} elements`);
    out = o.out;
  }
  const split = o.splitSize === undefined ? 0 : readCount(o.splitSize, 'splitSize', 2 ** 31 - 1);
  const qs = layoutStrides(Q.h, Q.n, c.headDim, layout);
  const os = layoutStrides(Q.h, Q.n, c.valueDim, layout);
  return {
    hq: Q.h, nq: Q.n, q: Q.data, qHead: qs.head, qRow: qs.row, oHead: os.head, oRow: os.row, layout, scale, causal,
    winLeft, sinks, returnLse, out, split,
  };
}

/** A cache decode() reads: contiguous (linear or ring) or a sequence of a page pool. */
export type DecodeCache = KVCache | PagedKVCache;

export function decode(q: ConvertibleInput, cache: DecodeCache, options: ConvertDecodeOptions): AttentionResult;
export function decode(q: AttentionInput, cache: DecodeCache, options?: DecodeOptions): AttentionResult;
export function decode(q: ConvertibleInput, cache: DecodeCache, options?: DecodeOptions): AttentionResult {
  const k = decodeExports('decode'); // NOT_INITIALIZED first
  const p = planDecode(q, cache, options);
  const c = cache.state('decode');
  return run(k, p, c, c.start, c.end, 0);
}

/** Keys [start, end) of a cache, with the query rows at positions qEnd − Nq … qEnd − 1 (same coordinates). */
export interface DecodeRange {
  start: number;
  end: number;
  qEnd: number;
}

/**
 * INTERNAL (the pool's sharded decode; not re-exported from ts/index.ts): decode against the keys [start, end) of the
 * cache only, with the queries sitting at positions qEnd − Nq … qEnd − 1 (qEnd ≥ Nq, the coordinates of the cache's
 * positions; qEnd may lie past the cache's end: the later keys are held by other shards). Returns the output and the
 * natural-log LSE of that chunk (returnLse is forced); a row with no allowed key in the chunk gives 0 and −∞. Chunks
 * are merged by log-sum-exp: with m = max_c lse_c, o = Σ_c e^(lse_c − m) o_c / Σ_c e^(lse_c − m).
 * Attention sinks belong to the whole softmax, not to a chunk: `sinks` is refused here; add e^(sink − m) once to the
 * merged denominator instead (lse = m + ln(Σ_c e^(lse_c − m) + e^(sink − m))).
 */
export function decodeRange(
  q: ConvertibleInput, cache: DecodeCache, options: DecodeOptions | undefined, range: DecodeRange,
): { output: Float32Array; lse: Float32Array } {
  const k = decodeExports('decode');
  const o = readKnown<DecodeOptions>(options, KEYS, 'decode options');
  if (o.sinks !== undefined) {
    fail('INVALID_OPTION', 'sinks', 'no sinks for a key range', 'sinks', 'add the sink once when merging the ranges');
  }
  const p = planDecode(q, cache, { ...o, returnLse: true }, true);
  const c = cache.state('decode');
  const r = readKnown<DecodeRange>(range, ['start', 'end', 'qEnd'], 'range');
  const start = readCount(r.start, 'range.start', 2 ** 32 - 1, true);
  const end = readCount(r.end, 'range.end', 2 ** 32 - 1, true);
  if (start < c.start || end > c.end || start > end) {
    fail('INVALID_OPTION', start < c.start || start > end ? 'range.start' : 'range.end',
      `c.start ≤ start ≤ end ≤ c.end: a range of the held positions [${c.start}, ${c.end})`, `[${start}, ${end})`);
  }
  if (typeof r.qEnd !== 'number' || !Number.isInteger(r.qEnd) || r.qEnd < p.nq || r.qEnd > 2 ** 32 - 1) {
    fail('INVALID_OPTION', 'range.qEnd', `an integer in [Nq = ${p.nq}, ${2 ** 32 - 1}] (the position after the last query)`,
      valueString(r.qEnd));
  }
  const res = run(k, p, c, start, end, r.qEnd);
  return { output: res.output, lse: res.lse! };
}

function run(k: DecodeExports, p: DecodePlan, c: CacheState, start: number, end: number, qEnd: number): AttentionResult {
  if (c.exports !== k) {
    fail('INVALID_OPTION', 'cache', 'a KVCache created on this thread', 'a cache of another wasm instance',
      'a cache lives in the wasm memory of the thread that created it');
  }
  const nO = p.hq * p.nq * c.valueDim;
  const nL = p.hq * p.nq;
  const table = c.pageTable;
  const { offsets, total } = planBlocks([
    DECODE_WORDS * 4, 4 * p.q.length, 4 * nO, p.returnLse ? 4 * nL : 0, p.sinks ? 4 * p.hq : 0, table ? 4 * table.length : 0,
  ]);
  const arena = arenaFor(k);
  try {
    const base = arena.acquire(total);
    const [pDesc, pQ, pO, pLse, pSinks, pTable] = offsets.map((x) => (x < 0 ? 0 : base + x)) as
      [number, number, number, number, number, number];
    const mem = k.memory.buffer;
    new Float32Array(mem, pQ, p.q.length).set(p.q);
    if (p.sinks) new Float32Array(mem, pSinks, p.hq).set(p.sinks);
    if (table) new Uint32Array(mem, pTable, table.length).set(table);
    encodeDecodeDescriptor(mem, pDesc, {
      hq: p.hq, hkv: c.heads, nq: p.nq, dk: c.headDim, dv: c.valueDim, dtype: c.dtype, capacity: c.capacity,
      start, end, qEnd, kPtr: c.kPtr, vPtr: c.vPtr, kScalePtr: c.kScalePtr, vScalePtr: c.vScalePtr,
      qPtr: pQ, qHead: p.qHead, qRow: p.qRow, oPtr: pO, oHead: p.oHead, oRow: p.oRow, lsePtr: pLse, sinksPtr: pSinks,
      scale: p.scale, causal: p.causal, winLeft: p.winLeft, split: p.split,
      pageSize: c.pageSize, pageTablePtr: table ? pTable : 0, pageCount: table ? table.length : 0,
      flags: c.dtype === DTYPE_CODES.f16 && c.finite ? FLAG_F16_FINITE : 0,
    });
    const status = k.wa_decode(pDesc);
    if (status !== 0) throw statusError(status);
    const after = k.memory.buffer;
    const output = p.out ?? new Float32Array(nO);
    output.set(new Float32Array(after, pO, nO));
    const result: AttentionResult = {
      output,
      shape: p.layout === 'BHND' ? [1, p.hq, p.nq, c.valueDim] : [1, p.nq, p.hq, c.valueDim],
    };
    if (p.returnLse) result.lse = new Float32Array(after, pLse, nL).slice();
    return result;
  } finally {
    arena.release();
  }
}
