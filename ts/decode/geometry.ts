/** What every cache kind validates alike: its geometry (Hkv, Dk, Dv, dtype) and the k / v tokens given to append. */
import type { ConvertibleInput } from '../types.js';
import { fail } from '../validate/tensor.js';
import { readOperand } from '../validate/operands.js';
import { readLayout } from '../validate/options.js';
import { AttentionError } from '../errors.js';
import { MAX_DECODE_QUERIES } from './descriptor.js';
import { readCount, readFlag, readKnown } from './options.js';
import type { AppendOptions, KVCacheDtype } from './types.js';

export interface Geometry {
  heads: number;
  headDim: number;
  valueDim: number;
  dtype: KVCacheDtype;
}

export function readGeometry(o: { heads?: unknown; headDim?: unknown; valueDim?: unknown; dtype?: unknown }): Geometry {
  const heads = readCount(o.heads, 'heads', 65535);
  const headDim = readCount(o.headDim, 'headDim', 65535);
  const valueDim = o.valueDim === undefined ? headDim : readCount(o.valueDim, 'valueDim', 65535);
  const dtype: unknown = o.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'int8') fail('INVALID_OPTION', 'dtype', "'f32', 'f16' or 'int8'", String(dtype));
  return { heads, headDim, valueDim, dtype };
}

/** Token slots and ring window of a cache: a linear cache needs a capacity; a ring cache's defaults to window + 15
 * (so that 16 queries at once still see whole windows) and may not be below the window. */
export function readSlots(o: { capacity?: unknown; window?: unknown }): { capacity: number; window: number | undefined } {
  const max = 2 ** 31 - 1;
  const window = o.window === undefined ? undefined : readCount(o.window, 'window', max);
  if (window === undefined) {
    if (o.capacity === undefined) fail('INVALID_OPTION', 'capacity', 'a capacity for a linear cache (or a window for a ring cache)', 'undefined');
    return { capacity: readCount(o.capacity, 'capacity', max), window };
  }
  const capacity = o.capacity === undefined ? Math.min(window + MAX_DECODE_QUERIES - 1, max) : readCount(o.capacity, 'capacity', max);
  if (capacity < window) fail('INVALID_OPTION', 'capacity', `at least the window (${window}) for a ring cache`, String(capacity));
  return { capacity, window };
}

/** A linear cache refusing `t` new tokens (nothing was appended). */
export function cacheFull(t: number, capacity: number, length: number): AttentionError {
  return new AttentionError('CACHE_FULL', 'k', `at most ${capacity - length} new tokens (capacity ${capacity}, length ${length})`,
    `${t} tokens`,
    `k: the KV cache is full: ${t} new tokens do not fit (capacity ${capacity}, length ${length}); nothing was appended. ` +
      'Create it with a larger capacity, truncate() or reset() it, or use a ring cache ({ window })');
}

export interface Tokens {
  k: Float32Array;
  v: Float32Array;
  /** Number of tokens. */
  t: number;
  /** Element offset of row (head h, token i) of an operand `d` wide. */
  at(h: number, i: number, d: number): number;
}

const APPEND_KEYS = ['layout', 'convert'] as const;

/** k [1, Hkv, T, Dk] / [Hkv, T, Dk] (BNHD: [1, T, Hkv, Dk] / [T, Hkv, Dk]) and v likewise with Dv, for a cache of
 * geometry `g`; every mismatch names k or v and the shape expected. */
export function readTokens(k: ConvertibleInput, v: ConvertibleInput, options: AppendOptions | undefined, g: Geometry): Tokens {
  const o = readKnown<AppendOptions>(options, APPEND_KEYS, 'append options');
  const layout = readLayout(o);
  const convert = readFlag(o.convert, 'convert', false);
  const K = readOperand(k, 'k', layout, convert);
  const V = readOperand(v, 'v', layout, convert);
  const shape = (h: number, t: number | string, d: number): string =>
    layout === 'BHND' ? `[1, ${h}, ${t}, ${d}] or [${h}, ${t}, ${d}]` : `[1, ${t}, ${h}, ${d}] or [${t}, ${h}, ${d}]`;
  if (K.b !== 1 || K.h !== g.heads || K.d !== g.headDim) {
    fail('INVALID_SHAPE', 'k', `shape ${shape(g.heads, 'T', g.headDim)} (Hkv and Dk of the cache)`, `[${K.dims.join(', ')}]`);
  }
  if (V.b !== 1 || V.h !== g.heads || V.n !== K.n || V.d !== g.valueDim) {
    fail('INVALID_SHAPE', 'v', `shape ${shape(g.heads, K.n, g.valueDim)} (T as in k, Hkv and Dv of the cache)`, `[${V.dims.join(', ')}]`);
  }
  const t = K.n;
  const heads = g.heads;
  return {
    k: K.data,
    v: V.data,
    t,
    at: layout === 'BHND' ? (h, i, d) => (h * t + i) * d : (h, i, d) => (i * heads + h) * d,
  };
}
