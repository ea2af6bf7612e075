import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init, referenceAttention, AttentionError } from '../ts/index.js';
import type { AttentionOptions, AttentionResult } from '../ts/index.js';
import { PoolTaskError } from '../ts/pool/scheduler.js';
import { generateCases } from './cases.js';
import { splitProblem } from '../ts/pool/split.js';
import { buildDescriptor } from '../ts/spec.js';
import { uniform } from './rng.js';

const tensor = (data: Float32Array, shape: number[]) => ({ data, shape });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const d = Math.abs(x - y);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Inputs for one head-major problem; `nq` ≤ 16 with a long `nk` makes it decode-like (split over keys). */
function problem(seed: number, b: number, hq: number, hkv: number, nq: number, nk: number, d: number) {
  return {
    q: tensor(uniform(seed, b * hq * nq * d), [b, hq, nq, d]),
    k: tensor(uniform(seed + 1, b * hkv * nk * d), [b, hkv, nk, d]),
    v: tensor(uniform(seed + 2, b * hkv * nk * d), [b, hkv, nk, d]),
  };
}

const cases = generateCases(7, 40);

describe('worker pool', () => {
  beforeAll(async () => {
    await init();
  });

  for (const threads of [1, 2, 3, 4]) {
    it(`matches the reference and the single-thread result with ${threads} worker(s)`, async () => {
      const pool = await createAttention({ threads });
      try {
        const results = await Promise.all(cases.map((c) => pool.run(c.q, c.k, c.v, c.options)));
        cases.forEach((c, i) => {
          const got = results[i]!;
          const single = attention(c.q, c.k, c.v, c.options);
          const ref = referenceAttention(c.q, c.k, c.v, c.options);
          expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(1e-5);
          // Same tasks, same kernel: bit for bit what the calling thread computes.
          expect(sameBits(got.output, single.output)).toBe(true);
          if (c.options?.returnLse) expect(sameBits(got.lse!, single.lse!)).toBe(true);
          if (c.options?.returnWeights) expect(sameBits(got.weights!, single.weights!)).toBe(true);
        });
      } finally {
        pool.dispose();
      }
    });
  }

  it('splits decode-like problems over keys, bitwise the same for 1–4 workers and as attention(), within 1e-5 of the reference', async () => {
    const shapes: [number, number, number, number, number, number][] = [
      [1, 4, 1, 1, 3000, 64], // MQA decode
      [2, 8, 2, 5, 2500, 32], // GQA, 5 query rows
      [1, 2, 2, 16, 1500, 17],
      [2, 4, 2, 3, 2100, 16], // flash kernel per key range: bias, ALiBi, softcap
      [1, 4, 4, 2, 3000, 8], // and a mask
    ];
    const bias = tensor(uniform(77, 3 * 2100), [1, 1, 3, 2100]);
    const mask = { data: Uint8Array.from(uniform(78, 4 * 2 * 3000), (x) => (x > -0.4 ? 1 : 0)), shape: [4, 2, 3000] };
    const opts: AttentionOptions[] = [
      { returnLse: true }, { causal: 'bottom-right', returnLse: true }, { window: { left: 700 }, keyLengths: [1400] },
      { bias, alibi: true, softcap: 20, causal: 'bottom-right', returnLse: true },
      { mask, returnLse: true },
    ];
    const byThreads: AttentionResult[][] = [];
    for (const threads of [1, 2, 3, 4]) {
      const pool = await createAttention({ threads });
      try {
        byThreads.push(await Promise.all(shapes.map((s, i) => {
          const p = problem(100 + i, ...s);
          const o = { ...opts[i]! };
          if (o.keyLengths) o.keyLengths = Array(s[0]).fill(1400);
          return pool.run(p.q, p.k, p.v, o);
        })));
      } finally {
        pool.dispose();
      }
    }
    shapes.forEach((s, i) => {
      const p = problem(100 + i, ...s);
      const o = { ...opts[i]! };
      if (o.keyLengths) o.keyLengths = Array(s[0]).fill(1400);
      const single = attention(p.q, p.k, p.v, o);
      const ref = referenceAttention(p.q, p.k, p.v, o);
      // attention() computes decode-like problems as the pool's key ranges (ts/core/key-ranges.ts).
      for (const r of byThreads) {
        expect(sameBits(r[i]!.output, single.output)).toBe(true);
        if (o.returnLse) expect(sameBits(r[i]!.lse!, single.lse!)).toBe(true);
      }
      expect(maxAbsDiff(byThreads[0]![i]!.output, ref.output)).toBeLessThanOrEqual(1e-5);
      if (o.returnLse) expect(maxAbsDiff(byThreads[0]![i]!.lse!, ref.lse)).toBeLessThanOrEqual(1e-5);
    });
  });

  it('leaves out the key ranges no query row may see (window, lengths), with the same bits as attention()', async () => {
    const [b, hq, hkv, nq, nk, d] = [3, 4, 2, 4, 9000, 16];
    const p = problem(140, b, hq, hkv, nq, nk, d);
    // Batch 0: a window of 1500 at the end; batch 1: keys cut at 2100; batch 2: no query row at all.
    const o: AttentionOptions = { causal: 'bottom-right', window: { left: 1500 }, keyLengths: [9000, 2100, 9000], queryLengths: [4, 4, 0], returnLse: true };
    const tasks = splitProblem(buildDescriptor(p.q, p.k, p.v, o), 2);
    const ranges = (bi: number) => tasks.filter((t) => t.b === bi && t.kvHead0 === 0).map((t) => t.key0);
    expect(ranges(0)).toEqual([7168, 8192]); // keys 7496…8999
    expect(ranges(1)).toEqual([0, 1024, 2048]); // keys 596…2099
    expect(ranges(2)).toEqual([8192]); // one task, so that its rows are written
    const ref = referenceAttention(p.q, p.k, p.v, o);
    const single = attention(p.q, p.k, p.v, o);
    const out = new Float32Array(b * hq * nq * d).fill(7); // a reused output: every row must be overwritten
    const pool = await createAttention({ threads: 2 });
    try {
      const got = await pool.run(p.q, p.k, p.v, { ...o, out });
      expect(sameBits(got.output, single.output)).toBe(true);
      expect(sameBits(got.lse!, single.lse!)).toBe(true);
      expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(got.lse!, ref.lse)).toBeLessThanOrEqual(1e-5);
      expect(Array.from(got.output.subarray(2 * hq * nq * d)).every((x) => x === 0)).toBe(true);
      expect(Array.from(got.lse!.subarray(2 * hq * nq)).every((x) => x === -Infinity)).toBe(true);
    } finally {
      pool.dispose();
    }
  });

  it('cuts long single-head problems into row chunks, bitwise equal to the calling thread', async () => {
    const p = problem(5, 1, 1, 1, 1100, 700, 40);
    const pool = await createAttention({ threads: 3 });
    try {
      for (const o of [{}, { causal: true }, { causal: 'bottom-right' as const, window: { left: 64 } }]) {
        const got = await pool.run(p.q, p.k, p.v, { ...o, returnLse: true });
        const single = attention(p.q, p.k, p.v, { ...o, returnLse: true });
        expect(sameBits(got.output, single.output)).toBe(true);
        expect(sameBits(got.lse!, single.lse!)).toBe(true);
      }
    } finally {
      pool.dispose();
    }
  });

  it('never detaches or mutates the caller arrays, and accepts SharedArrayBuffer inputs', async () => {
    const p = problem(9, 2, 4, 2, 33, 40, 8);
    const copies = [p.q.data.slice(), p.k.data.slice(), p.v.data.slice()];
    const pool = await createAttention({ threads: 2 });
    try {
      const a = await pool.run(p.q, p.k, p.v, { layout: 'BHND' });
      expect(p.q.data.length).toBe(copies[0]!.length);
      expect(sameBits(p.q.data, copies[0]!)).toBe(true);
      expect(sameBits(p.k.data, copies[1]!)).toBe(true);
      expect(sameBits(p.v.data, copies[2]!)).toBe(true);
      if (typeof SharedArrayBuffer !== 'undefined') {
        const share = (x: Float32Array): Float32Array => {
          const s = new Float32Array(new SharedArrayBuffer(x.byteLength));
          s.set(x);
          return s;
        };
        const b = await pool.run(tensor(share(p.q.data), p.q.shape), tensor(share(p.k.data), p.k.shape), tensor(share(p.v.data), p.v.shape));
        expect(sameBits(a.output, b.output)).toBe(true);
      }
    } finally {
      pool.dispose();
    }
  });

  it('runs batches in input order with progress, and serves concurrent callers', async () => {
    const items = cases.slice(0, 12).map((c) => ({ q: c.q, k: c.k, v: c.v, options: c.options }));
    const pool = await createAttention({ threads: 2 });
    try {
      const seen: number[] = [];
      const [batch, ...singles] = await Promise.all([
        pool.runBatch(items, { onProgress: (p) => { seen.push(p.done); expect(p.total).toBe(items.length); } }),
        ...items.map((it) => pool.run(it.q, it.k, it.v, it.options)),
      ]);
      expect(seen).toEqual(items.map((_, i) => i + 1));
      items.forEach((_, i) => expect(sameBits((batch as AttentionResult[])[i]!.output, (singles[i] as AttentionResult).output)).toBe(true));
    } finally {
      pool.dispose();
    }
  });

  it('aborts a batch: pending work is dropped and the promise rejects with an AbortError', async () => {
    const big = problem(11, 1, 8, 8, 400, 400, 64);
    const items = Array.from({ length: 30 }, () => ({ ...big }));
    const pool = await createAttention({ threads: 2 });
    try {
      const controller = new AbortController();
      let progressed = 0;
      const pending = pool.runBatch(items, {
        signal: controller.signal,
        onProgress: (p) => {
          progressed = p.done;
          if (p.done === 2) controller.abort();
        },
      });
      let error: unknown;
      try {
        await pending;
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('AbortError');
      expect(progressed).toBeLessThan(items.length);
      // The pool still works after an abort.
      const after = await pool.run(big.q, big.k, big.v);
      expect(sameBits(after.output, attention(big.q, big.k, big.v).output)).toBe(true);
      const early = new AbortController();
      early.abort();
      let early_error: unknown;
      try {
        await pool.run(big.q, big.k, big.v, {}, { signal: early.signal });
      } catch (e) {
        early_error = e;
      }
      expect((early_error as Error).name).toBe('AbortError');
    } finally {
      pool.dispose();
    }
  });

  it('aborting a call stops its hung task at once: the worker is replaced, the next call runs', async () => {
    const p = problem(31, 1, 2, 2, 32, 32, 8);
    // A timeout far beyond the test's: only the abort can free the worker.
    const pool = await createAttention({ threads: 1, timeoutMs: 600_000, injectFault: (task) => (task.startsWith('run #1 ') ? 'hang' : undefined) });
    try {
      const controller = new AbortController();
      const hung = pool.run(p.q, p.k, p.v, {}, { signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      const why = await hung.catch((e: unknown) => e);
      expect((why as Error).name).toBe('AbortError');
      const next = await pool.run(p.q, p.k, p.v);
      expect(sameBits(next.output, attention(p.q, p.k, p.v).output)).toBe(true);
    } finally {
      pool.dispose();
    }
  }, 20_000);

  it('replaces a crashed or hung worker and retries its task once', async () => {
    const p = problem(13, 1, 4, 4, 64, 64, 16);
    const expected = attention(p.q, p.k, p.v).output;
    for (const fault of ['crash', 'hang'] as const) {
      const pool = await createAttention({
        threads: 2,
        timeoutMs: 1500,
        injectFault: (_task, attempt) => (attempt === 1 ? fault : undefined),
      });
      try {
        const got = await pool.run(p.q, p.k, p.v);
        expect(sameBits(got.output, expected)).toBe(true);
      } finally {
        pool.dispose();
      }
    }
  });

  it('rejects a call whose task fails twice, naming the task, and loses no other call', async () => {
    const p = problem(17, 1, 2, 2, 32, 32, 8);
    const other = problem(19, 1, 2, 2, 32, 32, 8);
    const pool = await createAttention({
      threads: 2,
      timeoutMs: 1500,
      injectFault: (task) => (task.startsWith('run #1 ') ? 'crash' : undefined),
    });
    try {
      const bad = pool.run(p.q, p.k, p.v);
      const good = pool.run(other.q, other.k, other.v);
      let error: unknown;
      try {
        await bad;
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PoolTaskError);
      expect((error as Error).message).toMatch(/run #1 task 1\/\d+ \(batch 0/);
      expect(sameBits((await good).output, attention(other.q, other.k, other.v).output)).toBe(true);
    } finally {
      pool.dispose();
    }
  });

  it('validates on the calling thread and refuses calls after dispose', async () => {
    const pool = await createAttention({ threads: 1 });
    const p = problem(23, 1, 3, 2, 4, 4, 4);
    let error: unknown;
    try {
      await pool.run(p.q, p.k, p.v);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AttentionError);
    pool.dispose();
    const ok = problem(29, 1, 2, 2, 4, 4, 4);
    let after: unknown;
    try {
      await pool.run(ok.q, ok.k, ok.v);
    } catch (e) {
      after = e;
    }
    expect(after).toBeInstanceOf(AttentionError);
    expect((after as Error).message).toMatch(/disposed/);
  });
});
