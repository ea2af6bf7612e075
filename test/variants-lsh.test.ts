/**
 * Reformer LSH attention (variant 'lsh', shared-QK) through the public attention() against its float64 definition
 * (ts/reference/variants/lsh.ts, fed the very same rotations), on seeded inputs in [−1, 1]: N not a multiple of the
 * chunk, rounds 1..4, several bucket counts, causal (both alignments name the same diagonal: Nq = Nk), BNHD,
 * batch > 1; then against exact attention where the definition reduces to it (one chunk holding every position),
 * its error against exact shared-QK attention as rounds grow, the worker pool, and the validation of its options.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, attention, createAttention, init, lshRotations, referenceVariantAttention } from '../ts/index.js';
import type { AttentionOptions, Layout, LshVariant } from '../ts/index.js';
import { buildDescriptor } from '../ts/spec.js';
import { uniform } from './rng.js';
import { maxAbsDiff } from './compare.js';

/** The exact kernel's budget. Buckets and sorted order are bitwise the kernel's (f32 hash sums in a fixed order);
 * what is left is f32 rounding of a softmax over ≤ 2·chunk keys per round and of the round merge. */
const TOL = 1e-5;

interface Shape { b: number; h: number; n: number; dk: number; dv: number; layout: Layout }

/** q (= k) and v; `k` is the same object as `q`, as the shared-QK variant requires. */
function inputs(seed: number, s: Shape) {
  const dims = (d: number): number[] => (s.layout === 'BHND' ? [s.b, s.h, s.n, d] : [s.b, s.n, s.h, d]);
  const q = { data: uniform(seed, s.b * s.h * s.n * s.dk), shape: dims(s.dk) };
  return { q, k: q, v: { data: uniform(seed + 1, s.b * s.h * s.n * s.dv), shape: dims(s.dv) } };
}

const meanAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
};

const SHAPES: Shape[] = [
  { b: 1, h: 1, n: 1, dk: 1, dv: 1, layout: 'BHND' },
  { b: 2, h: 2, n: 37, dk: 5, dv: 3, layout: 'BHND' }, // odd widths, 37 = 4·8 + 5
  { b: 1, h: 3, n: 150, dk: 16, dv: 9, layout: 'BNHD' }, // 150 = 2·64 + 22
  { b: 1, h: 1, n: 333, dk: 32, dv: 32, layout: 'BHND' },
];

const VARIANTS: LshVariant[] = [
  { kind: 'lsh', buckets: 2, rounds: 1, chunk: 8 },
  { kind: 'lsh', buckets: 8, rounds: 2, chunk: 16, seed: 3 },
  { kind: 'lsh', buckets: 6, rounds: 3, chunk: 5, seed: 7 },
  { kind: 'lsh', buckets: 16, rounds: 4 }, // chunk 64
  { kind: 'lsh', buckets: 4, rounds: 2, chunk: 1 }, // every query alone with the previous position in sorted order
];

beforeAll(async () => {
  await init();
});

describe('lsh vs its float64 definition', () => {
  for (const variant of VARIANTS) {
    for (const causal of [false, true, 'bottom-right'] as const) {
      it(`${JSON.stringify(variant)} causal=${String(causal)}`, () => {
        SHAPES.forEach((s, n) => {
          const { q, k, v } = inputs(200 + 3 * n, s);
          const options: AttentionOptions = { variant, causal, layout: s.layout };
          const got = attention(q, k, v, options);
          const want = referenceVariantAttention(q, k, v, options);
          expect(got.shape).toEqual(want.shape);
          const err = maxAbsDiff(got.output, want.output);
          expect(err, `${JSON.stringify(s)}: max err ${err.toExponential(2)}`).toBeLessThanOrEqual(TOL);
        });
      });
    }
  }

  it('N = 65 536 (an N×N matrix of f32 would not fit in wasm32 memory) matches the reference', () => {
    const s: Shape = { b: 1, h: 1, n: 65536, dk: 8, dv: 4, layout: 'BHND' };
    const { q, k, v } = inputs(21, s);
    for (const causal of [false, true]) {
      const options: AttentionOptions = { variant: { kind: 'lsh', buckets: 32, rounds: 2, chunk: 32, seed: 5 }, causal };
      const err = maxAbsDiff(attention(q, k, v, options).output, referenceVariantAttention(q, k, v, options).output);
      expect(err).toBeLessThanOrEqual(TOL);
    }
  });

  it('a scale, and k passed as an equal copy of q', () => {
    const s = SHAPES[2]!;
    const { q, v } = inputs(31, s);
    const k = { data: Float32Array.from(q.data), shape: q.shape };
    const options: AttentionOptions = { variant: { kind: 'lsh', buckets: 8, rounds: 3, chunk: 20 }, layout: s.layout, scale: 2.5 };
    const got = attention(q, k, v, options).output;
    expect(maxAbsDiff(got, referenceVariantAttention(q, k, v, options).output)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(got, attention(q, q, v, options).output)).toBe(0);
  });

  it('causal rows never see later positions (changing later rows of q and v leaves earlier outputs unchanged)', () => {
    // With one chunk holding everything the hash cannot move keys in or out, so only causality decides.
    const s: Shape = { b: 1, h: 1, n: 90, dk: 8, dv: 8, layout: 'BHND' };
    const { q, v } = inputs(41, s);
    const variant: LshVariant = { kind: 'lsh', buckets: 4, rounds: 2, chunk: 128 };
    const before = attention(q, q, v, { variant, causal: true }).output;
    const q2 = Float32Array.from(q.data);
    const v2 = Float32Array.from(v.data);
    for (let i = 60 * 8; i < q2.length; i++) { q2[i] = -q2[i]!; v2[i] = 1 - v2[i]!; }
    const q2t = { data: q2, shape: q.shape };
    const after = attention(q2t, q2t, { data: v2, shape: v.shape }, { variant, causal: true }).output;
    expect(maxAbsDiff(before.subarray(0, 60 * 8), after.subarray(0, 60 * 8))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(before.subarray(60 * 8), after.subarray(60 * 8))).toBeGreaterThan(1e-3);
  });
});

