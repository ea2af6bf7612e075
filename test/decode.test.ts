/**
 * decode() with an f32 KVCache against the exact attention() on the same prefix (≤ 1e-5) and against the float64
 * reference: MHA / GQA / MQA, Nq = 1…16, causal (bottom-right) or not, windows, BNHD, token-by-token generation,
 * truncate / reset, ring mode vs sliding-window attention, attention sinks; then every error names its argument.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KVCache, attention, decode, init, referenceDecode } from '../ts/index.js';
import { maxAbsDiff, randomTensor, sliceRows, tensor, thrown } from './decode-helpers.js';
import { Rng, uniform } from './rng.js';

const TOL = 1e-5;

beforeAll(async () => {
  await init();
});

interface Shape { hq: number; hkv: number; d: number; dv: number; n: number; nq: number }

const SHAPES: Shape[] = [
  { hq: 4, hkv: 4, d: 64, dv: 64, n: 1, nq: 1 },
  { hq: 4, hkv: 4, d: 64, dv: 64, n: 300, nq: 1 },
  { hq: 8, hkv: 2, d: 32, dv: 48, n: 129, nq: 3 },
  { hq: 6, hkv: 1, d: 17, dv: 5, n: 77, nq: 16 },
  { hq: 2, hkv: 2, d: 128, dv: 128, n: 1500, nq: 2 },
  { hq: 3, hkv: 1, d: 8, dv: 8, n: 16, nq: 16 },
];

describe('decode with an f32 cache equals attention() on the same prefix', () => {
  for (const [n, s] of SHAPES.entries()) {
    for (const causal of [true, false]) {
      it(`Hq ${s.hq} Hkv ${s.hkv} D ${s.d}/${s.dv} N ${s.n} Nq ${s.nq} causal ${causal}`, () => {
        const k = randomTensor(100 + n, s.hkv, s.n, s.d);
        const v = randomTensor(200 + n, s.hkv, s.n, s.dv);
        const q = randomTensor(300 + n, s.hq, s.nq, s.d);
        const cache = new KVCache({ heads: s.hkv, headDim: s.d, valueDim: s.dv, capacity: s.n + 5 });
        // Prefill in two chunks, so appends of several tokens at once are covered.
        const cut = Math.floor(s.n / 2);
        if (cut > 0) cache.append(sliceRows(k, 0, cut), sliceRows(v, 0, cut));
        cache.append(sliceRows(k, cut, s.n), sliceRows(v, cut, s.n));
        expect(cache.length).toBe(s.n);
        const got = decode(q, cache, { causal, returnLse: true });
        const want = attention(q, k, v, { causal: causal ? 'bottom-right' : false, returnLse: true });
        expect(got.shape).toEqual([1, s.hq, s.nq, s.dv]);
        expect(maxAbsDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(got.lse!, want.lse!)).toBeLessThanOrEqual(TOL * 10);
        const ref = referenceDecode({ q: q.data, hq: s.hq, nq: s.nq, k: k.data, v: v.data, hkv: s.hkv, dk: s.d, dv: s.dv, causal });
        expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(TOL);
        cache.dispose();
      });
    }
  }

  it('a window and small split sizes change nothing but rounding', () => {
    const [hq, hkv, d, n, nq] = [4, 2, 32, 500, 4];
    const k = randomTensor(1, hkv, n, d);
    const v = randomTensor(2, hkv, n, d);
    const q = randomTensor(3, hq, nq, d);
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: n });
    cache.append(k, v);
    for (const left of [0, 5, 64, 499]) {
      const want = attention(q, k, v, { causal: 'bottom-right', window: { left } });
      for (const splitSize of [1, 7, 64, undefined]) {
        const got = decode(q, cache, { window: { left }, splitSize });
        expect(maxAbsDiff(got.output, want.output), `left ${left} split ${splitSize}`).toBeLessThanOrEqual(TOL);
      }
    }
    cache.dispose();
  });

  it('BNHD q, k, v and output', () => {
    const [hq, hkv, d, n, nq] = [4, 2, 16, 40, 2];
    const bnhd = (seed: number, h: number, rows: number) => tensor(uniform(seed, rows * h * d), [1, rows, h, d]);
    const k = bnhd(11, hkv, n);
    const v = bnhd(12, hkv, n);
    const q = bnhd(13, hq, nq);
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: 64 });
    cache.append(k, v, { layout: 'BNHD' });
    const got = decode(q, cache, { layout: 'BNHD' });
    const want = attention(q, k, v, { layout: 'BNHD', causal: 'bottom-right' });
    expect(got.shape).toEqual([1, nq, hq, d]);
    expect(maxAbsDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
    cache.dispose();
  });

  it('a generation loop: one token at a time, every step equals attention() on the prefix', () => {
    const [hq, hkv, d, steps] = [4, 1, 32, 70];
    const k = randomTensor(21, hkv, steps, d);
    const v = randomTensor(22, hkv, steps, d);
    const qs = randomTensor(23, hq, steps, d);
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: steps });
    const out = new Float32Array(hq * d);
    for (let t = 0; t < steps; t++) {
      cache.append(sliceRows(k, t, t + 1), sliceRows(v, t, t + 1));
      const q = sliceRows(qs, t, t + 1);
      decode(q, cache, { out });
      const want = attention(q, sliceRows(k, 0, t + 1), sliceRows(v, 0, t + 1), { causal: 'bottom-right' });
      expect(maxAbsDiff(out, want.output), `step ${t}`).toBeLessThanOrEqual(TOL);
    }
    cache.dispose();
  });

  it('truncate drops rejected tokens and reset starts over', () => {
    const [h, d] = [2, 16];
    const k = randomTensor(31, h, 50, d);
    const v = randomTensor(32, h, 50, d);
    const q = randomTensor(33, h, 2, d);
    const cache = new KVCache({ heads: h, headDim: d, capacity: 50 });
    cache.append(sliceRows(k, 0, 30), sliceRows(v, 0, 30));
    cache.truncate(20); // e.g. speculative tokens 20..29 rejected
    expect(cache.length).toBe(20);
    cache.append(sliceRows(k, 20, 50), sliceRows(v, 20, 50));
    const got = decode(q, cache);
    expect(maxAbsDiff(got.output, attention(q, k, v, { causal: 'bottom-right' }).output)).toBeLessThanOrEqual(TOL);
    cache.reset();
    expect(cache.length).toBe(0);
    cache.append(sliceRows(k, 0, 10), sliceRows(v, 0, 10));
    const again = decode(q, cache);
    const want = attention(q, sliceRows(k, 0, 10), sliceRows(v, 0, 10), { causal: 'bottom-right' });
    expect(maxAbsDiff(again.output, want.output)).toBeLessThanOrEqual(TOL);
    cache.dispose();
  });
});

describe('ring mode equals sliding-window attention', () => {
  for (const [window, hq, hkv, d] of [[8, 2, 2, 16], [33, 4, 1, 64], [1, 2, 1, 8]] as const) {
    it(`window ${window}, Hq ${hq}, Hkv ${hkv}, D ${d}: bounded memory, exact positions`, () => {
      const total = 200;
      const rng = new Rng(window);
      const k = randomTensor(41 + window, hkv, total, d);
      const v = randomTensor(42 + window, hkv, total, d);
      const qs = randomTensor(43 + window, hq, total, d);
      const cache = new KVCache({ heads: hkv, headDim: d, window });
      expect(cache.capacity).toBe(window + 15);
      const bytes = cache.bytes;
      let t = 0;
      while (t < total) {
        const step = Math.min(total - t, rng.int(1, 16));
        cache.append(sliceRows(k, t, t + step), sliceRows(v, t, t + step));
        t += step;
        expect(cache.length).toBeLessThanOrEqual(cache.capacity);
        expect(cache.position).toBe(t);
        const q = sliceRows(qs, t - step, t);
        const got = decode(q, cache, { returnLse: true });
        const want = attention(q, sliceRows(k, 0, t), sliceRows(v, 0, t), {
          causal: 'bottom-right', window: { left: window - 1 }, returnLse: true,
        });
        expect(maxAbsDiff(got.output, want.output), `at position ${t}`).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(got.lse!, want.lse!), `lse at position ${t}`).toBeLessThanOrEqual(TOL * 10);
      }
      expect(cache.bytes).toBe(bytes);
      expect(cache.start).toBe(total - cache.capacity);
      // More tokens at once than the capacity: only the last `capacity` are kept.
      const big = 3 * cache.capacity;
      const kb = randomTensor(44, hkv, big, d);
      const vb = randomTensor(45, hkv, big, d);
      cache.append(kb, vb);
      const held = cache.read();
      expect(held.length).toBe(cache.capacity);
      expect(maxAbsDiff(held.k, sliceRows(kb, big - cache.capacity, big).data)).toBe(0);
      cache.dispose();
    });
  }
});

describe('attention sinks', () => {
  it('match the float64 reference (sink in the denominator only)', () => {
    const [hq, hkv, d, n, nq] = [8, 2, 64, 90, 3];
    const k = randomTensor(51, hkv, n, d);
    const v = randomTensor(52, hkv, n, d);
    const q = randomTensor(53, hq, nq, d);
    const sinks = uniform(54, hq, -3, 3);
    sinks[0] = 8; // a sink that takes most of the mass
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: n });
    cache.append(k, v);
    for (const left of [undefined, 4]) {
      const got = decode(q, cache, { sinks, returnLse: true, window: left === undefined ? undefined : { left } });
      const ref = referenceDecode({ q: q.data, hq, nq, k: k.data, v: v.data, hkv, dk: d, dv: d, sinks, left });
      expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(got.lse!, ref.lse)).toBeLessThanOrEqual(TOL * 10);
      // Without sinks the same call is plain attention: the sink must have changed something.
      const plain = decode(q, cache, { window: left === undefined ? undefined : { left } });
      expect(maxAbsDiff(got.output, plain.output)).toBeGreaterThan(1e-3);
    }
    cache.dispose();
  });
});

describe('decode errors name their argument', () => {
  it('a full linear cache refuses, keeping its contents', () => {
    const cache = new KVCache({ heads: 1, headDim: 4, capacity: 5 });
    cache.append(randomTensor(1, 1, 4, 4), randomTensor(2, 1, 4, 4));
    const e = thrown(() => cache.append(randomTensor(3, 1, 2, 4), randomTensor(4, 1, 2, 4)));
    expect(e).toMatchObject({ name: 'AttentionError', code: 'CACHE_FULL', argument: 'k' });
    expect(cache.length).toBe(4);
    cache.dispose();
  });

  it('bad shapes, options and states', () => {
    const cache = new KVCache({ heads: 2, headDim: 8, capacity: 40 });
    cache.append(randomTensor(1, 2, 20, 8), randomTensor(2, 2, 20, 8));
    const q = randomTensor(3, 4, 1, 8);
    const cases: [() => unknown, string, string][] = [
      [() => decode(randomTensor(4, 4, 17, 8), cache), 'INVALID_SHAPE', 'q'],
      [() => decode(randomTensor(4, 4, 1, 9), cache), 'INVALID_SHAPE', 'q'],
      [() => decode(randomTensor(4, 3, 1, 8), cache), 'INVALID_HEADS', 'q'],
      [() => decode(q, cache, { sinks: new Float32Array(3) }), 'INVALID_OPTION', 'sinks'],
      [() => decode(q, cache, { window: { left: -1 } }), 'INVALID_OPTION', 'window.left'],
      [() => decode(q, cache, { scale: NaN }), 'INVALID_OPTION', 'scale'],
      [() => decode(q, cache, { out: new Float32Array(5) }), 'INVALID_OUTPUT', 'out'],
      [() => decode(q, cache, { casual: true } as never), 'INVALID_OPTION', 'casual'],
      [() => decode(q, {} as never), 'INVALID_TYPE', 'cache'],
      [() => cache.append(randomTensor(5, 3, 1, 8), randomTensor(6, 3, 1, 8)), 'INVALID_SHAPE', 'k'],
      [() => cache.append(randomTensor(5, 2, 1, 8), randomTensor(6, 2, 2, 8)), 'INVALID_SHAPE', 'v'],
      [() => cache.truncate(21), 'INVALID_OPTION', 'n'],
      [() => new KVCache({ heads: 2, headDim: 8 }), 'INVALID_OPTION', 'capacity'],
      [() => new KVCache({ heads: 2, headDim: 8, window: 10, capacity: 5 }), 'INVALID_OPTION', 'capacity'],
      [() => new KVCache({ heads: 2, headDim: 8, capacity: 5, dtype: 'f64' as never }), 'INVALID_OPTION', 'dtype'],
      [() => new KVCache({ heads: 0, headDim: 8, capacity: 5 }), 'INVALID_OPTION', 'heads'],
    ];
    for (const [fn, code, argument] of cases) expect(thrown(fn), `${code} ${argument}`).toMatchObject({ code, argument });
    cache.dispose();
    expect(thrown(() => decode(q, cache))).toMatchObject({ code: 'INVALID_OPTION', argument: 'cache' });
  });

  it('a ring cache refuses a window reaching evicted tokens', () => {
    const cache = new KVCache({ heads: 1, headDim: 4, window: 4, capacity: 6 });
    cache.append(randomTensor(1, 1, 20, 4), randomTensor(2, 1, 20, 4));
    const q = randomTensor(3, 1, 1, 4);
    expect(decode(q, cache, { window: { left: 5 } }).output.length).toBe(4);
    expect(thrown(() => decode(q, cache, { window: { left: 6 } }))).toMatchObject({ code: 'INVALID_OPTION', argument: 'window.left' });
    expect(thrown(() => decode(q, cache, { window: {} }))).toMatchObject({ code: 'INVALID_OPTION', argument: 'window' });
    expect(thrown(() => cache.truncate(10))).toMatchObject({ argument: 'n' });
    cache.dispose();
  });
});
