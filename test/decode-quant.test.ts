/**
 * f16 and int8 KV caches. Two checks per case:
 * 1. The kernel's conversion is exact: decode() equals the float64 reference run on the cache's own dequantised
 *    contents (cache.read()) within the f32 budget 1e-5.
 * 2. The storage error against the f32 result stays within a bound derived from the inputs:
 *    stored k̃ = k + Δk with |Δk_d| ≤ ε(k_d): f16 (round to nearest) ε = max(2^-11·|x|, 2^-25) (2^-25: half the
 *    smallest subnormal step); int8 ε = s/2 with s the row's scale max|row|/127.
 *    Logits: |Δs_j| ≤ δ := max_j scale·Σ_d |q_d|·ε(k_jd). Softmax: p̃_j / p_j ∈ [e^−2δ, e^2δ], so Σ_j |Δp_j| ≤ e^2δ − 1.
 *    Output: |õ − o| ≤ max|v|·(e^2δ − 1) + max_j ε(v_j) (+ 1e-5 for f32 arithmetic).
 * The measured error and the bound are printed for each case.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KVCache, attention, decode, init, referenceDecode } from '../ts/index.js';
import type { KVCacheDtype } from '../ts/index.js';
import { fromF16, toF16 } from '../ts/decode/f16.js';
import { quantizeRow } from '../ts/decode/quantize.js';
import { maxAbsDiff, randomTensor } from './decode-helpers.js';
import { Rng } from './rng.js';

beforeAll(async () => {
  await init();
});

/** Per-element storage error bound of one row. */
function rowBound(dtype: KVCacheDtype, row: Float32Array): Float64Array {
  const e = new Float64Array(row.length);
  if (dtype === 'f16') {
    row.forEach((x, i) => { e[i] = Math.max(2 ** -11 * Math.abs(x), 2 ** -25); });
  } else {
    let amax = 0;
    row.forEach((x) => { amax = Math.max(amax, Math.abs(x)); });
    e.fill(Math.fround(amax / 127) / 2);
  }
  return e;
}

/** The derived bound on |õ − o| for head-major k [hkv, n, dk], v [hkv, n, dv], q [hq, nq, dk]. */
function outputBound(dtype: KVCacheDtype, q: Float32Array, k: Float32Array, v: Float32Array, hq: number, hkv: number, nq: number, n: number, dk: number, dv: number): number {
  const scale = 1 / Math.sqrt(dk);
  let delta = 0;
  let epsV = 0;
  let vmax = 0;
  for (let g = 0; g < hkv; g++) {
    for (let j = 0; j < n; j++) {
      const ek = rowBound(dtype, k.subarray((g * n + j) * dk, (g * n + j + 1) * dk));
      const vr = v.subarray((g * n + j) * dv, (g * n + j + 1) * dv);
      rowBound(dtype, vr).forEach((x) => { epsV = Math.max(epsV, x); });
      vr.forEach((x) => { vmax = Math.max(vmax, Math.abs(x)); });
      for (let h = g * (hq / hkv); h < (g + 1) * (hq / hkv); h++) {
        for (let i = 0; i < nq; i++) {
          let s = 0;
          for (let d = 0; d < dk; d++) s += Math.abs(q[(h * nq + i) * dk + d]!) * ek[d]!;
          delta = Math.max(delta, scale * s);
        }
      }
    }
  }
  return vmax * (Math.exp(2 * delta) - 1) + epsV + 1e-5;
}

describe('f16 conversion', () => {
  it('rounds to nearest even and converts back exactly', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [2 ** -14, 0x0400], [Infinity, 0x7c00],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [-Infinity, 0xfc00],
    ];
    for (const [x, h] of cases) expect(toF16(x), `toF16(${x})`).toBe(h);
    expect(fromF16(toF16(NaN))).toBeNaN();
    // Every finite half converts back exactly and rounds to itself.
    for (let h = 0; h < 0x7c00; h++) {
      const x = fromF16(h);
      if (toF16(x) !== h || toF16(-x) !== (h | 0x8000)) throw new Error(`half ${h} does not round-trip`);
    }
    // Random values land on the nearest half: within half a step of their neighbours.
    const rng = new Rng(5);
    for (let n = 0; n < 20000; n++) {
      const x = Math.fround(rng.float(-2, 2) * 2 ** rng.int(-20, 10));
      const h = toF16(x);
      const err = Math.abs(fromF16(h) - x);
      const up = Math.abs(fromF16(h + 1) - x);
      const down = (h & 0x7fff) === 0 ? Infinity : Math.abs(fromF16(h - 1) - x);
      if (err > up || err > down) throw new Error(`toF16(${x}) = ${h} is not the nearest half`);
      if (err > Math.max(2 ** -11 * Math.abs(x), 2 ** -25)) throw new Error(`toF16(${x}): error ${err} over the bound`);
    }
  });
});

