/**
 * The variant kernels (linear attention, Performer FAVOR+, Linformer) through the public attention() against their
 * float64 definitions (ts/reference/variants/, fed the very same projections), on seeded inputs in [−1, 1] with
 * Nq ≠ Nk, GQA/MQA, BNHD, Dk/Dv not multiples of 4 and both causal alignments; then each variant's error against
 * exact softmax attention, and the validation of the `variant` option.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AttentionError, attention, init, performerProjection, linformerProjection, referenceAttention, referenceVariantAttention,
} from '../ts/index.js';
import type { AttentionOptions, VariantOption } from '../ts/index.js';
import { maxAbsDiff } from './compare.js';
import { inputs, type Shape } from './shaped-inputs.js';

/**
 * Tolerance: max abs error 1e-5 (outputs lie in [−1, 1]), the exact kernel's budget, for all three. Linear attention
 * and Performer outputs are ratios of sums of positive terms, so f32 rounding stays relative (≈ 1e-7 per term, no
 * cancellation; the vectorised exp is within 2.5e-7); Linformer is an f32 projection (sums of Nk products) followed
 * by the exact kernel. Seen: ≤ 7e-7 up to N = 512, D = 64.
 */
const TOL = 1e-5;



const meanAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
};

const SHAPES: Shape[] = [
  { b: 1, hq: 1, hkv: 1, nq: 1, nk: 1, dk: 1, dv: 1, layout: 'BHND' },
  { b: 2, hq: 4, hkv: 2, nq: 70, nk: 70, dk: 5, dv: 3, layout: 'BHND' }, // GQA, odd widths, > one causal chunk
  { b: 1, hq: 3, hkv: 1, nq: 33, nk: 150, dk: 16, dv: 9, layout: 'BNHD' }, // MQA, Nq < Nk, BNHD
  { b: 1, hq: 2, hkv: 2, nq: 150, nk: 40, dk: 8, dv: 16, layout: 'BHND' }, // Nq > Nk (bottom-right: empty rows)
  { b: 1, hq: 1, hkv: 1, nq: 200, nk: 200, dk: 32, dv: 32, layout: 'BHND' },
];

const VARIANTS: VariantOption[] = [
  { kind: 'linear' },
  { kind: 'performer', features: 7, seed: 3 },
  { kind: 'performer' }, // 256 features, seed 0
  { kind: 'linformer', projectedLength: 5, seed: 1 },
  { kind: 'linformer' }, // min(256, Nk) rows
];

const CAUSAL: (AttentionOptions['causal'])[] = [false, true, 'bottom-right'];

beforeAll(async () => {
  await init();
});

describe('variants vs their float64 definitions', () => {
  for (const variant of VARIANTS) {
    const label = JSON.stringify(variant);
    for (const causal of variant.kind === 'linformer' ? [false] : CAUSAL) {
      it(`${label} causal=${String(causal)}`, () => {
        SHAPES.forEach((s, n) => {
          const { q, k, v } = inputs(100 + n, s);
          const options: AttentionOptions = { variant, causal, layout: s.layout };
          const got = attention(q, k, v, options);
          const want = referenceVariantAttention(q, k, v, options);
          expect(got.shape).toEqual(want.shape);
          const err = maxAbsDiff(got.output, want.output);
          const tol = TOL;
          expect(err, `${JSON.stringify(s)}: max err ${err.toExponential(2)} > ${tol.toExponential(2)}`).toBeLessThanOrEqual(tol);
        });
      });
    }
  }

  it('causal rows only see their prefix (changing later keys leaves earlier rows unchanged)', () => {
    const s: Shape = { b: 1, hq: 1, hkv: 1, nq: 130, nk: 130, dk: 8, dv: 8, layout: 'BHND' };
    for (const variant of VARIANTS.slice(0, 3)) {
      const { q, k, v } = inputs(7, s);
      const before = attention(q, k, v, { variant, causal: true }).output;
      const k2 = Float32Array.from(k.data);
      const v2 = Float32Array.from(v.data);
      for (let i = 100 * 8; i < k2.length; i++) { k2[i] = -k2[i]!; v2[i] = 1 - v2[i]!; }
      const after = attention(q, { data: k2, shape: k.shape }, { data: v2, shape: v.shape }, { variant, causal: true }).output;
      // Not bitwise for Performer: a chunk's keys set the running shift of its features, so rows before the change
      // round differently (the shift cancels in exact arithmetic). 1e-6 is ten times the f32 rounding seen.
      expect(maxAbsDiff(before.subarray(0, 100 * 8), after.subarray(0, 100 * 8))).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(before.subarray(100 * 8), after.subarray(100 * 8))).toBeGreaterThan(1e-3);
    }
  });

  it('writes into `out` and leaves the inputs untouched', () => {
    const s = SHAPES[1]!;
    const { q, k, v } = inputs(9, s);
    const copies = [q.data, k.data, v.data].map((x) => Float32Array.from(x));
    for (const variant of VARIANTS) {
      const out = new Float32Array(s.b * s.hq * s.nq * s.dv);
      const r = attention(q, k, v, { variant, out });
      expect(r.output).toBe(out);
      expect(maxAbsDiff(out, attention(q, k, v, { variant }).output)).toBe(0);
    }
    [q.data, k.data, v.data].forEach((x, i) => expect(maxAbsDiff(x, copies[i]!)).toBe(0));
  });
});

