/**
 * decodeRange (the internal entry of the pool's sharded decode): a cache's positions cut into 2–4 chunks, each chunk
 * decoded with the queries at qEnd, the partial (output, LSE) merged by log-sum-exp in float64 (a sink added once, in
 * the merge) equals the full decode() (≤ 1e-5) and the float64 reference: causal Nq = 1 and Nq = 4 (GQA), a window,
 * sinks, f16 / int8 caches, and chunks held in separate caches at local positions (the shard layout). Then the
 * validation of the range, each error naming its argument.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KVCache, decode, init, referenceDecode } from '../ts/index.js';
import type { KVCacheDtype } from '../ts/index.js';
import { decodeRange } from '../ts/decode/decode.js';
import { maxAbsDiff, randomTensor, sliceRows, thrown } from './decode-helpers.js';
import { uniform } from './rng.js';

const TOL = 1e-5;

beforeAll(async () => {
  await init();
});

interface Part { output: Float32Array; lse: Float32Array }

/** Float64 log-sum-exp merge of chunk results ([rows, dv] and [rows]); `sinks[h]` is added once per row. */
function merge(parts: Part[], rows: number, nq: number, dv: number, sinks?: Float32Array): { output: Float64Array; lse: Float64Array } {
  const output = new Float64Array(rows * dv);
  const lse = new Float64Array(rows).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    const sink = sinks ? sinks[Math.floor(r / nq)]! : -Infinity;
    let m = sink;
    for (const p of parts) m = Math.max(m, p.lse[r]!);
    if (m === -Infinity) continue;
    let l = sinks ? Math.exp(sink - m) : 0;
    for (const p of parts) {
      const w = Math.exp(p.lse[r]! - m);
      l += w;
      for (let c = 0; c < dv; c++) output[r * dv + c]! += w * p.output[r * dv + c]!;
    }
    for (let c = 0; c < dv; c++) output[r * dv + c]! /= l;
    lse[r] = m + Math.log(l);
  }
  return { output, lse };
}

/** Cut points splitting [0, n) into `chunks` parts of about equal size. */
const cuts = (n: number, chunks: number): number[] => [0, ...Array.from({ length: chunks - 1 }, (_, i) => Math.floor(((i + 1) * n) / chunks)), n];

interface Named { name: string; nq: number; group: number; left?: number; sinks: boolean; dtype: KVCacheDtype }

const CASES: Named[] = [
  { name: 'causal Nq 1', nq: 1, group: 1, sinks: false, dtype: 'f32' },
  { name: 'causal Nq 4 GQA 4', nq: 4, group: 4, sinks: false, dtype: 'f32' },
  { name: 'window 37, Nq 4, GQA 2', nq: 4, group: 2, left: 37, sinks: false, dtype: 'f32' },
  { name: 'sinks, Nq 1, GQA 4', nq: 1, group: 4, sinks: true, dtype: 'f32' },
  { name: 'sinks and window 100, Nq 3', nq: 3, group: 2, left: 100, sinks: true, dtype: 'f32' },
  { name: 'f16 cache, Nq 4', nq: 4, group: 2, sinks: false, dtype: 'f16' },
  { name: 'int8 cache, window 50, Nq 2', nq: 2, group: 4, left: 50, sinks: true, dtype: 'int8' },
];

