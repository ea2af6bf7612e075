/**
 * ALiBi without a causal mask over long key ranges. The bias slope·(gj − diag) then reaches slope·kLen to the right
 * of the diagonal (~2000 at slope 0.5 and 4096 keys), where a logit formed in f32 is off by ~1e-4, i.e. every softmax
 * weight by that much relatively: outputs were 1e-5…1e-4 off the float64 reference. The kernel now subtracts each
 * row's largest visible distance first (alibiRowShift) and adds it back to the LSE; key-range partials (attention()'s
 * and the pool's decode-like splits) are merged on the shifted LSEs and get the shift once, after the merge.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { maxAbsDiff, maxDiff } from './compare.js';
import { uniform } from './rng.js';

/** Outputs at the f32 level (they were 1.6e-5…1e-4 off before the shift); LSEs ~2000 relative to their size. */
const OUT_TOL = 3e-6;
const LSE_TOL = 1e-6;

function tensors(seed: number, b: number, hq: number, hkv: number, nq: number, nk: number, d: number) {
  return {
    q: { data: uniform(seed, b * hq * nq * d), shape: [b, hq, nq, d] },
    k: { data: uniform(seed + 1, b * hkv * nk * d), shape: [b, hkv, nk, d] },
    v: { data: uniform(seed + 2, b * hkv * nk * d), shape: [b, hkv, nk, d] },
  };
}

interface Case {
  name: string;
  dims: [number, number, number, number, number, number];
  options: AttentionOptions;
}

const CASES: Case[] = [
  { name: 'long rows, top-left', dims: [1, 2, 2, 48, 4096, 32], options: { alibi: Float32Array.of(0.5, 0.25) } },
  {
    name: 'long rows, GQA, right window, key lengths',
    dims: [2, 4, 2, 40, 3000, 16],
    options: { alibi: true, window: { right: 1200 }, keyLengths: [3000, 2100] },
  },
  { name: 'decode-like (key ranges), top-left', dims: [1, 4, 1, 3, 4096, 32], options: { alibi: true } },
  {
    name: 'decode-like, bottom-right, right window past the end',
    dims: [1, 2, 2, 2, 4096, 32],
    options: { alibi: Float32Array.of(1, 0.5), window: { right: 5000, align: 'bottom-right' }, queryLengths: [2] },
  },
];

describe('ALiBi without a causal mask stays exact over long key ranges', () => {
  beforeAll(async () => {
    await init();
  });

  for (const c of CASES) {
    it(`${c.name}: attention() and the pool against the float64 reference`, async () => {
      const [b, hq, hkv, nq, nk, d] = c.dims;
      const { q, k, v } = tensors(hq * 7 + nk, b, hq, hkv, nq, nk, d);
      const options: AttentionOptions = { ...c.options, returnLse: true };
      const ref = referenceAttention(q, k, v, options);
      const got = attention(q, k, v, options);
      expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(OUT_TOL);
      expect(maxDiff(got.lse!, ref.lse, true)).toBeLessThanOrEqual(LSE_TOL);
      const pool = await createAttention({ threads: 2 });
      const viaPool = await pool.run(q, k, v, options).finally(() => pool.dispose());
      // The pool splits as attention() does, so the bits are the same.
      expect(Array.from(viaPool.output)).toEqual(Array.from(got.output));
      expect(Array.from(viaPool.lse!)).toEqual(Array.from(got.lse!));
      const weights = attention(q, k, v, { ...options, returnWeights: true });
      expect(maxAbsDiff(weights.output, ref.output)).toBeLessThanOrEqual(OUT_TOL);
      expect(maxAbsDiff(weights.weights!, ref.weights)).toBeLessThanOrEqual(OUT_TOL);
    });
  }

  it('causal ALiBi is untouched by the shift (every row has R = 0): still within the usual budget', () => {
    const { q, k, v } = tensors(5, 1, 2, 2, 300, 300, 32);
    const options: AttentionOptions = { alibi: true, causal: true, returnLse: true };
    const ref = referenceAttention(q, k, v, options);
    const got = attention(q, k, v, options);
    expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(OUT_TOL);
    expect(maxDiff(got.lse!, ref.lse, true)).toBeLessThanOrEqual(LSE_TOL);
  });
});
