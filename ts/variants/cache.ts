/**
 * Seeded projections reused across calls: drawing Linformer's E and F costs two Gaussians per (row, key) — longer than
 * the kernel itself for long sequences — so the SDK keeps the most recently used ones, up to CACHE_BYTES in all
 * (least recently used dropped first; a projection larger than that is drawn every call and not kept). Arrays from
 * here are internal: they go to the kernels and references only, never to the caller, so nobody can modify them.
 */
import { linformerProjection, performerProjection } from './random.js';

export const CACHE_BYTES = 32 << 20;

const cache = new Map<string, Float32Array[]>();
let held = 0;

function cached(key: string, draw: () => Float32Array[]): Float32Array[] {
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key); // re-insert: Map order is the LRU order
    cache.set(key, hit);
    return hit;
  }
  const value = draw();
  const bytes = value.reduce((a, x) => a + x.byteLength, 0);
  if (bytes > CACHE_BYTES) return value;
  for (const [k, v] of cache) {
    if (held + bytes <= CACHE_BYTES) break;
    cache.delete(k);
    held -= v.reduce((a, x) => a + x.byteLength, 0);
  }
  cache.set(key, value);
  held += bytes;
  return value;
}

export function cachedPerformerProjection(features: number, dk: number, seed: number): Float32Array {
  return cached(`p/${features}/${dk}/${seed}`, () => [performerProjection(features, dk, seed)])[0]!;
}

export function cachedLinformerProjection(rows: number, nk: number, seed: number): { e: Float32Array; f: Float32Array } {
  const [e, f] = cached(`l/${rows}/${nk}/${seed}`, () => {
    const p = linformerProjection(rows, nk, seed);
    return [p.e, p.f];
  });
  return { e: e!, f: f! };
}
