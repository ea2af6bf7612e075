/**
 * Sentence → attention inputs for the playground: tokens are split on whitespace and embedded with a seeded table
 * (the same word always gets the same vector), a sinusoidal position code is added, and per-head seeded projections
 * give q, k, v [1, H, N, D]. Deterministic for a seed; no model, no network.
 */
import type { AttentionInput } from '../types.js';

export const MODEL_DIM = 32;
export const HEAD_DIM = 16;

export function tokenize(sentence: string): string[] {
  return sentence.split(/\s+/).filter((t) => t.length > 0);
}

/** FNV-1a of a string: the seed of its table row. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** mulberry32, uniform in [−1, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** The table row of a token (case-insensitive): MODEL_DIM values in [−1, 1). */
export function embedToken(token: string, seed = 1): Float64Array {
  const r = seeded(hash(token.toLowerCase()) ^ seed);
  return Float64Array.from({ length: MODEL_DIM }, r);
}

export interface Embedded {
  q: AttentionInput;
  k: AttentionInput;
  v: AttentionInput;
}

/** q, k, v [1, heads, N, HEAD_DIM] for the tokens: x = table + 0.5·position code, then seeded per-head projections. */
export function embed(tokens: readonly string[], heads: number, seed = 1): Embedded {
  const n = tokens.length;
  const x = new Float64Array(n * MODEL_DIM);
  tokens.forEach((t, i) => {
    const e = embedToken(t, seed);
    for (let c = 0; c < MODEL_DIM; c++) {
      const freq = 1 / 100 ** ((2 * Math.floor(c / 2)) / MODEL_DIM);
      x[i * MODEL_DIM + c] = e[c]! + 0.5 * (c % 2 ? Math.cos(i * freq) : Math.sin(i * freq));
    }
  });
  const project = (which: number): AttentionInput => {
    const data = new Float32Array(heads * n * HEAD_DIM);
    const r = seeded(seed * 7919 + which);
    const scale = 1 / Math.sqrt(MODEL_DIM);
    for (let h = 0; h < heads; h++) {
      const w = Float64Array.from({ length: MODEL_DIM * HEAD_DIM }, () => r() * scale * 2);
      for (let i = 0; i < n; i++) {
        for (let o = 0; o < HEAD_DIM; o++) {
          let s = 0;
          for (let c = 0; c < MODEL_DIM; c++) s += x[i * MODEL_DIM + c]! * w[c * HEAD_DIM + o]!;
          data[(h * n + i) * HEAD_DIM + o] = s;
        }
      }
    }
    return { data, shape: [1, heads, n, HEAD_DIM] };
  };
  return { q: project(1), k: project(2), v: project(3) };
}

/** Seeded inputs of any length for timing: [1, heads, n, d] uniform in [−1, 1). */
export function randomInputs(n: number, heads: number, d: number, seed = 3): Embedded {
  const r = seeded(seed);
  const t = (): AttentionInput => ({ data: Float32Array.from({ length: heads * n * d }, r), shape: [1, heads, n, d] });
  return { q: t(), k: t(), v: t() };
}