/** Exact attention over the normalised queries as keys, with the diagonal masked (row 0 under causal keeps it). */
function exactSharedQK(q: Float32Array, v: Float32Array, n: number, dk: number, dv: number, causal: boolean, scale?: number): Float32Array {
  const keys = new Float32Array(q.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < dk; c++) s += q[i * dk + c]! ** 2;
    const norm = Math.sqrt(s);
    for (let c = 0; c < dk; c++) keys[i * dk + c] = norm > 0 ? q[i * dk + c]! / norm : 0;
  }
  const mask = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mask[i * n + j] = (j !== i && (!causal || j < i)) || (causal && i === 0 && j === 0) ? 1 : 0;
  return attention({ data: q, shape: [1, 1, n, dk] }, { data: keys, shape: [1, 1, n, dk] }, { data: v, shape: [1, 1, n, dv] },
    { mask: { data: mask, shape: [n, n] }, ...(scale === undefined ? {} : { scale }) }).output;
}

describe('lsh against exact attention', () => {
  it('one chunk holding every position = exact attention on the normalised queries without the diagonal', () => {
    const [n, dk, dv] = [70, 12, 7];
    const q = uniform(51, n * dk);
    const v = uniform(52, n * dv);
    for (const causal of [false, true]) {
      for (const rounds of [1, 3]) {
        const got = attention({ data: q, shape: [1, 1, n, dk] }, { data: q, shape: [1, 1, n, dk] }, { data: v, shape: [1, 1, n, dv] },
          { variant: { kind: 'lsh', buckets: 8, rounds, chunk: n }, causal }).output;
        // Every round sees the same keys, so merging rounds by log-sum-exp changes nothing.
        expect(maxAbsDiff(got, exactSharedQK(q, v, n, dk, dv, causal))).toBeLessThanOrEqual(TOL);
      }
    }
  });

  it('reports the error against exact shared-QK attention; more rounds bring it down', () => {
    // Clustered queries with a sharp scale: attention concentrates on each query's cluster, which LSH should find.
    const [n, dk, dv, clusters] = [1024, 32, 16, 16];
    const centres = uniform(61, clusters * dk);
    const noise = uniform(62, n * dk, -0.15, 0.15);
    const q = new Float32Array(n * dk);
    for (let i = 0; i < n; i++) for (let c = 0; c < dk; c++) q[i * dk + c] = centres[(i * 7 % clusters) * dk + c]! + noise[i * dk + c]!;
    const v = uniform(63, n * dv);
    const scale = 2;
    const rows: string[] = [];
    for (const causal of [false, true]) {
      const exact = exactSharedQK(q, v, n, dk, dv, causal, scale);
      const errs = [1, 2, 4, 8].map((rounds) => {
        const out = attention({ data: q, shape: [1, 1, n, dk] }, { data: q, shape: [1, 1, n, dk] }, { data: v, shape: [1, 1, n, dv] },
          { variant: { kind: 'lsh', buckets: 16, rounds, chunk: 32, seed: 1 }, causal, scale }).output;
        return meanAbsDiff(out, exact);
      });
      rows.push(`causal=${causal}: ${[1, 2, 4, 8].map((r, i) => `rounds=${r}: ${errs[i]!.toExponential(2)}`).join(', ')}`);
      expect(errs[3]!).toBeLessThan(errs[0]!);
      expect(errs[3]!).toBeLessThan(0.1);
    }
    console.log(`lsh mean |error| vs exact shared-QK attention (N=${n}, D=${dk}, ${clusters} clusters, 16 buckets, chunk 32): ${rows.join('; ')}`);
  });
});