describe('random projections', () => {
  it('performer: a seed is a projection (same seed same output, other seed other output, explicit = seeded)', () => {
    const s = SHAPES[2]!;
    const { q, k, v } = inputs(11, s);
    const run = (variant: VariantOption) => attention(q, k, v, { variant, layout: s.layout }).output;
    const a = run({ kind: 'performer', features: 64, seed: 5 });
    expect(maxAbsDiff(a, run({ kind: 'performer', features: 64, seed: 5 }))).toBe(0);
    expect(maxAbsDiff(a, run({ kind: 'performer', features: 64, seed: 6 }))).toBeGreaterThan(1e-4);
    const projection = { data: performerProjection(64, s.dk, 5), shape: [64, s.dk] };
    expect(maxAbsDiff(a, run({ kind: 'performer', projection }))).toBe(0);
  });

  it('linformer: explicit E and F equal the seeded ones', () => {
    const s = SHAPES[2]!;
    const { q, k, v } = inputs(12, s);
    const { e, f } = linformerProjection(20, s.nk, 4);
    const a = attention(q, k, v, { variant: { kind: 'linformer', projectedLength: 20, seed: 4 }, layout: s.layout }).output;
    const b = attention(q, k, v, {
      variant: { kind: 'linformer', e: { data: e, shape: [20, s.nk] }, f: { data: f, shape: [20, s.nk] } }, layout: s.layout,
    }).output;
    expect(maxAbsDiff(a, b)).toBe(0);
  });

  it('performer projections are orthogonal within each block of Dk rows, rows ~ N(0, I) in norm', () => {
    const dk = 16;
    const w = performerProjection(40, dk, 2); // blocks of 16, 16, 8 rows
    const row = (a: number) => Array.from(w.subarray(a * dk, (a + 1) * dk));
    const dot = (x: number[], y: number[]) => x.reduce((s, t, i) => s + t * y[i]!, 0);
    let norms = 0;
    for (let a = 0; a < 40; a++) {
      norms += Math.sqrt(dot(row(a), row(a)));
      for (let b = Math.floor(a / dk) * dk; b < a; b++) {
        expect(Math.abs(dot(row(a), row(b))) / Math.sqrt(dot(row(a), row(a)) * dot(row(b), row(b)))).toBeLessThan(1e-5);
      }
    }
    // E|ω| = √2·Γ((d+1)/2)/Γ(d/2) ≈ 3.94 for d = 16; 40 draws of a chi(16) (sd ≈ 0.7) average within ±0.5 of it.
    expect(Math.abs(norms / 40 - 3.94)).toBeLessThan(0.5);
  });
});

describe('error against exact softmax attention', () => {
  it('performer: the error shrinks as the number of features grows', () => {
    const s: Shape = { b: 1, hq: 4, hkv: 4, nq: 128, nk: 128, dk: 16, dv: 16, layout: 'BHND' };
    const FEATURES = [8, 32, 128, 512, 2048];
    const SEEDS = [1, 2, 3, 4];
    const mean: number[] = [];
    for (const m of FEATURES) {
      let sum = 0;
      for (const seed of SEEDS) {
        const { q, k, v } = inputs(seed * 10, s);
        const exact = attention(q, k, v).output;
        sum += meanAbsDiff(attention(q, k, v, { variant: { kind: 'performer', features: m, seed } }).output, exact);
      }
      mean.push(sum / SEEDS.length);
    }
    console.log(`performer mean |error| vs exact (N=128, D=16, 4 heads, 4 seeds): ${FEATURES.map((m, i) => `m=${m}: ${mean[i]!.toExponential(2)}`).join(', ')}`);
    // Monte-Carlo error ~ 1/√m: each 4× more features should cut it by ~2; demand a steady decrease and a loose bound.
    for (let i = 1; i < mean.length; i++) expect(mean[i]!).toBeLessThan(mean[i - 1]!);
    expect(mean[mean.length - 1]!).toBeLessThan(mean[0]! / 4);
    expect(mean[mean.length - 1]!).toBeLessThan(0.02);
  });

  it('linformer: the error shrinks as the projected length approaches Nk; linear attention is reported', () => {
    const s: Shape = { b: 1, hq: 2, hkv: 2, nq: 128, nk: 128, dk: 16, dv: 16, layout: 'BHND' };
    const { q, k, v } = inputs(77, s);
    const exact = attention(q, k, v).output;
    const lengths = [8, 32, 128];
    const errs = lengths.map((projectedLength) =>
      meanAbsDiff(attention(q, k, v, { variant: { kind: 'linformer', projectedLength, seed: 1 } }).output, exact));
    const linear = meanAbsDiff(attention(q, k, v, { variant: { kind: 'linear' } }).output, exact);
    console.log(`linformer mean |error| vs exact (N=128, D=16): ${lengths.map((r, i) => `k=${r}: ${errs[i]!.toExponential(2)}`).join(', ')}; ` +
      `linear attention (a different kernel, not an estimator of softmax): ${linear.toExponential(2)}`);
    // A random projection is not an estimator converging to exact attention, but more rows keep more of the keys.
    expect(errs[2]!).toBeLessThan(errs[0]!);
    // Linear attention averages values with positive weights: bounded by the value range, and not exact.
    expect(linear).toBeGreaterThan(1e-4);
    expect(linear).toBeLessThan(1);
  });
});

