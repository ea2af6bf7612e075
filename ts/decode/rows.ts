/** Reading and writing one (token, kv head) row of K or V in a cache's wasm memory, for every storage dtype. */
import { encodeF16, fromF16 } from './f16.js';
import { quantizeRow } from './quantize.js';
import type { KVCacheDtype } from './types.js';

/** Where a cache's K and V rows (and int8 scales) start in wasm memory. Row r of K is at k + r·dk elements. */
export interface Storage {
  dtype: KVCacheDtype;
  k: number;
  v: number;
  /** int8 only (0 otherwise): one f32 per row. */
  ks: number;
  vs: number;
  dk: number;
  dv: number;
}

export const ELEMENT_BYTES: Record<KVCacheDtype, number> = { f32: 4, f16: 2, int8: 1 };

const place = (s: Storage, which: 'k' | 'v'): [number, number, number] =>
  which === 'k' ? [s.k, s.ks, s.dk] : [s.v, s.vs, s.dv];

/** Stores `src` (d floats) as row `row` of K or V (converted or quantised to the cache's dtype). Returns false when
 * an f16 row stored an ∞ or NaN half (the kernel then takes its exact path for this cache), else true. */
export function writeRow(mem: ArrayBuffer, s: Storage, which: 'k' | 'v', row: number, src: Float32Array): boolean {
  const [ptr, sptr, d] = place(s, which);
  const at = row * d;
  if (s.dtype === 'f16') return encodeF16(src, new Uint16Array(mem, ptr + 2 * at, d));
  if (s.dtype === 'f32') new Float32Array(mem, ptr + 4 * at, d).set(src);
  else new Float32Array(mem, sptr + 4 * row, 1)[0] = quantizeRow(src, new Int8Array(mem, ptr + at, d));
  return true;
}

/** Row `row` of K or V as f32 (dequantised) into `dst` (d floats). */
export function readRow(mem: ArrayBuffer, s: Storage, which: 'k' | 'v', row: number, dst: Float32Array): void {
  const [ptr, sptr, d] = place(s, which);
  const at = row * d;
  if (s.dtype === 'f32') dst.set(new Float32Array(mem, ptr + 4 * at, d));
  else if (s.dtype === 'f16') new Uint16Array(mem, ptr + 2 * at, d).forEach((b, c) => { dst[c] = fromF16(b); });
  else {
    const scale = new Float32Array(mem, sptr + 4 * row, 1)[0]!;
    new Int8Array(mem, ptr + at, d).forEach((q, c) => { dst[c] = q * scale; });
  }
}

/** Copies `count` consecutive rows (K, V and scales) from row `from` to row `to` (regions must not overlap). */
export function copyRows(mem: ArrayBuffer, s: Storage, from: number, to: number, count: number): void {
  const bytes = new Uint8Array(mem);
  const e = ELEMENT_BYTES[s.dtype];
  for (const [ptr, width] of [[s.k, s.dk * e], [s.v, s.dv * e], [s.ks, 4], [s.vs, 4]] as const) {
    if (ptr === 0) continue;
    bytes.copyWithin(ptr + to * width, ptr + from * width, ptr + (from + count) * width);
  }
}
