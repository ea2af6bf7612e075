/** Seeded q, k, v of a problem shape in either layout, shared by the test files that sweep shapes. */
import type { Layout } from '../ts/index.js';
import { uniform } from './rng.js';

export interface Shape { b: number; hq: number; hkv: number; nq: number; nk: number; dk: number; dv: number; layout: Layout }

/** q, k, v uniform in [−1, 1) from `seed`, `seed + 1`, `seed + 2`, in the shape's layout. */
export function inputs(seed: number, s: Shape) {
  const dims = (h: number, n: number, d: number): number[] => (s.layout === 'BHND' ? [s.b, h, n, d] : [s.b, n, h, d]);
  return {
    q: { data: uniform(seed, s.b * s.hq * s.nq * s.dk), shape: dims(s.hq, s.nq, s.dk) },
    k: { data: uniform(seed + 1, s.b * s.hkv * s.nk * s.dk), shape: dims(s.hkv, s.nk, s.dk) },
    v: { data: uniform(seed + 2, s.b * s.hkv * s.nk * s.dv), shape: dims(s.hkv, s.nk, s.dv) },
  };
}
