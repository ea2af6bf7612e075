import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init } from '../ts/index.js';
import { StagingBuffers } from '../ts/pool/staging.js';
import { uniform } from './rng.js';

const tensor = (data: Float32Array, shape: number[]) => ({ data, shape });

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((w, i) => w === y[i]);
}

const hasShared = typeof SharedArrayBuffer !== 'undefined';

// Cross-origin-isolated pages, Node and Deno only (elsewhere the pool transfers slices instead).
if (hasShared) describe('pool staging buffers', () => {
  it('reuses a released buffer of a fitting size and keeps the free list under its budget', () => {
    const s = new StagingBuffers(4 << 20);
    const a = s.acquire(1 << 20);
    expect(a).toBeInstanceOf(SharedArrayBuffer);
    expect(a.byteLength).toBeGreaterThanOrEqual(1 << 20);
    s.release(a);
    expect(s.acquire(900_000)).toBe(a); // fits, and not more than twice the request
    s.release(a);
    expect(s.acquire(100_000)).not.toBe(a); // would pin 10× the request
    const big = s.acquire(3 << 20);
    s.release(big); // 1 + 3 MiB: within budget, both kept
    expect(s.acquire(3 << 20)).toBe(big);
    s.release(big);
    s.release(s.acquire(5 << 20)); // over the budget: not kept
    expect(s.acquire(1 << 20)).toBe(a);
  });

  it('drops the free buffers after an idle period without calls', async () => {
    const s = new StagingBuffers(4 << 20, 50);
    const a = s.acquire(1 << 20);
    s.release(a);
    expect(s.held).toBe(1 << 20);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.acquire(1 << 20)).toBe(a); // used within the period: kept
    s.release(a);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.held).toBe(0);
    expect(s.acquire(1 << 20)).not.toBe(a);
  });
});

describe('pool results through the shared staging', () => {
  beforeAll(async () => {
    await init();
  });

  it('gives bitwise the single-thread result call after call while the staging is reused with new data', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      for (let call = 0; call < 4; call++) {
        // Alternate layouts and options so a stale mirror (a slice not copied again) would show.
        const bnhd = call % 2 === 1;
        const [b, h, n, d] = [2, 3, 70 + call, 16];
        const shape = bnhd ? [b, n, h, d] : [b, h, n, d];
        const q = tensor(uniform(100 + call, b * h * n * d), shape);
        const k = tensor(uniform(200 + call, b * h * n * d), shape);
        const v = tensor(uniform(300 + call, b * h * n * d), shape);
        const mask = call === 2 ? { data: Uint8Array.from(uniform(400, b * n * n), (x) => (x > -0.5 ? 1 : 0)), shape: [b, 1, n, n] } : undefined;
        const options = { layout: bnhd ? 'BNHD' as const : 'BHND' as const, causal: call === 3, returnLse: true, ...(mask ? { mask } : {}) };
        const got = await pool.run(q, k, v, options);
        const want = attention(q, k, v, options);
        expect(sameBits(got.output, want.output)).toBe(true);
        expect(sameBits(got.lse!, want.lse!)).toBe(true);
      }
    } finally {
      pool.dispose();
    }
  });

  it('keeps concurrent calls apart, and a call after an aborted one is right', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const shape = [1, 4, 300, 32];
      const make = (seed: number) => [0, 1, 2].map((j) => tensor(uniform(seed + j, 4 * 300 * 32), shape));
      const inputs = [10, 20, 30, 40].map(make);
      const results = await Promise.all(inputs.map(([q, k, v]) => pool.run(q!, k!, v!)));
      inputs.forEach(([q, k, v], i) => expect(sameBits(results[i]!.output, attention(q!, k!, v!).output)).toBe(true));

      const controller = new AbortController();
      const aborted = pool.run(inputs[0]![0]!, inputs[0]![1]!, inputs[0]![2]!, undefined, { signal: controller.signal });
      controller.abort();
      const why = await aborted.catch((e: unknown) => e);
      expect((why as Error).name).toBe('AbortError');
      const [q, k, v] = inputs[3]!;
      expect(sameBits((await pool.run(q!, k!, v!)).output, attention(q!, k!, v!).output)).toBe(true);
    } finally {
      pool.dispose();
    }
  });

  it('row chunks of one head (sharing its keys) are right call after call', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      for (let call = 0; call < 2; call++) {
        const shape = [1, 1, 1024, 32]; // one head group for 2 workers: cut into row chunks
        const [q, k, v] = [0, 1, 2].map((j) => tensor(uniform(500 + 10 * call + j, 1024 * 32), shape));
        const options = { causal: call === 1, returnLse: true };
        const got = await pool.run(q!, k!, v!, options);
        const want = attention(q!, k!, v!, options);
        expect(sameBits(got.output, want.output)).toBe(true);
        expect(sameBits(got.lse!, want.lse!)).toBe(true);
      }
    } finally {
      pool.dispose();
    }
  });

  it("writes into the caller's out array and returns it", async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const shape = [1, 2, 64, 8];
      const [q, k, v] = [1, 2, 3].map((s) => tensor(uniform(s, 2 * 64 * 8), shape));
      const out = new Float32Array(2 * 64 * 8);
      const r = await pool.run(q!, k!, v!, { out });
      expect(r.output).toBe(out);
      expect(sameBits(out, attention(q!, k!, v!).output)).toBe(true);
    } finally {
      pool.dispose();
    }
  });
});
