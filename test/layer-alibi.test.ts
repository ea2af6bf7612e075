/**
 * ALiBi as a kernel bias: the standard slopes against the paper's definition, the float64 reference's ALiBi against
 * the same reference with the explicit bias slope_h·(j − diag), and the wasm kernel (and the pool) against the
 * reference with every mask and option it combines with.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, attention, createAttention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { alibiSlopes } from '../ts/layer/alibi.js';
import { maxDiff } from './layer-util.js';
import { Rng, uniform } from './rng.js';

beforeAll(async () => {
  await init();
});

describe('alibiSlopes', () => {
  it('powers of two: 2^(−8(h+1)/H)', () => {
    for (const H of [1, 2, 4, 8, 16, 32]) {
      const s = alibiSlopes(H);
      for (let h = 0; h < H; h++) expect(s[h]).toBe(Math.fround(2 ** (-8 * (h + 1) / H)));
    }
    expect(Array.from(alibiSlopes(8))).toEqual([0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625]);
  });
  it('other head counts: slopes of the lower power of two, then every other slope of twice it', () => {
    const s12 = Array.from(alibiSlopes(12));
    const p8 = Array.from({ length: 8 }, (_, h) => Math.fround(2 ** (-(h + 1))));
    const p16 = Array.from({ length: 16 }, (_, h) => Math.fround(2 ** (-(h + 1) / 2)));
    expect(s12).toEqual([...p8, p16[0], p16[2], p16[4], p16[6]]);
    expect(alibiSlopes(6).length).toBe(6);
    expect(() => alibiSlopes(0)).toThrow(RangeError);
  });
});

/** The explicit [B, H, Nq, Nk] bias of ALiBi under the descriptor's alignment and per-batch lengths. */
function explicitBias(slopes: Float32Array, b: number, h: number, nq: number, nk: number, bottomRight: boolean,
  qLens?: number[], kLens?: number[]): Float32Array {
  const out = new Float32Array(b * h * nq * nk);
  for (let bi = 0; bi < b; bi++) {
    const shift = bottomRight ? (kLens?.[bi] ?? nk) - (qLens?.[bi] ?? nq) : 0;
    for (let hi = 0; hi < h; hi++) {
      for (let i = 0; i < nq; i++) {
        for (let j = 0; j < nk; j++) out[((bi * h + hi) * nq + i) * nk + j] = slopes[hi]! * (j - (i + shift));
      }
    }
  }
  return out;
}

interface Case {
  name: string;
  b: number; hq: number; hkv: number; nq: number; nk: number; d: number;
  options: AttentionOptions;
  bottomRight: boolean;
}

const CASES: Case[] = [
  { name: 'causal, standard slopes', b: 1, hq: 4, hkv: 4, nq: 33, nk: 33, d: 16, options: { causal: true, alibi: true }, bottomRight: false },
  { name: 'no mask', b: 2, hq: 3, hkv: 3, nq: 17, nk: 70, d: 8, options: { alibi: true }, bottomRight: false },
  { name: 'GQA, bottom-right causal, key lengths', b: 2, hq: 8, hkv: 2, nq: 5, nk: 90, d: 32,
    options: { causal: 'bottom-right', alibi: true, keyLengths: [90, 61], returnLse: true }, bottomRight: true },
  { name: 'window + bias + mask + weights', b: 1, hq: 2, hkv: 1, nq: 40, nk: 40, d: 12,
    options: { window: { left: 7, right: 3 }, alibi: Float32Array.of(0.3, -0.1), returnWeights: true }, bottomRight: false },
  { name: 'BNHD, softcap', b: 1, hq: 4, hkv: 2, nq: 20, nk: 130, d: 16,
    options: { layout: 'BNHD', softcap: 5, alibi: true, causal: 'bottom-right' }, bottomRight: true },
];