describe('decodeRange chunks merged by LSE equal the full decode', () => {
  const [hkv, d, n] = [2, 64, 300];
  const k = randomTensor(41, hkv, n, d);
  const v = randomTensor(42, hkv, n, d);
  for (const [x, s] of CASES.entries()) {
    for (const chunks of [2, 3, 4]) {
      it(`${s.name}, ${chunks} chunks`, () => {
        const hq = hkv * s.group;
        const q = randomTensor(50 + x, hq, s.nq, d);
        const sinks = s.sinks ? uniform(60 + x, hq).map((y) => 3 * y) : undefined;
        const cache = new KVCache({ heads: hkv, headDim: d, capacity: n, dtype: s.dtype });
        cache.append(k, v);
        const window = s.left === undefined ? undefined : { left: s.left };
        const full = decode(q, cache, { window, sinks, returnLse: true });
        const b = cuts(n, chunks);
        const parts = b.slice(1).map((end, i) => decodeRange(q, cache, { window }, { start: b[i]!, end, qEnd: n }));
        const got = merge(parts, hq * s.nq, s.nq, d, sinks);
        expect(maxAbsDiff(got.output, full.output)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(got.lse, full.lse!)).toBeLessThanOrEqual(TOL);
        if (s.dtype === 'f32') {
          const ref = referenceDecode({ q: q.data, hq, nq: s.nq, k: k.data, v: v.data, hkv, dk: d, dv: d, left: s.left, sinks });
          expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(TOL);
          expect(maxAbsDiff(got.lse, ref.lse)).toBeLessThanOrEqual(TOL);
        }
        cache.dispose();
      });
    }
  }

  it('chunks held by separate caches at local positions (the shard layout)', () => {
    const [hq, nq, left] = [8, 4, 120];
    const q = randomTensor(70, hq, nq, d);
    const ref = referenceDecode({ q: q.data, hq, nq, k: k.data, v: v.data, hkv, dk: d, dv: d, left });
    const b = cuts(n, 3);
    const parts = b.slice(1).map((end, i) => {
      const start = b[i]!;
      const shard = new KVCache({ heads: hkv, headDim: d, capacity: end - start });
      shard.append(sliceRows(k, start, end), sliceRows(v, start, end));
      // The queries sit at n − nq … n − 1 globally, so at n − start − nq … locally.
      const part = decodeRange(q, shard, { window: { left } }, { start: 0, end: end - start, qEnd: n - start });
      shard.dispose();
      return part;
    });
    const got = merge(parts, hq * nq, nq, d);
    expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(got.lse, ref.lse)).toBeLessThanOrEqual(TOL);
  });

  it('a chunk no query may see gives 0 and LSE −∞; non-causal chunks see every key', () => {
    const [hq, nq] = [2, 2];
    const q = randomTensor(71, hq, nq, d);
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: n });
    cache.append(k, v);
    // Causal: keys [200, 300) lie after queries at 148, 149.
    const late = decodeRange(q, cache, undefined, { start: 200, end: 300, qEnd: 150 });
    expect(late.output.every((x) => x === 0)).toBe(true);
    expect(late.lse.every((x) => x === -Infinity)).toBe(true);
    // A window of 10 behind queries at 298, 299 does not reach keys [0, 100).
    const early = decodeRange(q, cache, { window: { left: 10 } }, { start: 0, end: 100, qEnd: 300 });
    expect(early.output.every((x) => x === 0)).toBe(true);
    expect(early.lse.every((x) => x === -Infinity)).toBe(true);
    // Not causal: a chunk after the queries is read whole.
    const open = decodeRange(q, cache, { causal: false }, { start: 200, end: 300, qEnd: 150 });
    const ref = referenceDecode({ q: q.data, hq, nq, k: sliceRows(k, 200, 300).data, v: sliceRows(v, 200, 300).data,
      hkv, dk: d, dv: d, first: 200, causal: false });
    expect(maxAbsDiff(open.output, ref.output)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(open.lse, ref.lse)).toBeLessThanOrEqual(TOL);
    cache.dispose();
  });
});

describe('decodeRange validation names the argument', () => {
  it('range and sinks errors', () => {
    const [hkv, d, n, hq, nq] = [1, 16, 20, 2, 4];
    const cache = new KVCache({ heads: hkv, headDim: d, capacity: n });
    cache.append(randomTensor(80, hkv, n, d), randomTensor(81, hkv, n, d));
    const q = randomTensor(82, hq, nq, d);
    const bad: [unknown, string][] = [
      [{ start: 0, end: n, qEnd: nq - 1 }, 'range.qEnd'],
      [{ start: 0, end: n, qEnd: 0 }, 'range.qEnd'],
      [{ start: 0, end: n, qEnd: 7.5 }, 'range.qEnd'],
      [{ start: 0, end: n }, 'range.qEnd'],
      [{ start: 5, end: 4, qEnd: n }, 'range.start'],
      [{ start: -1, end: 4, qEnd: n }, 'range.start'],
      [{ start: 0, end: n + 1, qEnd: n }, 'range.end'],
      [{ start: 0, end: n, qEnd: n, extra: 1 }, 'extra'],
    ];
    for (const [range, argument] of bad) {
      const e = thrown(() => decodeRange(q, cache, undefined, range as { start: number; end: number; qEnd: number }));
      expect(e).toMatchObject({ code: 'INVALID_OPTION', argument });
    }
    const e = thrown(() => decodeRange(q, cache, { sinks: new Float32Array(hq) }, { start: 0, end: n, qEnd: n }));
    expect(e).toMatchObject({ code: 'INVALID_OPTION', argument: 'sinks' });
    // qEnd = Nq and a chunk shorter than Nq are valid; an empty chunk gives 0 and −∞.
    expect(decodeRange(q, cache, undefined, { start: 0, end: 2, qEnd: nq }).lse.length).toBe(hq * nq);
    const empty = decodeRange(q, cache, undefined, { start: 7, end: 7, qEnd: n });
    expect(empty.output.every((x) => x === 0) && empty.lse.every((x) => x === -Infinity)).toBe(true);
    cache.dispose();
  });
});