describe('lsh rotations, pool and validation', () => {
  it('the seed draws the rotations the descriptor carries', () => {
    const s = SHAPES[1]!;
    const { q, k, v } = inputs(71, s);
    const d = buildDescriptor(q, k, v, { variant: { kind: 'lsh', buckets: 6, rounds: 3, seed: 9 } });
    expect(d.variant).toMatchObject({ kind: 'lsh', buckets: 6, rounds: 3, chunk: 64 });
    const rot = (d.variant as { rotations: Float32Array }).rotations;
    expect(maxAbsDiff(rot, lshRotations(3, s.dk, 6, 9))).toBe(0);
    expect(rot.length).toBe(3 * s.dk * 3);
    const run = (seed: number) => attention(q, k, v, { variant: { kind: 'lsh', buckets: 6, rounds: 1, chunk: 4, seed } }).output;
    expect(maxAbsDiff(run(9), run(9))).toBe(0);
    expect(maxAbsDiff(run(9), run(10))).toBeGreaterThan(1e-4);
  });

  it('the worker pool gives the same bits as attention()', async () => {
    const s: Shape = { b: 2, h: 3, n: 300, dk: 16, dv: 8, layout: 'BHND' };
    const { q, k, v } = inputs(81, s);
    const pool = await createAttention({ threads: 2 });
    try {
      for (const causal of [false, true]) {
        const options: AttentionOptions = { variant: { kind: 'lsh', buckets: 8, rounds: 2, chunk: 32 }, causal };
        const want = attention(q, k, v, options).output;
        const got = (await pool.run(q, k, v, options)).output;
        expect(maxAbsDiff(got, want)).toBe(0);
      }
    } finally {
      pool.dispose();
    }
  });

  const s = SHAPES[1]!;
  const { q, k, v } = inputs(91, s);
  const fails = (options: unknown, argument: string, kk: unknown = k) => {
    let err: unknown;
    try {
      attention(q, kk as typeof k, v, options as AttentionOptions);
    } catch (e) {
      err = e;
    }
    expect(err, `${JSON.stringify(options)} should fail`).toBeInstanceOf(AttentionError);
    expect((err as AttentionError).argument).toBe(argument);
    expect((err as AttentionError).code).toBe('INVALID_OPTION');
  };
  const lsh: LshVariant = { kind: 'lsh', buckets: 4, rounds: 1 };

  it('k must be q (shared-QK)', () => {
    const other = { data: Float32Array.from(q.data), shape: q.shape };
    other.data[17] = other.data[17]! + 0.5;
    fails({ variant: lsh }, 'k', other);
    const shorter = (rows: number, heads: number) => {
      let err: unknown;
      try {
        attention(q, { data: q.data.subarray(0, 2 * heads * rows * 5), shape: [2, heads, rows, 5] },
          { data: v.data.subarray(0, 2 * heads * rows * 3), shape: [2, heads, rows, 3] }, { variant: lsh });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ argument: 'k', code: 'INVALID_OPTION' });
    };
    shorter(30, 2); // Nk ≠ Nq
    shorter(37, 1); // GQA: one kv head for two query heads
  });

  it('names the field at fault', () => {
    fails({ variant: { kind: 'lsh', rounds: 1 } }, 'variant.buckets');
    fails({ variant: { ...lsh, buckets: 5 } }, 'variant.buckets');
    fails({ variant: { ...lsh, buckets: 0 } }, 'variant.buckets');
    fails({ variant: { ...lsh, buckets: 2.5 } }, 'variant.buckets');
    fails({ variant: { kind: 'lsh', buckets: 4 } }, 'variant.rounds');
    fails({ variant: { ...lsh, rounds: 0 } }, 'variant.rounds');
    fails({ variant: { ...lsh, rounds: 65 } }, 'variant.rounds');
    fails({ variant: { ...lsh, chunk: 0 } }, 'variant.chunk');
    fails({ variant: { ...lsh, seed: -1 } }, 'variant.seed');
    fails({ variant: { ...lsh, features: 4 } }, 'variant.features');
  });

  it('rejects the options it cannot honour', () => {
    fails({ variant: lsh, mask: { data: new Uint8Array(37 * 37).fill(1), shape: [37, 37] } }, 'mask');
    fails({ variant: lsh, window: { left: 4 } }, 'window');
    fails({ variant: lsh, returnLse: true }, 'returnLse');
    fails({ variant: lsh, returnWeights: true }, 'returnWeights');
    fails({ variant: lsh, keyLengths: [3, 3] }, 'keyLengths');
  });
});