describe('attention with ALiBi vs the float64 reference', () => {
  const rng = new Rng(33);
  for (const c of CASES) {
    const seed = rng.int(1, 1e9);
    const bnhd = c.options.layout === 'BNHD';
    const q = { data: uniform(seed, c.b * c.hq * c.nq * c.d), shape: bnhd ? [c.b, c.nq, c.hq, c.d] : [c.b, c.hq, c.nq, c.d] };
    const k = { data: uniform(seed + 1, c.b * c.hkv * c.nk * c.d), shape: bnhd ? [c.b, c.nk, c.hkv, c.d] : [c.b, c.hkv, c.nk, c.d] };
    const v = { data: uniform(seed + 2, c.b * c.hkv * c.nk * c.d), shape: bnhd ? [c.b, c.nk, c.hkv, c.d] : [c.b, c.hkv, c.nk, c.d] };
    const options: AttentionOptions = { ...c.options };
    if (c.name.includes('mask')) {
      const mask = new Uint8Array(c.nq * c.nk).map(() => (rng.chance(0.8) ? 1 : 0));
      options.mask = { data: mask, shape: [c.nq, c.nk] };
      options.bias = { data: uniform(seed + 3, c.hq * c.nq * c.nk), shape: [c.hq, c.nq, c.nk] };
    }

    it(`${c.name}: the reference's ALiBi is the explicit bias slope·(j − diag)`, () => {
      const slopes = c.options.alibi === true ? alibiSlopes(c.hq) : (c.options.alibi as Float32Array);
      const explicit = explicitBias(slopes, c.b, c.hq, c.nq, c.nk, c.bottomRight, undefined,
        c.options.keyLengths as number[] | undefined);
      if (options.bias) {
        const extra = options.bias.data;
        for (let x = 0; x < explicit.length; x++) explicit[x]! += extra[x % extra.length]!;
      }
      const { alibi: _, ...rest } = options;
      const a = referenceAttention(q, k, v, options);
      const e = referenceAttention(q, k, v, { ...rest, bias: { data: explicit, shape: [c.b, c.hq, c.nq, c.nk] } });
      expect(maxDiff(a.output, e.output)).toBeLessThan(1e-6);
      expect(maxDiff(a.lse, e.lse)).toBeLessThan(1e-5);
    });

    it(`${c.name}: wasm within 1e-5 of the reference`, () => {
      const got = attention(q, k, v, options);
      const want = referenceAttention(q, k, v, options);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(1e-5);
      if (got.lse) {
        for (let x = 0; x < want.lse.length; x++) {
          const w = want.lse[x]!;
          expect(Math.abs(got.lse[x]! - w) / Math.max(1, Math.abs(w)) || (got.lse[x] === w ? 0 : 1)).toBeLessThanOrEqual(1e-5);
        }
      }
      if (got.weights) expect(maxDiff(got.weights, want.weights)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('the pool gives bitwise the result of attention() (heads and key ranges split)', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      for (const [nq, nk] of [[300, 300], [2, 3000]] as const) {
        const q = { data: uniform(1, 4 * nq * 16), shape: [1, 4, nq, 16] };
        const k = { data: uniform(2, 2 * nk * 16), shape: [1, 2, nk, 16] };
        const v = { data: uniform(3, 2 * nk * 16), shape: [1, 2, nk, 16] };
        const options: AttentionOptions = { causal: 'bottom-right', alibi: true };
        const want = attention(q, k, v, options).output;
        const got = (await pool.run(q, k, v, options)).output;
        expect(maxDiff(got, want)).toBeLessThanOrEqual(nk > 1000 ? 1e-6 : 0);
        expect(maxDiff(got, referenceAttention(q, k, v, options).output)).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      pool.dispose();
    }
  });
});

describe('alibi errors', () => {
  const x = { data: uniform(9, 2 * 4 * 8), shape: [1, 2, 4, 8] };
  const cases: [string, unknown, RegExp][] = [
    ['wrong length', Float32Array.of(0.5), /alibi: expected 2 slopes/],
    ['not finite', Float32Array.of(0.5, NaN), /alibi: expected finite slopes, got alibi\[1\] = NaN/],
    ['wrong type', [0.5, 0.25], /alibi: expected true \(standard slopes\) or a Float32Array/],
    ['false', false, /alibi: expected true/],
  ];
  for (const [name, alibi, message] of cases) {
    it(name, () => {
      let err: unknown;
      try { attention(x, x, x, { alibi } as AttentionOptions); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(AttentionError);
      expect((err as AttentionError).code).toBe('INVALID_OPTION');
      expect((err as AttentionError).argument).toBe('alibi');
      expect((err as Error).message).toMatch(message);
    });
  }
});
