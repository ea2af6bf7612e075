/**
 * Robustness of the linear-time variants beyond inputs in [−1, 1]. Performer FAVOR+ with large logits: the feature
 * logarithms ω_a·x′ − |x′|²/2 of different keys and features lie far more than f32's exp range (~88) apart, so the
 * kernel must shift each feature by its own running maximum (one shift for the whole state gave O(1) errors, zero
 * rows and NaN from Gaussian q, k with σ ≈ 10, D = 64). The oracle is the float64 definition evaluated in log-space
 * (w_ij ∝ Σ_a exp(pre_a(q_i) + pre_a(k_j)), normalised by the row's largest term), written here from the projection
 * alone. The SDK's float64 reference (referenceVariantAttention) must match it too: it once took exp(pre) unshifted,
 * which underflows in float64 as well (every feature 0 from σ ≈ 12, D = 64; σ = 10 causal rows already 0). Then LSH
 * with |q| ~ 1e20 (its keys q / |q| were 0 and the scores NaN once f32's sum of squares overflowed), rows with no
 * key under bottom-right causal, reproducible calls, and the pool's bitwise agreement on the causal form (keys
 * absorbed row by row). Last, linear attention with q, k, v far beyond f32's product range (1e16 … 1e37, a few huge
 * rows among normal ones, huge v with normal k and the reverse, tiny v before huge v) against the float64 reference:
 * its f32 sums overflowed to ∞ / NaN until the kernel scaled features and values by powers of two.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init, performerProjection, referenceVariantAttention } from '../ts/index.js';
import type { AttentionOptions, Layout } from '../ts/index.js';
import { Rng } from './rng.js';
import { maxAbsDiff } from './compare.js';
import { inputs as uniformInputs } from './shaped-inputs.js';

interface Shape { b: number; hq: number; hkv: number; nq: number; nk: number; dk: number; dv: number; layout: Layout }

function gaussian(rng: Rng, n: number, sigma: number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const u = 1 - rng.next();
    return sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  });
}

function inputs(seed: number, s: Shape, sigma: number) {
  const rng = new Rng(seed);
  const dims = (h: number, n: number, d: number): number[] => (s.layout === 'BHND' ? [s.b, h, n, d] : [s.b, n, h, d]);
  return {
    q: { data: gaussian(rng, s.b * s.hq * s.nq * s.dk, sigma), shape: dims(s.hq, s.nq, s.dk) },
    k: { data: gaussian(rng, s.b * s.hkv * s.nk * s.dk, sigma), shape: dims(s.hkv, s.nk, s.dk) },
    v: { data: gaussian(rng, s.b * s.hkv * s.nk * s.dv, 1), shape: dims(s.hkv, s.nk, s.dv) },
  };
}

/** Element offset of row (b, h, n) of a [B, H, N, D] (BHND) or [B, N, H, D] (BNHD) tensor. */
function at(s: Shape, layout: Layout, h: number, nh: number, n: number, nn: number, d: number, b: number): number {
  return layout === 'BHND' ? ((b * nh + h) * nn + n) * d : ((b * nn + n) * nh + h) * d;
}

/** Performer in float64 log-space, from its definition: pre_a(x) = ω_a·x′ − |x′|²/2, x′ = x·√scale. */
function logSpacePerformer(x: ReturnType<typeof inputs>, s: Shape, m: number, seed: number, scale: number, causal: false | 'top-left' | 'bottom-right'): Float64Array {
  const w = performerProjection(m, s.dk, seed);
  const pre = (data: Float32Array, off: number): Float64Array => {
    const xs = Array.from(data.subarray(off, off + s.dk), (t) => t * Math.sqrt(scale));
    const half = xs.reduce((acc, t) => acc + t * t, 0) / 2;
    return Float64Array.from({ length: m }, (_, a) => xs.reduce((acc, t, c) => acc + w[a * s.dk + c]! * t, 0) - half);
  };
  const out = new Float64Array(s.b * s.hq * s.nq * s.dv);
  const group = s.hq / s.hkv;
  for (let b = 0; b < s.b; b++) {
    for (let h = 0; h < s.hq; h++) {
      const g = Math.floor(h / group);
      const pk = Array.from({ length: s.nk }, (_, j) => pre(x.k.data, at(s, s.layout, g, s.hkv, j, s.nk, s.dk, b)));
      for (let i = 0; i < s.nq; i++) {
        const pq = pre(x.q.data, at(s, s.layout, h, s.hq, i, s.nq, s.dk, b));
        const offset = causal === 'bottom-right' ? s.nk - s.nq : 0;
        const keys = causal ? Math.max(0, Math.min(s.nk, i + offset + 1)) : s.nk;
        const lw = pk.slice(0, keys).map((k) => {
          const t = pq.map((v, a) => v + k[a]!);
          const top = Math.max(...t);
          return top + Math.log(t.reduce((acc, v) => acc + Math.exp(v - top), 0));
        });
        const top = Math.max(...lw);
        const num = new Float64Array(s.dv);
        let den = 0;
        lw.forEach((l, j) => {
          const wt = Math.exp(l - top);
          den += wt;
          const vo = at(s, s.layout, g, s.hkv, j, s.nk, s.dv, b);
          for (let c = 0; c < s.dv; c++) num[c]! += wt * x.v.data[vo + c]!;
        });
        const o = at(s, s.layout, h, s.hq, i, s.nq, s.dv, b);
        for (let c = 0; c < s.dv; c++) out[o + c] = den === 0 ? 0 : num[c]! / den;
      }
    }
  }
  return out;
}

