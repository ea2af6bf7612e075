/**
 * Relative-position bias tables (T5 buckets): the bucket function against values worked out by hand from the
 * Hugging Face formula, the float64 reference's table lookup against an explicit N×N bias built from the buckets
 * directly, and the wasm kernel (and the pool) against the reference.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, attention, createAttention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { t5Bucket, t5RelativeBias } from '../ts/layer/t5.js';
import { maxDiff } from './layer-util.js';
import { uniform } from './rng.js';

beforeAll(async () => {
  await init();
});

describe('t5Bucket', () => {
  it('bidirectional, 32 buckets, max distance 128 (T5 encoder defaults)', () => {
    // 16 buckets per direction, 8 exact; log buckets 8 + ⌊ln(|r|/8)/ln(16)·8⌋, capped at 15; future +16.
    const want: [number, number][] = [[0, 0], [-1, 1], [-7, 7], [-8, 8], [-9, 8], [-12, 9], [-16, 10], [-127, 15], [-128, 15],
      [-5000, 15], [1, 17], [7, 23], [12, 25], [128, 31], [5000, 31]];
    for (const [r, b] of want) expect([r, t5Bucket(r)]).toEqual([r, b]);
  });
  it('unidirectional (decoder): the future shares bucket 0', () => {
    const want: [number, number][] = [[5, 0], [0, 0], [-1, 1], [-15, 15], [-16, 16], [-32, 21], [-127, 31], [-128, 31], [-999, 31]];
    for (const [r, b] of want) expect([r, t5Bucket(r, { bidirectional: false })]).toEqual([r, b]);
  });
});

/** The explicit [H, Nq, Nk] bias weight[bucket(j − diag), h]. */
function explicit(weight: Float32Array, H: number, nq: number, nk: number, shift: number, bidirectional: boolean, nb: number, md: number): Float32Array {
  const out = new Float32Array(H * nq * nk);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < nq; i++) {
      for (let j = 0; j < nk; j++) {
        out[(h * nq + i) * nk + j] = weight[t5Bucket(j - (i + shift), { bidirectional, numBuckets: nb, maxDistance: md }) * H + h]!;
      }
    }
  }
  return out;
}

describe('relativeBias in attention()', () => {
  const cases: { name: string; nq: number; nk: number; H: number; bidirectional: boolean; nb: number; md: number; options: AttentionOptions; shift: number }[] = [
    { name: 'encoder: bidirectional, distances past max', nq: 70, nk: 70, H: 4, bidirectional: true, nb: 32, md: 20, options: {}, shift: 0 },
    { name: 'decoder with cache: causal bottom-right, Nq < Nk', nq: 6, nk: 90, H: 2, bidirectional: false, nb: 16, md: 40,
      options: { causal: 'bottom-right' }, shift: 84 },
    { name: 'with ALiBi, mask and key lengths', nq: 33, nk: 33, H: 2, bidirectional: true, nb: 8, md: 10,
      options: { alibi: true, keyLengths: [30], mask: { data: new Uint8Array(33 * 33).map((_, x) => (x % 7 ? 1 : 0)), shape: [33, 33] } }, shift: 0 },
  ];
  for (const c of cases) {
    const D = 16;
    const q = { data: uniform(1, c.H * c.nq * D), shape: [1, c.H, c.nq, D] };
    const k = { data: uniform(2, c.H * c.nk * D), shape: [1, c.H, c.nk, D] };
    const v = { data: uniform(3, c.H * c.nk * D), shape: [1, c.H, c.nk, D] };
    const weight = uniform(4, c.nb * c.H, -2, 2);
    const relativeBias = t5RelativeBias(weight, c.H, { bidirectional: c.bidirectional, numBuckets: c.nb, maxDistance: c.md });
    const options: AttentionOptions = { ...c.options, relativeBias };

    it(`${c.name}: the reference's table equals the explicit bucket bias`, () => {
      const bias = { data: explicit(weight, c.H, c.nq, c.nk, c.shift, c.bidirectional, c.nb, c.md), shape: [c.H, c.nq, c.nk] };
      const a = referenceAttention(q, k, v, options);
      const e = referenceAttention(q, k, v, { ...c.options, bias });
      expect(maxDiff(a.output, e.output)).toBeLessThan(1e-9);
    });
    it(`${c.name}: wasm within 1e-5 of the reference`, () => {
      const got = attention(q, k, v, { ...options, returnWeights: true });
      const want = referenceAttention(q, k, v, options);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(1e-5);
      expect(maxDiff(got.weights!, want.weights)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('a shared row [1, L] applies to every head; the pool gives bitwise attention()', async () => {
    const [H, N, D] = [4, 300, 8];
    const q = { data: uniform(5, H * N * D), shape: [1, H, N, D] };
    const table = uniform(6, 41, -1, 1);
    const options: AttentionOptions = { causal: true, relativeBias: { table: { data: table, shape: [1, 41] }, zero: 20 } };
    const want = referenceAttention(q, q, q, options);
    const got = attention(q, q, q, options).output;
    expect(maxDiff(got, want.output)).toBeLessThanOrEqual(1e-5);
    const pool = await createAttention({ threads: 2 });
    try {
      expect(maxDiff((await pool.run(q, q, q, options)).output, got)).toBe(0);
    } finally {
      pool.dispose();
    }
  });

  it('errors name relativeBias', () => {
    const x = { data: uniform(7, 2 * 4 * 8), shape: [1, 2, 4, 8] };
    const bad: [unknown, string][] = [
      [{ table: { data: new Float32Array(6), shape: [3, 2] }, zero: 0 }, 'relativeBias.table'],
      [{ table: { data: new Float32Array(6), shape: [2, 3] }, zero: 3 }, 'relativeBias.zero'],
      [{ table: { data: new Float32Array(6), shape: [2, 3] } }, 'relativeBias.zero'],
      [new Float32Array(3), 'relativeBias'],
    ];
    for (const [relativeBias, argument] of bad) {
      let err: unknown;
      try { attention(x, x, x, { relativeBias } as AttentionOptions); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(AttentionError);
      expect((err as AttentionError).argument).toBe(argument);
    }
    expect(() => t5RelativeBias(new Float32Array(5), 2)).toThrow(/weight: expected 64 elements/);
  });
});
