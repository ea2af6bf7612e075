/**
 * A KV cache spread over the pool's workers (PoolKVCache): its decode steps against decode() with a KVCache on the
 * calling thread holding the same tokens, and against the float64 reference — chunks cut by the causal edge and by
 * windows, GQA / MQA, Nq up to 16, sinks, f16 / int8 shards, appends crossing chunk boundaries, truncate / reset,
 * CACHE_FULL, a worker crash, and errors naming their argument.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, KVCache, createAttention, decode, init, referenceDecode } from '../ts/index.js';
import type { AttentionPool, KVCacheDtype } from '../ts/index.js';
import { maxAbsDiff, randomTensor, sliceRows } from './decode-helpers.js';
import { uniform } from './rng.js';

const TOL = 1e-5;

interface Case { threads: number; hq: number; hkv: number; d: number; dv: number; n: number; nq: number; chunk: number }

const CASES: Case[] = [
  { threads: 2, hq: 4, hkv: 4, d: 32, dv: 32, n: 1000, nq: 1, chunk: 64 },
  { threads: 2, hq: 8, hkv: 2, d: 16, dv: 24, n: 530, nq: 4, chunk: 50 },
  { threads: 3, hq: 6, hkv: 1, d: 8, dv: 8, n: 301, nq: 16, chunk: 7 },
  { threads: 1, hq: 2, hkv: 2, d: 16, dv: 16, n: 90, nq: 3, chunk: 32 },
  { threads: 3, hq: 3, hkv: 3, d: 16, dv: 16, n: 20, nq: 2, chunk: 256 }, // fewer chunks than workers
];

const pools = new Map<number, AttentionPool>();
async function pool(threads: number): Promise<AttentionPool> {
  let p = pools.get(threads);
  if (!p) {
    p = await createAttention({ threads });
    pools.set(threads, p);
  }
  return p;
}

beforeAll(async () => {
  await init();
  return () => {
    for (const p of pools.values()) p.dispose();
  };
});

describe('decode on a PoolKVCache equals decode() on a KVCache with the same tokens', () => {
  for (const [x, c] of CASES.entries()) {
    it(`${c.threads} workers, Hq ${c.hq} Hkv ${c.hkv} D ${c.d}/${c.dv} N ${c.n} Nq ${c.nq} chunk ${c.chunk}`, async () => {
      const k = randomTensor(10 + x, c.hkv, c.n, c.d);
      const v = randomTensor(20 + x, c.hkv, c.n, c.dv);
      const q = randomTensor(30 + x, c.hq, c.nq, c.d);
      const sinks = uniform(40 + x, c.hq);
      const geometry = { heads: c.hkv, headDim: c.d, valueDim: c.dv, capacity: c.n + 10 };
      const pc = await (await pool(c.threads)).createKVCache({ ...geometry, chunkSize: c.chunk });
      const local = new KVCache(geometry);
      try {
        // Appends of uneven sizes, so that some cross chunk boundaries and some end inside a chunk.
        for (let at = 0, step = 1; at < c.n; step = step * 3 + 1) {
          const to = Math.min(c.n, at + step);
          await pc.append(sliceRows(k, at, to), sliceRows(v, at, to));
          local.append(sliceRows(k, at, to), sliceRows(v, at, to));
          at = to;
        }
        expect(pc.length).toBe(c.n);
        const lefts = [undefined, 0, c.chunk - 1, c.chunk + 3, Math.floor(c.n / 2)];
        for (const causal of [true, false]) {
          for (const left of lefts) {
            for (const withSinks of [false, true]) {
              const options = { causal, returnLse: true, ...(left === undefined ? {} : { window: { left } }), ...(withSinks ? { sinks } : {}) };
              const got = await pc.decode(q, options);
              const want = decode(q, local, options);
              const what = `causal ${causal} left ${left} sinks ${withSinks}`;
              expect(got.shape, what).toEqual(want.shape);
              expect(maxAbsDiff(got.output, want.output), what).toBeLessThanOrEqual(TOL);
              expect(maxAbsDiff(got.lse!, want.lse!), what).toBeLessThanOrEqual(TOL * 10);
              const ref = referenceDecode({
                q: q.data, hq: c.hq, nq: c.nq, k: k.data, v: v.data, hkv: c.hkv, dk: c.d, dv: c.dv, causal, left,
                ...(withSinks ? { sinks } : {}),
              });
              expect(maxAbsDiff(got.output, ref.output), what).toBeLessThanOrEqual(TOL);
            }
          }
        }
      } finally {
        await pc.dispose();
        local.dispose();
      }
    });
  }
});

describe('PoolKVCache', () => {
  it('generates token by token like a KVCache, with BNHD, truncate and reset', async () => {
    const [hq, hkv, d, steps] = [4, 2, 16, 70];
    const p = await pool(2);
    const pc = await p.createKVCache({ heads: hkv, headDim: d, capacity: 128, chunkSize: 16 });
    const local = new KVCache({ heads: hkv, headDim: d, capacity: 128 });
    try {
      for (let t = 0; t < steps; t++) {
        const k = uniform(1000 + t, hkv * d);
        const v = uniform(2000 + t, hkv * d);
        // BNHD [1, T = 1, Hkv, D] for the appends, not awaited: shard operations run in call order.
        void pc.append({ data: k, shape: [1, 1, hkv, d] }, { data: v, shape: [1, 1, hkv, d] }, { layout: 'BNHD' });
        local.append({ data: k, shape: [1, 1, hkv, d] }, { data: v, shape: [1, 1, hkv, d] }, { layout: 'BNHD' });
        const q = { data: uniform(3000 + t, hq * d), shape: [1, 1, hq, d] };
        const got = await pc.decode(q, { layout: 'BNHD' });
        expect(maxAbsDiff(got.output, decode(q, local, { layout: 'BNHD' }).output)).toBeLessThanOrEqual(TOL);
        if (t === 40) {
          await pc.truncate(33); // drop 8 tokens, then carry on: positions 33… are written again
          local.truncate(33);
        }
      }
      expect(pc.length).toBe(local.length);
      await pc.reset();
      local.reset();
      expect(pc.length).toBe(0);
      const k = randomTensor(5, hkv, 40, d);
      const v = randomTensor(6, hkv, 40, d);
      await pc.append(k, v);
      local.append(k, v);
      const q = randomTensor(7, hq, 2, d);
      expect(maxAbsDiff((await pc.decode(q)).output, decode(q, local).output)).toBeLessThanOrEqual(TOL);
    } finally {
      await pc.dispose();
      local.dispose();
    }
  });

  it('in ring mode streams like a ring KVCache: bounded shards, exact windows over a long history', async () => {
    const [hq, hkv, d, win] = [4, 2, 8, 37];
    for (const [threads, chunk] of [[2, 8], [3, 5]] as const) {
      const pc = await (await pool(threads)).createKVCache({ heads: hkv, headDim: d, window: win, chunkSize: chunk });
      const local = new KVCache({ heads: hkv, headDim: d, window: win });
      try {
        expect(pc.capacity).toBe(local.capacity);
        let t = 0;
        for (let step = 0; step < 60; step++) {
          const n = 1 + (step % 4); // 1–4 new tokens, then as many queries
          const k = randomTensor(7000 + step, hkv, n, d);
          const v = randomTensor(8000 + step, hkv, n, d);
          void pc.append(k, v);
          local.append(k, v);
          t += n;
          const q = randomTensor(9000 + step, hq, n, d);
          // Also not causal: each query sees its window and the other new tokens after it.
          for (const causal of [true, false]) {
            const got = await pc.decode(q, { returnLse: true, causal });
            const want = decode(q, local, { returnLse: true, causal });
            expect(maxAbsDiff(got.output, want.output), `step ${step} causal ${causal}`).toBeLessThanOrEqual(TOL);
            expect(maxAbsDiff(got.lse!, want.lse!), `step ${step} causal ${causal}`).toBeLessThanOrEqual(TOL * 10);
          }
        }
        expect(pc.position).toBe(t);
        expect(pc.start).toBe(local.start);
        expect(pc.length).toBe(local.length);
        // A window reaching below what the ring keeps is refused, naming it.
        const far = await pc.decode(randomTensor(1, hq, 1, d), { window: { left: pc.capacity + 5 } }).catch((e: unknown) => e);
        expect((far as AttentionError).argument).toBe('window.left');
      } finally {
        await pc.dispose();
        local.dispose();
      }
    }
  });

  for (const dtype of ['f16', 'int8'] as KVCacheDtype[]) {
    it(`${dtype} shards give what a ${dtype} KVCache gives`, async () => {
      const [hq, hkv, d, n] = [4, 1, 32, 333];
      const k = randomTensor(50, hkv, n, d);
      const v = randomTensor(51, hkv, n, d);
      const q = randomTensor(52, hq, 2, d);
      const pc = await (await pool(2)).createKVCache({ heads: hkv, headDim: d, dtype, capacity: n, chunkSize: 40 });
      const local = new KVCache({ heads: hkv, headDim: d, dtype, capacity: n });
      try {
        await pc.append(k, v);
        local.append(k, v);
        // Same stored values (quantised per token and head the same way), so only the split differs: rounding.
        expect(maxAbsDiff((await pc.decode(q)).output, decode(q, local).output)).toBeLessThanOrEqual(TOL);
      } finally {
        await pc.dispose();
        local.dispose();
      }
    });
  }

  it('throws CACHE_FULL appending nothing, and names bad arguments', async () => {
    const p = await pool(2);
    const pc = await p.createKVCache({ heads: 1, headDim: 4, capacity: 10, chunkSize: 3 });
    try {
      await pc.append(randomTensor(1, 1, 8, 4), randomTensor(2, 1, 8, 4));
      const full = await pc.append(randomTensor(1, 1, 3, 4), randomTensor(2, 1, 3, 4)).catch((e: unknown) => e);
      expect(full).toBeInstanceOf(AttentionError);
      expect((full as AttentionError).code).toBe('CACHE_FULL');
      expect(pc.length).toBe(8);
      const shape = await pc.append(randomTensor(1, 2, 1, 4), randomTensor(2, 2, 1, 4)).catch((e: unknown) => e);
      expect((shape as AttentionError).argument).toBe('k');
      const nq = await pc.decode(randomTensor(3, 1, 17, 4)).catch((e: unknown) => e);
      expect((nq as AttentionError).argument).toBe('q');
      const trunc = await pc.truncate(9).catch((e: unknown) => e);
      expect((trunc as AttentionError).argument).toBe('n');
      const bad = await p.createKVCache({ heads: 1, headDim: 4, capacity: 0 }).catch((e: unknown) => e);
      expect((bad as AttentionError).argument).toBe('capacity');
    } finally {
      await pc.dispose();
    }
    const after = await pc.decode(randomTensor(3, 1, 1, 4)).catch((e: unknown) => e);
    expect((after as Error).message).toMatch(/dispose/);
  });

  it('aborting a call on a worker that holds a shard lets the task finish: the cache stays usable', async () => {
    const p = await createAttention({ threads: 1 });
    try {
      const pc = await p.createKVCache({ heads: 1, headDim: 8, capacity: 64, chunkSize: 8 });
      const local = new KVCache({ heads: 1, headDim: 8, capacity: 64 });
      const [k, v] = [randomTensor(1, 1, 30, 8), randomTensor(2, 1, 30, 8)];
      await pc.append(k, v);
      local.append(k, v);
      const big = randomTensor(3, 4, 1024, 64);
      const controller = new AbortController();
      const aborted = p.run(big, big, big, undefined, { signal: controller.signal });
      controller.abort();
      expect(((await aborted.catch((e: unknown) => e)) as Error).name).toBe('AbortError');
      const q = randomTensor(4, 2, 1, 8);
      expect(maxAbsDiff((await pc.decode(q)).output, decode(q, local).output)).toBeLessThanOrEqual(TOL);
      local.dispose();
      await pc.dispose();
    } finally {
      p.dispose();
    }
  });

  it('a crashed worker takes its shard with it: the cache says so, the pool goes on', async () => {
    const p = await createAttention({ threads: 2, timeoutMs: 2000, injectFault: (task) => (task.startsWith('run #1 ') ? 'crash' : undefined) });
    try {
      const pc = await p.createKVCache({ heads: 1, headDim: 8, capacity: 64, chunkSize: 4 });
      await pc.append(randomTensor(1, 1, 20, 8), randomTensor(2, 1, 20, 8));
      const q = randomTensor(3, 1, 1, 8);
      await pc.decode(q);
      // A run whose tasks crash their workers (twice: retried once) replaces both workers.
      await p.run(randomTensor(4, 2, 8, 8), randomTensor(5, 2, 8, 8), randomTensor(6, 2, 8, 8)).catch(() => undefined);
      const lost = await pc.decode(q).catch((e: unknown) => e);
      expect(lost).toBeInstanceOf(AttentionError);
      expect((lost as Error).message).toMatch(/stopped/);
      const fresh = await p.createKVCache({ heads: 1, headDim: 8, capacity: 64, chunkSize: 4 });
      await fresh.append(randomTensor(1, 1, 20, 8), randomTensor(2, 1, 20, 8));
      const local = new KVCache({ heads: 1, headDim: 8, capacity: 64 });
      local.append(randomTensor(1, 1, 20, 8), randomTensor(2, 1, 20, 8));
      expect(maxAbsDiff((await fresh.decode(q)).output, decode(q, local).output)).toBeLessThanOrEqual(TOL);
      local.dispose();
    } finally {
      p.dispose();
    }
  });
});
