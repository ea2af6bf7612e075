/**
 * Paged KV caches: sequences of one KVPagePool, appended in interleaved order (so their pages interleave in the
 * pool), each decoded against attention() on its own tokens (≤ 1e-5); fork() shares pages and copies only a shared
 * partly filled page; pool exhaustion is CACHE_FULL with nothing appended; pages come back on truncate / reset /
 * dispose; f16 / int8 pools agree with the float64 reference on their stored values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KVCache, KVPagePool, attention, decode, init, referenceDecode } from '../ts/index.js';
import { maxAbsDiff, randomTensor, sliceRows, thrown } from './decode-helpers.js';
import { Rng } from './rng.js';

const TOL = 1e-5;

beforeAll(async () => {
  await init();
});

type T = ReturnType<typeof randomTensor>;
/** Rows [0, n) of several tensors glued along the token axis. */
function concat(parts: T[]): T {
  const [, h, , d] = parts[0]!.shape as [number, number, number, number];
  const n = parts.reduce((a, p) => a + p.shape[2]!, 0);
  const out = new Float32Array(h * n * d);
  let at = 0;
  for (const p of parts) {
    const t = p.shape[2]!;
    for (let x = 0; x < h; x++) out.set(p.data.subarray(x * t * d, (x + 1) * t * d), (x * n + at) * d);
    at += t;
  }
  return { data: out, shape: [1, h, n, d] };
}

describe('paged KV cache', () => {
  it('interleaved sequences of one pool each equal attention() on their own tokens', () => {
    const [hq, hkv, d, pageSize] = [8, 2, 32, 5];
    const pool = new KVPagePool({ heads: hkv, headDim: d, pageSize, pages: 64 });
    const rng = new Rng(3);
    const seqs = [0, 1, 2].map(() => ({ cache: pool.sequence(), k: [] as T[], v: [] as T[] }));
    let seed = 100;
    for (let round = 0; round < 12; round++) {
      for (const s of seqs) {
        const t = rng.int(1, 9);
        const k = randomTensor(seed++, hkv, t, d);
        const v = randomTensor(seed++, hkv, t, d);
        s.cache.append(k, v);
        s.k.push(k);
        s.v.push(v);
        const nq = Math.min(t, 4);
        const q = randomTensor(seed++, hq, nq, d);
        const got = decode(q, s.cache, { returnLse: true });
        const want = attention(q, concat(s.k), concat(s.v), { causal: 'bottom-right', returnLse: true });
        expect(maxAbsDiff(got.output, want.output), `round ${round}`).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(got.lse!, want.lse!)).toBeLessThanOrEqual(TOL * 10);
      }
    }
    // The sequences' pages interleave: no sequence holds one contiguous run.
    expect(seqs.every((s) => s.cache.pageTable.some((p, i, a) => i > 0 && p !== a[i - 1]! + 1))).toBe(true);
    const used = seqs.reduce((a, s) => a + Math.ceil(s.cache.length / pageSize), 0);
    expect(pool.freePages).toBe(64 - used);
    for (const s of seqs) s.cache.dispose();
    expect(pool.freePages).toBe(64);
    pool.dispose();
  });

  it('fork shares the prefix pages; each branch continues on its own', () => {
    const [h, d, pageSize] = [2, 16, 4];
    const pool = new KVPagePool({ heads: h, headDim: d, pageSize, pages: 20 });
    const a = pool.sequence();
    const k0 = randomTensor(1, h, 10, d);
    const v0 = randomTensor(2, h, 10, d);
    a.append(k0, v0); // 3 pages, the last one half full
    const b = a.fork();
    expect(pool.freePages).toBe(17); // shared: no new page
    expect(b.pageTable).toEqual(a.pageTable);
    const [ka, va, kb, vb] = [randomTensor(3, h, 3, d), randomTensor(4, h, 3, d), randomTensor(5, h, 5, d), randomTensor(6, h, 5, d)];
    a.append(ka, va); // copies the shared half-full page, then fills it
    b.append(kb, vb); // its last page is now its own: written in place, plus one new page
    expect(a.pageTable.slice(0, 2)).toEqual(b.pageTable.slice(0, 2));
    expect(a.pageTable[2]).not.toBe(b.pageTable[2]);
    const q = randomTensor(7, h, 2, d);
    const wantA = attention(q, concat([k0, ka]), concat([v0, va]), { causal: 'bottom-right' });
    const wantB = attention(q, concat([k0, kb]), concat([v0, vb]), { causal: 'bottom-right' });
    expect(maxAbsDiff(decode(q, a).output, wantA.output)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(decode(q, b).output, wantB.output)).toBeLessThanOrEqual(TOL);
    a.dispose();
    b.truncate(6); // keeps 2 pages
    expect(pool.freePages).toBe(18);
    const again = decode(q, b).output;
    const want6 = attention(q, sliceRows(k0, 0, 6), sliceRows(v0, 0, 6), { causal: 'bottom-right' });
    expect(maxAbsDiff(again, want6.output)).toBeLessThanOrEqual(TOL);
    b.reset();
    expect(pool.freePages).toBe(20);
    pool.dispose();
    expect(thrown(() => b.append(k0, v0))).toMatchObject({ code: 'INVALID_OPTION', argument: 'cache' });
  });

  it('a full pool refuses with CACHE_FULL and appends nothing', () => {
    const pool = new KVPagePool({ heads: 1, headDim: 4, pageSize: 4, pages: 3 });
    const a = pool.sequence();
    a.append(randomTensor(1, 1, 10, 4), randomTensor(2, 1, 10, 4));
    const e = thrown(() => a.append(randomTensor(3, 1, 3, 4), randomTensor(4, 1, 3, 4)));
    expect(e).toMatchObject({ name: 'AttentionError', code: 'CACHE_FULL', argument: 'k' });
    expect(a.length).toBe(10);
    expect(pool.freePages).toBe(0);
    a.append(randomTensor(5, 1, 2, 4), randomTensor(6, 1, 2, 4)); // still fits the last page
    expect(a.length).toBe(12);
    pool.dispose();
  });

  for (const dtype of ['f16', 'int8'] as const) {
    it(`${dtype} pages: the kernel matches the float64 reference on the stored values`, () => {
      const [hq, hkv, d, n] = [4, 2, 64, 150];
      const pool = new KVPagePool({ heads: hkv, headDim: d, pageSize: 16, pages: 32, dtype });
      const other = pool.sequence();
      const s = pool.sequence();
      for (let t = 0; t < n; t += 25) {
        other.append(randomTensor(t + 1, hkv, 7, d), randomTensor(t + 2, hkv, 7, d));
        s.append(randomTensor(t + 3, hkv, 25, d), randomTensor(t + 4, hkv, 25, d));
      }
      const q = randomTensor(9, hq, 3, d);
      const held = s.read();
      const ref = referenceDecode({ q: q.data, hq, nq: 3, k: held.k, v: held.v, hkv, dk: d, dv: d, left: 40 });
      expect(maxAbsDiff(decode(q, s, { window: { left: 40 } }).output, ref.output)).toBeLessThanOrEqual(TOL);
      pool.dispose();
    });
  }

  it('bad pool options name their argument', () => {
    expect(thrown(() => new KVPagePool({ heads: 1, headDim: 4, pages: 0 }))).toMatchObject({ argument: 'pages' });
    expect(thrown(() => new KVPagePool({ heads: 1, headDim: 4, pages: 2, pageSize: 0 }))).toMatchObject({ argument: 'pageSize' });
    expect(thrown(() => new KVPagePool({ heads: 1, headDim: 4, pages: 2, page: 3 } as never))).toMatchObject({ argument: 'page' });
    const pool = new KVPagePool({ heads: 1, headDim: 4, pages: 2 });
    const s = pool.sequence();
    expect(thrown(() => s.truncate(1))).toMatchObject({ argument: 'n' });
    pool.dispose();
  });
});