beforeAll(async () => {
  await init();
});

describe('performer with large logits', () => {
  const cases: [string, Shape, false | 'top-left' | 'bottom-right'][] = [
    ['MHA', { b: 1, hq: 1, hkv: 1, nq: 96, nk: 96, dk: 64, dv: 16, layout: 'BHND' }, false],
    ['causal', { b: 1, hq: 1, hkv: 1, nq: 96, nk: 96, dk: 64, dv: 16, layout: 'BHND' }, 'top-left'],
    ['GQA, B 2, BNHD, Nq < Nk, bottom-right causal', { b: 2, hq: 4, hkv: 2, nq: 40, nk: 70, dk: 32, dv: 5, layout: 'BNHD' }, 'bottom-right'],
    ['Nq > Nk, bottom-right causal (first rows see no key)', { b: 1, hq: 2, hkv: 1, nq: 70, nk: 40, dk: 32, dv: 7, layout: 'BHND' }, 'bottom-right'],
  ];
  for (const sigma of [1, 10, 12, 30]) {
    for (const [name, s, causal] of cases) {
      it(`${name}, σ = ${sigma}: the kernel and the float64 reference match the log-space definition, no NaN`, () => {
        const x = inputs(name.length + sigma, s, sigma);
        const m = 48;
        const options: AttentionOptions = { layout: s.layout, causal, variant: { kind: 'performer', features: m, seed: 5 } };
        const got = attention(x.q, x.k, x.v, options).output;
        const want = logSpacePerformer(x, s, m, 5, 1 / Math.sqrt(s.dk), causal);
        const reference = referenceVariantAttention(x.q, x.k, x.v, options).output;
        // The unshifted reference was off by O(1) here from σ = 10 on (rows of 0 where all features underflowed).
        expect(maxAbsDiff(reference, want)).toBeLessThan(1e-9);
        // σ = 1: the budget of test/variants.test.ts. σ ≥ 10: the feature logarithms are ~±500 (σ = 12) to ~±3600
        // (σ = 30), so their f32 rounding moves the weights by ~1e-4 relative (seen ≤ 1.7e-4); before the kernel's
        // per-feature shifts the error was O(1) or NaN.
        const tol = sigma === 1 ? 1e-5 : 2e-3;
        expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(tol);
        expect(maxAbsDiff(got, reference)).toBeLessThanOrEqual(tol);
        if (causal === 'bottom-right' && s.nq > s.nk) {
          const first = Array.from(got.subarray(0, (s.nq - s.nk) * s.dv));
          expect(first.every((v) => v === 0)).toBe(true);
        }
      });
    }
  }

});

