/**
 * Robustness of decoding in long generation loops: NaN / ±∞ stored in a KV cache (an f16 overflow, a bad token)
 * reach only the query rows that may see them, not the rows the causal mask or the window hides them from (every
 * dtype, contiguous / ring / paged caches, MHA / GQA / MQA, Nq 2…16) — against the float64 reference per row; attention
 * sinks that would turn rows into NaN are refused naming `sinks`; f16 overflow is stored as ±∞; and a
 * MultiHeadAttention call with a cache that fails leaves the cache as it was.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KVCache, KVPagePool, MultiHeadAttention, decode, init, referenceDecode } from '../ts/index.js';
import type { DecodeCache, KVCacheDtype } from '../ts/index.js';
import { maxAbsDiff, tensor, thrown } from './decode-helpers.js';
import { uniform } from './rng.js';

beforeAll(async () => {
  await init();
});

const DTYPES: KVCacheDtype[] = ['f32', 'f16', 'int8'];

interface Setup { hq: number; hkv: number; nq: number; n: number; d: number; dv: number }

const SETUPS: Setup[] = [
  { hq: 1, hkv: 1, nq: 2, n: 40, d: 8, dv: 8 }, // one row per kv head: the single-row accumulator
  { hq: 2, hkv: 1, nq: 3, n: 70, d: 5, dv: 6 }, // two rows per kv head, D not a multiple of 4
  { hq: 4, hkv: 1, nq: 5, n: 300, d: 16, dv: 16 }, // MQA, four-row blocks
  { hq: 8, hkv: 2, nq: 16, n: 200, d: 12, dv: 9 }, // GQA, 64 stacked rows
  { hq: 3, hkv: 3, nq: 4, n: 1100, d: 4, dv: 3 }, // MHA, more than one split
];

/** Builds a cache of `kind` holding k / v ([hkv, n, d]). */
function makeCache(kind: 'linear' | 'ring' | 'paged', dtype: KVCacheDtype, s: Setup, k: Float32Array, v: Float32Array, window: number): { cache: DecodeCache; dispose(): void } {
  const kt = tensor(k, [s.hkv, s.n, s.d]);
  const vt = tensor(v, [s.hkv, s.n, s.dv]);
  if (kind === 'paged') {
    const pool = new KVPagePool({ heads: s.hkv, headDim: s.d, valueDim: s.dv, dtype, pageSize: 16, pages: Math.ceil(s.n / 16) });
    const seq = pool.sequence();
    seq.append(kt, vt);
    return { cache: seq, dispose: () => pool.dispose() };
  }
  const cache = kind === 'ring'
    ? new KVCache({ heads: s.hkv, headDim: s.d, valueDim: s.dv, dtype, window })
    : new KVCache({ heads: s.hkv, headDim: s.d, valueDim: s.dv, dtype, capacity: s.n });
  cache.append(kt, vt);
  return { cache, dispose: () => cache.dispose() };
}

describe('NaN / ±∞ in the cache reach only the rows that may see them', () => {
  let seed = 1;
  for (const dtype of DTYPES) {
    for (const kind of ['linear', 'ring', 'paged'] as const) {
      for (const [x, s] of SETUPS.entries()) {
        it(`${dtype} ${kind} hq ${s.hq} hkv ${s.hkv} nq ${s.nq} N ${s.n}`, () => {
          seed += 10;
          // Queries at positions first … n − 1. Bad tokens: the last one (future to every query but the last) and
          // `first − 3`, which a window of left 2 hides from every row (left 4: only from the later rows).
          const first = s.n - s.nq;
          const badPos = [s.n - 1, first - 3];
          for (const [y, bad] of [NaN, Infinity, -Infinity].entries()) {
            for (const which of ['k', 'v'] as const) {
              const k = uniform(seed + 1, s.hkv * s.n * s.d);
              const v = uniform(seed + 2, s.hkv * s.n * s.dv);
              const [arr, w] = which === 'k' ? [k, s.d] : [v, s.dv];
              for (let h = 0; h < s.hkv; h++) for (const p of badPos) arr[(h * s.n + p) * w + ((x + y) % w)] = bad;
              const window = s.nq + 8;
              const c = makeCache(kind, dtype, s, k, v, window);
              try {
                const held = c.cache.read();
                const q = uniform(seed + 3, s.hq * s.nq * s.d);
                const lefts: (number | undefined)[] = kind === 'ring' ? [window - 1, 2, 4] : [undefined, 2, 4];
                let clean = 0;
                for (const left of lefts) {
                  for (const causal of [true, false]) {
                    if (!causal && left !== undefined) continue;
                    const res = decode(tensor(q, [s.hq, s.nq, s.d]), c.cache, { causal, window: left === undefined ? undefined : { left } });
                    const ref = referenceDecode({
                      q, hq: s.hq, nq: s.nq, k: held.k, v: held.v, hkv: s.hkv, dk: s.d, dv: s.dv, first: held.start, causal, left,
                    });
                    for (let i = 0; i < s.nq; i++) {
                      const qp = s.n - s.nq + i;
                      const sees = (p: number): boolean => p >= held.start && (!causal || p <= qp) && (left === undefined || p >= qp - left);
                      if (badPos.some(sees)) continue;
                      clean++;
                      for (let h = 0; h < s.hq; h++) {
                        const row = (h * s.nq + i) * s.dv;
                        const e = maxAbsDiff(res.output.subarray(row, row + s.dv), ref.output.subarray(row, row + s.dv));
                        if (!(e <= 1e-5)) {
                          throw new Error(`${which} = ${bad}: row (head ${h}, query ${i}) causal ${causal} left ${left}: ${e}`);
                        }
                      }
                    }
                  }
                }
                // Window left 2: every row but the last (which sees the last token) is clean.
                expect(clean).toBeGreaterThanOrEqual(s.nq - 1);
              } finally {
                c.dispose();
              }
            }
          }
        });
      }
    }
  }

  it('a ring cache gives finite results again once the bad token has left every window', () => {
    for (const dtype of DTYPES) {
      const cache = new KVCache({ heads: 1, headDim: 4, window: 3, dtype });
      const row = (t: number, bad: boolean): { data: Float32Array; shape: number[] } =>
        tensor(bad ? new Float32Array([1, NaN, Infinity, 2]) : uniform(100 + t, 4), [1, 1, 4]);
      let seen = 0;
      for (let t = 0; t < 60; t++) {
        cache.append(row(t, t === 20), row(t + 1000, t === 20));
        const q = uniform(200 + t, 2 * 4);
        const out = decode(tensor(q, [2, 1, 4]), cache).output;
        const held = cache.read();
        const ref = referenceDecode({ q, hq: 2, nq: 1, k: held.k, v: held.v, hkv: 1, dk: 4, dv: 4, first: held.start, left: 2 });
        if (t < 20 || t > 22) {
          expect(maxAbsDiff(out, ref.output)).toBeLessThanOrEqual(1e-5);
          seen++;
        } else {
          expect(out.some((x) => !Number.isFinite(x))).toBe(true);
        }
      }
      expect(seen).toBe(57);
      cache.dispose();
    }
  });
});

