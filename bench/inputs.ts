/** Seeded inputs in [−1, 1] so every run (and every implementation) sees the same numbers. */
import type { Inputs, Shape } from './peers/peer.js';

/** mulberry32: a tiny 32-bit PRNG, good enough for benchmark data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fill(n: number, next: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = next() * 2 - 1;
  return a;
}

export function makeInputs(s: Shape, seed = 1234): Inputs {
  const next = rng(seed);
  return {
    q: fill(s.b * s.h * s.nq * s.d, next),
    k: fill(s.b * s.h * s.nk * s.d, next),
    v: fill(s.b * s.h * s.nk * s.d, next),
  };
}

/** The shape's seeded q, k, v as attention() inputs (BHND). */
export function makeTensors(s: Shape, seed = 1234) {
  const x = makeInputs(s, seed);
  return {
    q: { data: x.q, shape: [s.b, s.h, s.nq, s.d] },
    k: { data: x.k, shape: [s.b, s.h, s.nk, s.d] },
    v: { data: x.v, shape: [s.b, s.h, s.nk, s.d] },
  };
}