describe('LSH, reproducibility and the pool', () => {
  it('LSH with huge queries (|q| ~ 1e20: the keys q / |q| need the norm beyond f32 sums of squares)', () => {
    const s: Shape = { b: 1, hq: 2, hkv: 2, nq: 100, nk: 100, dk: 16, dv: 8, layout: 'BHND' };
    const x = inputs(8, s, 1e20);
    for (const causal of [false, true]) {
      const options: AttentionOptions = { causal, scale: 1, variant: { kind: 'lsh', buckets: 8, rounds: 2, chunk: 10, seed: 3 } };
      const got = attention(x.q, x.q, x.v, options).output;
      expect(got.every((v) => !Number.isNaN(v))).toBe(true);
      expect(maxAbsDiff(got, referenceVariantAttention(x.q, x.q, x.v, options).output)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('the same call twice is bitwise the same, on the pool too (causal rows absorb keys in order)', async () => {
    const s: Shape = { b: 2, hq: 4, hkv: 2, nq: 150, nk: 150, dk: 16, dv: 8, layout: 'BHND' };
    const x = inputs(3, s, 12);
    const pool = await createAttention({ threads: 2 });
    try {
      for (const options of [
        { causal: true, variant: { kind: 'performer', features: 32, seed: 2 } },
        { causal: 'bottom-right', variant: { kind: 'linear' } },
      ] as AttentionOptions[]) {
        const one = attention(x.q, x.k, x.v, options).output;
        expect(Array.from(attention(x.q, x.k, x.v, options).output)).toEqual(Array.from(one));
        expect(Array.from((await pool.run(x.q, x.k, x.v, options)).output)).toEqual(Array.from(one));
        expect(one.every((v) => Number.isFinite(v))).toBe(true);
      }
    } finally {
      pool.dispose();
    }
  });
});

type Causal = false | 'top-left' | 'bottom-right';
type Inputs = ReturnType<typeof uniformInputs>;

/** Multiplies row (b, h, n) of a q, k or v tensor by `f(b, h, n)` (its heads are `nh`, its rows `nn`). */
function scaleRows(x: Inputs['q'], s: Shape, nh: number, nn: number, d: number, f: (b: number, h: number, n: number) => number): void {
  for (let b = 0; b < s.b; b++) {
    for (let h = 0; h < nh; h++) {
      for (let n = 0; n < nn; n++) {
        const o = at(s, s.layout, h, nh, n, nn, d, b);
        const t = f(b, h, n);
        for (let c = 0; c < d; c++) x.data[o + c]! *= t;
      }
    }
  }
}

/**
 * Largest |got − want| of each output row divided by the largest |v| among the keys that row sees (its output is a
 * convex combination of them, so that is the scale f32 rounding errs on); rows that see no key must be 0.
 */
function rowRelativeError(got: Float32Array, want: Float64Array, x: Inputs, s: Shape, causal: Causal): number {
  let worst = 0;
  const group = s.hq / s.hkv;
  for (let b = 0; b < s.b; b++) {
    for (let h = 0; h < s.hq; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < s.nq; i++) {
        const offset = causal === 'bottom-right' ? s.nk - s.nq : 0;
        const keys = causal ? Math.max(0, Math.min(s.nk, i + offset + 1)) : s.nk;
        let top = 0;
        for (let j = 0; j < keys; j++) {
          const vo = at(s, s.layout, g, s.hkv, j, s.nk, s.dv, b);
          for (let c = 0; c < s.dv; c++) top = Math.max(top, Math.abs(x.v.data[vo + c]!));
        }
        const o = at(s, s.layout, h, s.hq, i, s.nq, s.dv, b);
        for (let c = 0; c < s.dv; c++) {
          const d = Math.abs(got[o + c]! - want[o + c]!);
          if (Number.isNaN(d) || (top === 0 && d !== 0)) return Infinity;
          if (top > 0) worst = Math.max(worst, d / top);
        }
      }
    }
  }
  return worst;
}

describe('linear attention beyond the f32 range of its sums', () => {
  // S = Σ φ(k) vᵀ, z = Σ φ(k) and φ(q)ᵀS overflowed f32 once |q|·|k|·|v|·N·D neared 3.4e38 (|x| 1e16 with D 64 and
  // N ~ 1000 already) although the ratio is of the order of |v|. The float64 reference stays finite throughout.
  const shapes: [string, Shape][] = [
    ['MHA', { b: 1, hq: 1, hkv: 1, nq: 256, nk: 256, dk: 64, dv: 16, layout: 'BHND' }],
    ['GQA, B 2, BNHD, Nq < Nk', { b: 2, hq: 4, hkv: 2, nq: 40, nk: 70, dk: 32, dv: 5, layout: 'BNHD' }],
  ];
  const big = (n: number) => (n % 37 === 5 ? 1e30 : 1);
  const huge: [string, (x: Inputs, s: Shape) => void][] = [
    ...[1e16, 1e20, 1e25, 1e30].map((m): [string, (x: Inputs, s: Shape) => void] => [`q, k, v of magnitude ${m}`, (x, s) => {
      scaleRows(x.q, s, s.hq, s.nq, s.dk, () => m);
      scaleRows(x.k, s, s.hkv, s.nk, s.dk, () => m);
      scaleRows(x.v, s, s.hkv, s.nk, s.dv, () => m);
    }]),
    ['a few rows of q, k and v of 1e30 among rows in [−1, 1]', (x, s) => {
      scaleRows(x.q, s, s.hq, s.nq, s.dk, (_, __, n) => big(n + 3));
      scaleRows(x.k, s, s.hkv, s.nk, s.dk, (_, __, n) => big(n));
      scaleRows(x.v, s, s.hkv, s.nk, s.dv, (_, __, n) => big(n + 11));
    }],
    ['v of 1e37, q and k in [−1, 1]', (x, s) => scaleRows(x.v, s, s.hkv, s.nk, s.dv, () => 1e37)],
    ['k of 1e37, q and v in [−1, 1]', (x, s) => scaleRows(x.k, s, s.hkv, s.nk, s.dk, () => 1e37)],
    ['q of 1e37, k and v in [−1, 1]', (x, s) => scaleRows(x.q, s, s.hq, s.nq, s.dk, () => 1e37)],
    // Causal rows before key 30 see only the tiny values: scaling the state for the later huge ones must not have
    // pushed them (or their products with φ(k)) into subnormals.
    ['v rows of 1e-30, then rows of 1e30 from key 30 on', (x, s) => scaleRows(x.v, s, s.hkv, s.nk, s.dv, (_, __, n) => (n < 30 ? 1e-30 : 1e30))],
    ['v of 1e-30', (x, s) => scaleRows(x.v, s, s.hkv, s.nk, s.dv, () => 1e-30)],
  ];
  for (const [shapeName, s] of shapes) {
    for (const [name, make] of huge) {
      for (const causal of [false, 'top-left', 'bottom-right'] as Causal[]) {
        it(`${shapeName}, ${name}, causal ${causal}: within 1e-5 of the float64 reference (relative to the row's largest |v|)`, () => {
          const x = uniformInputs(name.length + s.nq, s);
          make(x, s);
          const options: AttentionOptions = { layout: s.layout, causal, variant: { kind: 'linear' } };
          const got = attention(x.q, x.k, x.v, options).output;
          const want = referenceVariantAttention(x.q, x.k, x.v, options).output;
          expect(want.every((t) => Number.isFinite(t))).toBe(true);
          expect(rowRelativeError(got, want, x, s, causal)).toBeLessThanOrEqual(1e-5);
        });
      }
    }
  }

  it('performer with v of 1e38 and 3e38 (the same state: features of at most 1, but Σ φ(k) v overflowed)', () => {
    const s = shapes[0]![1];
    for (const [causal, m] of [[false, 1e38], ['top-left', 3e38]] as [Causal, number][]) {
      const x = uniformInputs(9, s);
      scaleRows(x.v, s, s.hkv, s.nk, s.dv, () => m);
      const options: AttentionOptions = { causal, variant: { kind: 'performer', features: 64, seed: 4 } };
      const got = attention(x.q, x.k, x.v, options).output;
      const want = referenceVariantAttention(x.q, x.k, x.v, options).output;
      expect(rowRelativeError(got, want, x, s, causal)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('the pool gives the same bits as attention() on huge inputs, and they match the reference', async () => {
    const s: Shape = { b: 2, hq: 4, hkv: 2, nq: 150, nk: 150, dk: 16, dv: 8, layout: 'BHND' };
    const x = uniformInputs(21, s);
    scaleRows(x.q, s, s.hq, s.nq, s.dk, () => 1e20);
    scaleRows(x.k, s, s.hkv, s.nk, s.dk, () => 1e20);
    scaleRows(x.v, s, s.hkv, s.nk, s.dv, (_, __, n) => (n < 50 ? 1e-30 : 1e30));
    const pool = await createAttention({ threads: 2 });
    try {
      for (const causal of [false, 'bottom-right'] as Causal[]) {
        const options: AttentionOptions = { causal, variant: { kind: 'linear' } };
        const one = attention(x.q, x.k, x.v, options).output;
        expect(Array.from((await pool.run(x.q, x.k, x.v, options)).output)).toEqual(Array.from(one));
        const want = referenceVariantAttention(x.q, x.k, x.v, options).output;
        expect(rowRelativeError(one, want, x, s, causal)).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      pool.dispose();
    }
  });
});