describe('f16 overflow and sinks', () => {
  it('an f16 cache stores values beyond ±65504 as ±∞ (round to nearest even) and finite values rounded', () => {
    const cache = new KVCache({ heads: 1, headDim: 8, capacity: 2, dtype: 'f16' });
    const x = new Float32Array([65504, 65519, 65520, -70000, 1e30, -0, 6e-8, 1e-9]);
    cache.append(tensor(x, [1, 1, 8]), tensor(x, [1, 1, 8]));
    const { k } = cache.read();
    expect([...k]).toEqual([65504, 65504, Infinity, -Infinity, Infinity, -0, 2 ** -24, 0]);
    cache.dispose();
  });

  it('refuses NaN, +∞ and overflowing sinks naming sinks; −∞ is a head without a sink', () => {
    const cache = new KVCache({ heads: 1, headDim: 4, capacity: 8 });
    cache.append(tensor(uniform(1, 8 * 4), [1, 8, 4]), tensor(uniform(2, 8 * 4), [1, 8, 4]));
    const q = tensor(uniform(3, 2 * 4), [2, 1, 4]);
    for (const sinks of [[0, NaN], [Infinity, 0], [1e39, 0], new Float32Array([0, NaN])]) {
      const e = thrown(() => decode(q, cache, { sinks }));
      expect(e.code).toBe('INVALID_OPTION');
      expect(e.argument).toBe('sinks');
    }
    const none = decode(q, cache, { returnLse: true });
    const minus = decode(q, cache, { sinks: [-Infinity, -Infinity], returnLse: true });
    expect(minus.output).toEqual(none.output);
    expect(minus.lse).toEqual(none.lse);
    const big = decode(q, cache, { sinks: [1e38, -1e38], returnLse: true });
    expect([...big.output.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect(maxAbsDiff(big.output.subarray(4), none.output.subarray(4))).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(big.lse![0]! / 1e38 - 1)).toBeLessThanOrEqual(1e-6);
    cache.dispose();
  });
});

describe('MultiHeadAttention: a failed call leaves its cache as it was', () => {
  const E = 16;
  const w = {
    q: { weight: uniform(11, E * E, -0.25, 0.25) },
    k: { weight: uniform(12, 8 * E, -0.25, 0.25) },
    v: { weight: uniform(13, 8 * E, -0.25, 0.25) },
    o: { weight: uniform(14, E * E, -0.25, 0.25) },
  };
  const config = { embedDim: E, numHeads: 4, numKvHeads: 2, rope: true };

  it('an invalid attention option throws, and the next steps still equal the full causal pass', () => {
    const mha = new MultiHeadAttention(config, w);
    const N = 9;
    const x = uniform(5, N * E);
    const whole = mha.forward(tensor(x, [1, N, E]), undefined, undefined, { causal: true }).output;
    const cache = mha.createCache(1, 2);
    for (let t = 0; t < N; t++) {
      const step = tensor(x.slice(t * E, (t + 1) * E), [1, 1, E]);
      if (t % 3 === 1) {
        const bad = [{ scale: NaN }, { window: { left: -1 } }, { softcap: -1 }][t % 9 === 1 ? 0 : t % 9 === 4 ? 1 : 2]!;
        const e = thrown(() => mha.forward(step, undefined, undefined, { causal: true, cache, ...bad }));
        expect(e.name).toBe('AttentionError');
        expect(cache.length).toBe(t);
      }
      const out = mha.forward(step, undefined, undefined, { causal: true, cache }).output;
      expect(maxAbsDiff(out, whole.subarray(t * E, (t + 1) * E))).toBeLessThanOrEqual(1e-5);
    }
    expect(cache.length).toBe(N);
    mha.dispose();
  });

  it('MhaCache.truncate keeps the first n tokens and names n when out of range', () => {
    const mha = new MultiHeadAttention(config, w);
    const cache = mha.createCache(1);
    mha.forward(tensor(uniform(6, 5 * E), [1, 5, E]), undefined, undefined, { causal: true, cache });
    cache.truncate(3);
    expect(cache.length).toBe(3);
    for (const n of [-1, 4, 1.5, NaN]) {
      const e = thrown(() => cache.truncate(n));
      expect(e.code).toBe('INVALID_OPTION');
      expect(e.argument).toBe('n');
    }
    mha.dispose();
  });
});