describe('validation of the variant option', () => {
  const s = SHAPES[1]!;
  const { q, k, v } = inputs(13, s);
  const fails = (options: unknown, argument: string) => {
    let err: unknown;
    try {
      attention(q, k, v, options as AttentionOptions);
    } catch (e) {
      err = e;
    }
    expect(err, `${JSON.stringify(options)} should fail`).toBeInstanceOf(AttentionError);
    expect((err as AttentionError).argument).toBe(argument);
    expect((err as AttentionError).code).toBe('INVALID_OPTION');
  };

  it('names the variant field at fault', () => {
    fails({ variant: 'performer' }, 'variant');
    fails({ variant: { kind: 'reformer' } }, 'variant.kind');
    fails({ variant: { kind: 'linear', features: 4 } }, 'variant.features');
    fails({ variant: { kind: 'performer', features: 0 } }, 'variant.features');
    fails({ variant: { kind: 'performer', features: 2.5 } }, 'variant.features');
    fails({ variant: { kind: 'performer', seed: -1 } }, 'variant.seed');
    fails({ variant: { kind: 'performer', projection: { data: new Float32Array(12), shape: [3, 4] } } }, 'variant.projection');
    fails({ variant: { kind: 'performer', features: 2, projection: { data: new Float32Array(15), shape: [3, 5] } } }, 'variant.projection');
    fails({ variant: { kind: 'performer', projection: { data: new Float64Array(15), shape: [3, 5] } } }, 'variant.projection');
    fails({ variant: { kind: 'performer', seed: 1, projection: { data: new Float32Array(15), shape: [3, 5] } } }, 'variant.seed');
    fails({ variant: { kind: 'linformer', projectedLength: 1e6 } }, 'variant.projectedLength');
    fails({ variant: { kind: 'linformer', e: { data: new Float32Array(70), shape: [1, 70] } } }, 'variant.f');
    fails({ variant: { kind: 'linformer', e: { data: new Float32Array(69), shape: [1, 69] }, f: { data: new Float32Array(69), shape: [1, 69] } } }, 'variant.e');
    fails({ variant: { kind: 'linformer', projectedLength: 3, e: { data: new Float32Array(140), shape: [2, 70] }, f: { data: new Float32Array(140), shape: [2, 70] } } }, 'variant.e');
  });

  it('rejects the options a variant cannot honour, naming them', () => {
    const mask = { data: new Uint8Array(70 * 70).fill(1), shape: [70, 70] };
    fails({ variant: { kind: 'linear' }, mask }, 'mask');
    fails({ variant: { kind: 'performer' }, bias: { data: new Float32Array(70 * 70), shape: [70, 70] } }, 'bias');
    fails({ variant: { kind: 'performer' }, window: { left: 4 } }, 'window');
    fails({ variant: { kind: 'linear' }, keyLengths: [3, 3] }, 'keyLengths');
    fails({ variant: { kind: 'linear' }, queryLengths: [3, 3] }, 'queryLengths');
    fails({ variant: { kind: 'performer' }, softcap: 30 }, 'softcap');
    fails({ variant: { kind: 'performer' }, similarity: 'cosine' }, 'similarity');
    fails({ variant: { kind: 'performer' }, returnLse: true }, 'returnLse');
    fails({ variant: { kind: 'linear' }, returnWeights: true }, 'returnWeights');
    fails({ variant: { kind: 'linear' }, scale: 0.5 }, 'scale');
    fails({ variant: { kind: 'performer' }, scale: -0.5 }, 'scale');
    fails({ variant: { kind: 'linformer' }, causal: true }, 'causal');
    fails({ variant: { kind: 'linformer' }, causal: 'bottom-right' }, 'causal');
  });

  it('referenceAttention is exact only: it refuses a variant instead of ignoring it', () => {
    expect(() => referenceAttention(q, k, v, { variant: { kind: 'linear' } })).toThrow(AttentionError);
  });
});