describe('int8 quantisation', () => {
  it('|x − q·scale| ≤ scale/2 per element, zero rows and non-finite rows handled', () => {
    const rng = new Rng(9);
    for (let n = 0; n < 200; n++) {
      const row = rng.fill(new Float32Array(rng.int(1, 130)), -rng.float(0.01, 10), rng.float(0.01, 10));
      const q = new Int8Array(row.length);
      const s = quantizeRow(row, q);
      row.forEach((x, i) => {
        if (Math.abs(x - q[i]! * s) > s / 2 + 1e-12) throw new Error(`row ${n}: ${x} vs ${q[i]! * s} (scale ${s})`);
      });
    }
    const q = new Int8Array(3);
    expect(quantizeRow(new Float32Array(3), q)).toBe(0);
    expect(quantizeRow(new Float32Array([1, NaN, 2]), q)).toBeNaN();
  });
});

const SHAPES = [
  { hq: 4, hkv: 4, dk: 64, dv: 64, n: 200, nq: 1 },
  { hq: 8, hkv: 2, dk: 128, dv: 128, n: 1100, nq: 4 },
  { hq: 3, hkv: 1, dk: 17, dv: 9, n: 50, nq: 16 },
];

describe('quantised caches', () => {
  for (const dtype of ['f16', 'int8'] as const) {
    for (const [c, s] of SHAPES.entries()) {
      it(`${dtype}: Hq ${s.hq} Hkv ${s.hkv} D ${s.dk}/${s.dv} N ${s.n} Nq ${s.nq}`, () => {
        const k = randomTensor(60 + c, s.hkv, s.n, s.dk);
        const v = randomTensor(70 + c, s.hkv, s.n, s.dv);
        const q = randomTensor(80 + c, s.hq, s.nq, s.dk);
        const cache = new KVCache({ heads: s.hkv, headDim: s.dk, valueDim: s.dv, capacity: s.n, dtype });
        cache.append(k, v);
        const f32Bytes = 4 * s.hkv * s.n * (s.dk + s.dv);
        expect(cache.bytes).toBeLessThan(dtype === 'f16' ? 0.51 * f32Bytes + 64 : 0.26 * f32Bytes + 8 * s.hkv * s.n + 64);
        const got = decode(q, cache, { returnLse: true });

        const held = cache.read();
        const ref = referenceDecode({ q: q.data, hq: s.hq, nq: s.nq, k: held.k, v: held.v, hkv: s.hkv, dk: s.dk, dv: s.dv });
        const kernelErr = maxAbsDiff(got.output, ref.output);
        expect(kernelErr).toBeLessThanOrEqual(1e-5);

        const exact = attention(q, k, v, { causal: 'bottom-right' }).output;
        const err = maxAbsDiff(got.output, exact);
        const bound = outputBound(dtype, q.data, k.data, v.data, s.hq, s.hkv, s.nq, s.n, s.dk, s.dv);
        console.log(`[decode ${dtype}] Hq ${s.hq} Hkv ${s.hkv} D ${s.dk} N ${s.n} Nq ${s.nq}: max |o − o_f32| = ` +
          `${err.toExponential(2)} (bound ${bound.toExponential(2)}); kernel vs dequantised reference ${kernelErr.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(bound);
        expect(err).toBeGreaterThan(0); // the storage really is lossy: this test would notice an f32 cache
        cache.dispose();
      });
    }
  }

  it('ring mode with f16 and int8 matches the reference on what is held', () => {
    for (const dtype of ['f16', 'int8'] as const) {
      const cache = new KVCache({ heads: 2, headDim: 32, window: 20, dtype });
      const q = randomTensor(91, 4, 3, 32);
      cache.append(randomTensor(92, 2, 100, 32), randomTensor(93, 2, 100, 32));
      const got = decode(q, cache);
      const held = cache.read();
      expect(held.start).toBe(100 - cache.capacity);
      const ref = referenceDecode({ q: q.data, hq: 4, nq: 3, k: held.k, v: held.v, hkv: 2, dk: 32, dv: 32, first: held.start, left: 19 });
      expect(maxAbsDiff(got.output, ref.output), dtype).toBeLessThanOrEqual(1e-5);
      cache.dispose();
    }
  });
});

describe('special values in f16 and int8 caches', () => {
  it('subnormal, large, infinite and NaN halves convert exactly in the kernel', () => {
    const [h, d, n] = [1, 8, 6];
    const k = new Float32Array(h * n * d).fill(0.25);
    const v = new Float32Array(h * n * d).fill(0.5);
    k.set([3e-7, -6e-8, 1e-5, -2e-6, 60000, -65504, 7e-5, 0.1], 0); // subnormal and extreme halves in one key row
    v.set([3e-7, -6e-8, 1e-5, -2e-6, 60000, -65504, 7e-5, 0.1], d);
    v[2 * d + 3] = Infinity;
    v[3 * d + 5] = NaN;
    const q = new Float32Array(d).fill(1e-3);
    for (const dtype of ['f16', 'int8'] as const) {
      const cache = new KVCache({ heads: h, headDim: d, capacity: n, dtype });
      cache.append({ data: k, shape: [h, n, d] }, { data: v, shape: [h, n, d] });
      const got = decode({ data: q, shape: [1, 1, d] }, cache).output;
      const held = cache.read();
      const ref = referenceDecode({ q, hq: 1, nq: 1, k: held.k, v: held.v, hkv: 1, dk: d, dv: d });
      if (dtype === 'f16') {
        expect(got[3]).toBe(Infinity);
        expect(got[5]).toBeNaN();
      }
      // Relative to max(1, |ref|): the 60000-sized column is only f32-accurate to ~1e-3 in absolute terms.
      got.forEach((x, c) => {
        const w = ref.output[c]!;
        const ok = Number.isFinite(w) ? Math.abs(x - w) <= 1e-5 * Math.max(1, Math.abs(w)) : Object.is(x, w) || (isNaN(x) && isNaN(w));
        if (!ok) throw new Error(`${dtype}: column ${c}: ${x} vs ${w}`);
      });
      cache.dispose();
    }
  });
});

describe('the f16 fast path is only taken while every stored half is finite', () => {
  it('an ∞ appended after finite tokens switches the cache to the exact path (linear and paged)', async () => {
    const { KVPagePool } = await import('../ts/index.js');
    const d = 8;
    const finite = new Float32Array(4 * d).fill(0.5);
    const special = new Float32Array(d).fill(0.25);
    special[2] = Infinity; // a value row of the new token
    special[6] = 1e6; // overflows the half range: stored as ∞ too
    const q = { data: new Float32Array(d).fill(0.01), shape: [1, 1, d] };
    const pool = new KVPagePool({ heads: 1, headDim: d, pageSize: 2, pages: 8, dtype: 'f16' });
    for (const cache of [new KVCache({ heads: 1, headDim: d, capacity: 8, dtype: 'f16' }), pool.sequence()]) {
      cache.append({ data: finite, shape: [1, 4, d] }, { data: finite, shape: [1, 4, d] });
      expect(Array.from(decode(q, cache).output).every((x) => Math.abs(x - 0.5) < 1e-6)).toBe(true);
      cache.append({ data: new Float32Array(d).fill(0.5), shape: [1, 1, d] }, { data: special, shape: [1, 1, d] });
      const out = decode(q, cache).output;
      expect(out[2]).toBe(Infinity);
      expect(out[6]).toBe(Infinity);
      expect(Math.abs(out[0]! - 0.45)).toBeLessThan(1e-3); // (4·0.5 + 0.25) / 5
      cache.dispose();
    }
    pool.dispose();
  });
});
