/**
 * `convert: true` in the types and at run time. attention() admits number[], Float64Array and the other numeric typed
 * arrays for q, k, v and bias, and boolean[] masks, when its options say `convert: true`; without it the compiler
 * still says Float32Array (`tsc -p tsconfig.json` checks this file: each @ts-expect-error line fails the typecheck
 * once the types admit its call). The converted call gives bit for bit what the Float32Array call gives, and what the
 * float64 reference gives for the same values; the reference takes the same overloads (test/webgpu-convert.test.ts
 * does the WebGPU backend and the 'auto' router).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AttentionError, KVCache, KVPagePool, attention, createAttention, decode, init, referenceAttention, referenceVariantAttention,
} from '../ts/index.js';
import type { BatchItem } from '../ts/index.js';
import type { AttentionResult, ConvertOptions } from '../ts/types.js';
import { codeOf, maxAbsDiff } from './compare.js';
import { uniform } from './rng.js';

const [B, H, N, D] = [1, 2, 20, 8];
const shape = [B, H, N, D];
const q32 = uniform(1, B * H * N * D);
const k32 = uniform(2, B * H * N * D);
const v16 = Int16Array.from(uniform(3, B * H * N * D), (x) => Math.round(100 * x));
const bias32 = uniform(4, N * N);
const allowed = Array.from({ length: N * N }, (_, i) => i % 3 !== 1);

beforeAll(async () => {
  await init();
});

describe('convert: true in the types', () => {
  it('number[], Float64Array, Int16Array q, k, v, number[] bias and boolean[] mask: the Float32Array call, bit for bit', () => {
    const options: ConvertOptions = {
      convert: true, causal: true, bias: { data: Array.from(bias32), shape: [N, N] }, mask: { data: allowed, shape: [N, N] },
    };
    const got = attention({ data: Array.from(q32), shape }, { data: Float64Array.from(k32), shape }, { data: v16, shape }, options);
    const plain = {
      causal: true, bias: { data: bias32, shape: [N, N] }, mask: { data: Uint8Array.from(allowed, (a) => (a ? 1 : 0)), shape: [N, N] },
    };
    const v = { data: Float32Array.from(v16), shape };
    const want = attention({ data: q32, shape }, { data: k32, shape }, v, plain);
    expect(Array.from(got.output)).toEqual(Array.from(want.output));
    // v up to 100 in magnitude: the exact kernel's 1e-5 budget for outputs in [−1, 1], times 100.
    expect(maxAbsDiff(got.output, referenceAttention({ data: q32, shape }, { data: k32, shape }, v, plain).output)).toBeLessThanOrEqual(1e-3);
  });

  it('an inline { convert: true } literal and a variant need no annotation', () => {
    const r: AttentionResult = attention({ data: Float64Array.from(q32), shape }, { data: Float64Array.from(k32), shape },
      { data: Float64Array.from(v16), shape }, { convert: true, variant: { kind: 'linear' } });
    const want = attention({ data: q32, shape }, { data: k32, shape }, { data: Float32Array.from(v16), shape }, { variant: { kind: 'linear' } });
    expect(Array.from(r.output)).toEqual(Array.from(want.output));
  });

  it('referenceAttention takes them with convert: true as well, and computes on the float32 values attention() sees', () => {
    const options: ConvertOptions = { convert: true, causal: true, mask: { data: allowed, shape: [N, N] } };
    const got = referenceAttention({ data: Array.from(q32), shape }, { data: Float64Array.from(k32), shape }, { data: v16, shape }, options);
    const plain = { causal: true, mask: { data: Uint8Array.from(allowed, (a) => (a ? 1 : 0)), shape: [N, N] } };
    const v = { data: Float32Array.from(v16), shape };
    const want = referenceAttention({ data: q32, shape }, { data: k32, shape }, v, plain);
    expect(Array.from(got.output)).toEqual(Array.from(want.output));
    expect(Array.from(got.lse)).toEqual(Array.from(want.lse));
    // Float64 values that float32 does not hold are rounded first, as attention() rounds them.
    const fine = Float64Array.from(k32, (x) => x * (1 + 1e-9));
    const rounded = referenceAttention({ data: q32, shape }, { data: fine, shape }, v, { convert: true });
    expect(Array.from(rounded.output)).toEqual(Array.from(referenceAttention({ data: q32, shape }, { data: k32, shape }, v).output));
    // @ts-expect-error a Float64Array without convert
    expect(codeOf(() => referenceAttention({ data: q32, shape }, { data: fine, shape }, v))).toBe('INVALID_TYPE');
    // @ts-expect-error a boolean[] mask without convert
    expect(codeOf(() => referenceAttention(v, v, v, { mask: { data: allowed, shape: [N, N] } }))).toBe('INVALID_MASK');
  });

  it('referenceVariantAttention takes them with convert: true too, and matches the converted kernel', () => {
    const variant = { kind: 'linear' as const };
    const v = { data: Float32Array.from(v16), shape };
    const got = referenceVariantAttention({ data: Array.from(q32), shape }, { data: Float64Array.from(k32), shape },
      { data: v16, shape }, { convert: true, causal: true, variant });
    const want = referenceVariantAttention({ data: q32, shape }, { data: k32, shape }, v, { causal: true, variant });
    expect(Array.from(got.output)).toEqual(Array.from(want.output));
    const kernel = attention({ data: Array.from(q32), shape }, { data: Float64Array.from(k32), shape }, { data: v16, shape },
      { convert: true, causal: true, variant });
    expect(maxAbsDiff(kernel.output, got.output)).toBeLessThanOrEqual(1e-4 * 100);
    const fine = Float64Array.from(k32, (x) => x * (1 + 1e-9));
    // @ts-expect-error a Float64Array without convert
    expect(codeOf(() => referenceVariantAttention({ data: q32, shape }, { data: fine, shape }, v, { variant }))).toBe('INVALID_TYPE');
  });

  it('without convert: true the types and the run time both refuse them', () => {
    const q = { data: q32, shape };
    const v64 = { data: Float64Array.from(v16), shape };
    // @ts-expect-error a Float64Array without convert
    expect(codeOf(() => attention(q, q, v64))).toBe('INVALID_TYPE');
    // @ts-expect-error convert: false
    expect(codeOf(() => attention(q, q, v64, { convert: false }))).toBe('INVALID_TYPE');
    // @ts-expect-error a boolean[] mask without convert
    expect(codeOf(() => attention(q, q, q, { mask: { data: allowed, shape: [N, N] } }))).toBe('INVALID_MASK');
    // @ts-expect-error a number[] bias without convert
    expect(codeOf(() => attention(q, q, q, { bias: { data: Array.from(bias32), shape: [N, N] } }))).toBe('INVALID_BIAS');
  });
});

describe('convert: true through the pool', () => {
  it('run() and runBatch() take the same convertible inputs and give attention()\'s bits', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const q = { data: Array.from(q32), shape };
      const k = { data: Float64Array.from(k32), shape };
      const v = { data: v16, shape };
      const options: ConvertOptions = { convert: true, causal: true, mask: { data: allowed, shape: [N, N] } };
      const want = attention(q, k, v, options);
      expect(Array.from((await pool.run(q, k, v, options)).output)).toEqual(Array.from(want.output));
      const items: BatchItem[] = [
        { q, k, v, options },
        { q: { data: q32, shape }, k: { data: k32, shape }, v: { data: Float32Array.from(v16), shape } },
      ];
      const [a, b] = await pool.runBatch(items);
      expect(Array.from(a!.output)).toEqual(Array.from(want.output));
      const plain = attention({ data: q32, shape }, { data: k32, shape }, { data: Float32Array.from(v16), shape });
      expect(Array.from(b!.output)).toEqual(Array.from(plain.output));
      // @ts-expect-error a Float64Array without convert
      const refused = await pool.run(k, k, k).then(() => undefined, (e: unknown) => e);
      expect(refused instanceof AttentionError && refused.code).toBe('INVALID_TYPE');
    } finally {
      pool.dispose();
    }
  });
});

describe('convert: true in the decode types', () => {
  const [hq, hkv, d, n] = [4, 2, 8, 12];
  const k64 = Float64Array.from(uniform(11, hkv * n * d));
  const v16d = Int16Array.from(uniform(12, hkv * n * d), (x) => Math.round(50 * x));
  const qArr = Array.from(uniform(13, hq * d));
  const kv = { k: { data: k64, shape: [1, hkv, n, d] }, v: { data: v16d, shape: [1, hkv, n, d] } };
  const kv32 = { k: { data: Float32Array.from(k64), shape: [1, hkv, n, d] }, v: { data: Float32Array.from(v16d), shape: [1, hkv, n, d] } };
  const q32 = { data: Float32Array.from(qArr), shape: [1, hq, 1, d] };
  const q = { data: qArr, shape: [1, hq, 1, d] };

  it('KVCache.append, a paged sequence\'s append and decode() take converted inputs: the Float32Array results, bit for bit', () => {
    const plain = new KVCache({ heads: hkv, headDim: d, capacity: n });
    plain.append(kv32.k, kv32.v);
    const want = decode(q32, plain);
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: n });
    cache.append(kv.k, kv.v, { convert: true });
    expect(Array.from(decode(q, cache, { convert: true }).output)).toEqual(Array.from(want.output));
    const pages = new KVPagePool({ heads: hkv, headDim: d, pageSize: 4, pages: 8 });
    const seq = pages.sequence();
    seq.append(kv.k, kv.v, { convert: true });
    expect(Array.from(decode(q, seq, { convert: true }).output)).toEqual(Array.from(want.output));
    // attention() on the same prefix: the decode result's independent check (f32 cache: within 1e-5 per unit of |v|).
    const full = attention(q32, kv32.k, kv32.v, { causal: 'bottom-right' });
    expect(maxAbsDiff(want.output, full.output)).toBeLessThanOrEqual(50 * 1e-5);
    // @ts-expect-error a Float64Array k without convert
    expect(codeOf(() => cache.append(kv.k, kv32.v))).toBe('INVALID_TYPE');
    // @ts-expect-error a number[] q without convert
    expect(codeOf(() => decode(q, cache))).toBe('INVALID_TYPE');
    for (const c of [plain, cache]) c.dispose();
    pages.dispose();
  });

  it('a pool KV cache\'s append and decode take converted inputs too', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const plain = new KVCache({ heads: hkv, headDim: d, capacity: n });
      plain.append(kv32.k, kv32.v);
      const want = decode(q32, plain);
      plain.dispose();
      const pc = await pool.createKVCache({ heads: hkv, headDim: d, capacity: n, chunkSize: 4 });
      await pc.append(kv.k, kv.v, { convert: true });
      const got = await pc.decode(q, { convert: true });
      // Shards merged by log-sum-exp: the same rounding class as decode()'s own splits.
      expect(maxAbsDiff(got.output, want.output)).toBeLessThanOrEqual(50 * 1e-6);
      // @ts-expect-error a number[] q without convert
      const refused = await pc.decode(q).then(() => undefined, (e: unknown) => e);
      expect(refused instanceof AttentionError && refused.code).toBe('INVALID_TYPE');
    } finally {
      pool.dispose();
    }
  });
});