describe('one kernel, three slot layouts', () => {
  it('linear, ring and paged caches holding the same tokens give bitwise the same output', () => {
    const [hq, hkv, d, n, nq, left] = [8, 2, 64, 300, 3, 100];
    const k = randomTensor(61, hkv, n, d);
    const v = randomTensor(62, hkv, n, d);
    const q = randomTensor(63, hq, nq, d);
    const linear = new KVCache({ heads: hkv, headDim: d, capacity: n });
    const ring = new KVCache({ heads: hkv, headDim: d, window: left + 1, capacity: 107 });
    const pool = new KVPagePool({ heads: hkv, headDim: d, pageSize: 7, pages: 60 });
    const paged = pool.sequence();
    const filler = pool.sequence();
    for (let t = 0; t < n; t += 30) {
      for (const c of [linear, ring, paged]) c.append(sliceRows(k, t, t + 30), sliceRows(v, t, t + 30));
      filler.append(randomTensor(t, hkv, 5, d), randomTensor(t + 1, hkv, 5, d)); // interleaves the pages
    }
    const outputs = [linear, ring, paged].map((c) => decode(q, c, { window: { left }, splitSize: 64 }).output);
    expect(maxAbsDiff(outputs[0]!, outputs[1]!)).toBe(0);
    expect(maxAbsDiff(outputs[0]!, outputs[2]!)).toBe(0);
    linear.dispose();
    ring.dispose();
    pool.dispose();
  });
});
