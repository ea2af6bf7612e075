/**
 * RoPE and the sinusoidal encoding against float64 references written as the reference implementations write them
 * (rotate_half / rotate_every_two), plus the properties that define RoPE: norms are kept, q·k depends on the
 * position difference only, and an offset equals the positions a KV cache continues from.
 */
import { describe, expect, it } from 'vitest';
import { AttentionError } from '../ts/index.js';
import { applyRope, ropeFrequencies, sinusoidalEncoding } from '../ts/layer/positional.js';
import { referenceRope, referenceSinusoidal } from '../ts/reference/layer-positional.js';
import { maxDiff } from './layer-util.js';
import { uniform } from './rng.js';

const STYLES = ['half', 'interleaved'] as const;

describe('applyRope vs the reference', () => {
  for (const style of STYLES) {
    it(`${style}, BHND [2, 3, 17, 16], offset 5`, () => {
      const [B, H, N, D] = [2, 3, 17, 16];
      const x = uniform(1, B * H * N * D);
      const got = applyRope({ data: x, shape: [B, H, N, D] }, { style, offset: 5 });
      const want = referenceRope(x, B * H * N, D, (row) => 5 + (row % N), style);
      expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-6);
    });

    it(`${style}, BNHD [2, 9, 4, 8], partial rotary 4, base 500, explicit positions`, () => {
      const [B, N, H, D] = [2, 9, 4, 8];
      const x = uniform(2, B * N * H * D);
      const positions = [3, 1, 4, 1, 5, 9, 2, 6, 5];
      const got = applyRope({ data: x, shape: [B, N, H, D] }, { style, layout: 'BNHD', rotaryDim: 4, base: 500, positions });
      const want = referenceRope(x, B * N * H, D, (row) => positions[Math.floor(row / H) % N]!, style, 4, 500);
      expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-6);
      for (let t = 0; t < B * N * H; t++) expect(got.subarray(t * D + 4, t * D + 8)).toEqual(x.subarray(t * D + 4, t * D + 8));
    });

    it(`${style}: large positions stay accurate (f64 angles)`, () => {
      const x = uniform(3, 4 * 64);
      const got = applyRope({ data: x, shape: [4, 64] }, { style, offset: 100_000 });
      expect(maxDiff(got, referenceRope(x, 4, 64, (t) => 100_000 + t, style))).toBeLessThanOrEqual(2e-6);
    });
  }

  it('position 0 is the identity, and in place works', () => {
    const x = uniform(4, 32);
    expect(applyRope({ data: x, shape: [1, 32] })).toEqual(x);
    const y = uniform(5, 3 * 32);
    const copy = y.slice();
    const r = applyRope({ data: y, shape: [3, 32] }, { out: y, offset: 2 });
    expect(r).toBe(y);
    expect(maxDiff(y, referenceRope(copy, 3, 32, (t) => 2 + t, 'half'))).toBeLessThanOrEqual(1e-6);
  });

  it('frequencies θ_i = base^(−2i/r)', () => {
    expect(Array.from(ropeFrequencies(4, 100))).toEqual([1, 0.1]);
  });
});

describe('RoPE properties', () => {
  const D = 32;
  const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
  for (const style of STYLES) {
    it(`${style}: keeps norms; q·k depends on m − n only`, () => {
      const q = uniform(6, D);
      const k = uniform(7, D);
      const at = (x: Float32Array, p: number): Float32Array => applyRope({ data: x, shape: [1, D] }, { style, offset: p });
      expect(Math.abs(dot(at(q, 37), at(q, 37)) - dot(q, q))).toBeLessThan(1e-5);
      const s1 = dot(at(q, 10), at(k, 3));
      const s2 = dot(at(q, 1010), at(k, 1003));
      expect(Math.abs(s1 - s2)).toBeLessThan(1e-4);
      expect(Math.abs(s1 - dot(at(q, 10), at(k, 4)))).toBeGreaterThan(1e-4); // and does depend on it
    });

    it(`${style}: an offset continues the positions of a cache`, () => {
      const x = uniform(8, 10 * D);
      const all = applyRope({ data: x, shape: [10, D] }, { style });
      const tail = applyRope({ data: x.subarray(6 * D), shape: [4, D] }, { style, offset: 6 });
      expect(tail).toEqual(all.subarray(6 * D));
    });
  }
});

describe('sinusoidalEncoding', () => {
  it('matches the definition', () => {
    expect(maxDiff(sinusoidalEncoding(50, 64), referenceSinusoidal(50, 64))).toBeLessThanOrEqual(1e-6);
    expect(maxDiff(sinusoidalEncoding(7, 9, { offset: 3, base: 100 }), referenceSinusoidal(7, 9, 3, 100))).toBeLessThanOrEqual(1e-6);
    expect(Array.from(sinusoidalEncoding(1, 4))).toEqual([0, 1, 0, 1]);
  });
});

describe('positional errors', () => {
  const x = { data: new Float32Array(2 * 8), shape: [2, 8] };
  const cases: [string, () => unknown, string, string][] = [
    ['odd rotaryDim', () => applyRope(x, { rotaryDim: 3 }), 'rotaryDim', 'INVALID_OPTION'],
    ['rotaryDim > D', () => applyRope(x, { rotaryDim: 10 }), 'rotaryDim', 'INVALID_OPTION'],
    ['negative offset', () => applyRope(x, { offset: -1 }), 'offset', 'INVALID_OPTION'],
    ['positions length', () => applyRope(x, { positions: [1] }), 'positions', 'INVALID_OPTION'],
    ['style', () => applyRope(x, { style: 'neox' as never }), 'style', 'INVALID_OPTION'],
    ['unknown option', () => applyRope(x, { theta: 1 } as never), 'theta', 'INVALID_OPTION'],
    ['1-D x', () => applyRope({ data: new Float32Array(8), shape: [8] }), 'x', 'INVALID_SHAPE'],
    ['out length', () => applyRope(x, { out: new Float32Array(3) }), 'out', 'INVALID_OUTPUT'],
    ['sinusoidal d', () => sinusoidalEncoding(4, 0), 'd', 'INVALID_DIM'],
  ];
  for (const [name, call, argument, code] of cases) {
    it(name, () => {
      let err: unknown;
      try { call(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(AttentionError);
      expect((err as AttentionError).argument).toBe(argument);
      expect((err as AttentionError).code).toBe(code);
    });
  }
});
