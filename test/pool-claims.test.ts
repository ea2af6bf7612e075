/**
 * Helping: a pool call's last tasks run in row blocks claimed from a shared counter, and a worker with nothing left
 * to do claims blocks of them too (ts/pool/scheduler.ts, ts/core/call.ts runRowBlocks). Where SharedArrayBuffer
 * exists (Node, Deno, cross-origin-isolated pages) with 3 workers and a problem of 2 tasks, the third worker helps
 * from the start (unless the task's own worker has claimed all its blocks first); every result must be bitwise the
 * single-thread one. Helper runs are seen through injectFault,
 * which is asked about each of them under the task's label + " (helper)". Without shared memory nothing is
 * claimed, and the same calls must still be right.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init, PoolTaskError } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import type { Fault } from '../ts/pool/worker-api.js';
import { uniform } from './rng.js';

const hasShared = typeof SharedArrayBuffer !== 'undefined';

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((w, i) => w === y[i]);
}

interface Case {
  name: string;
  hq: number;
  nq: number;
  nk: number;
  d: number;
  options: (seed: number) => AttentionOptions;
  bnhd?: boolean;
}

// One kv head and 512 query rows: with 3 workers the pool cuts it into 2 row chunks of 256 (2 claimed blocks each).
const CASES: Case[] = [
  // Blocks of ~10⁷ multiply-adds: the calling thread sends the helper long before a block can end.
  { name: 'long keys', hq: 1, nq: 512, nk: 2048, d: 32, options: () => ({ returnLse: true }) },
  { name: 'plain', hq: 1, nq: 512, nk: 300, d: 16, options: () => ({}) },
  { name: 'causal, lse', hq: 1, nq: 512, nk: 512, d: 16, options: () => ({ causal: true, returnLse: true }) },
  { name: 'window, bottom-right, Nk > Nq', hq: 1, nq: 512, nk: 700, d: 8, options: () => ({ causal: 'bottom-right' as const, window: { left: 100 } }) },
  { name: 'GQA 4:1, BNHD, softcap', hq: 4, nq: 512, nk: 200, d: 8, bnhd: true, options: () => ({ softcap: 5, returnLse: true }) },
  {
    name: 'mask and bias arrays', hq: 1, nq: 512, nk: 96, d: 8,
    options: (seed) => ({
      mask: { data: Uint8Array.from(uniform(seed, 512 * 96), (x) => (x > -0.6 ? 1 : 0)), shape: [1, 1, 512, 96] },
      bias: { data: uniform(seed + 1, 512 * 96), shape: [1, 1, 512, 96] },
    }),
  },
  { name: 'query and key lengths, ALiBi', hq: 2, nq: 512, nk: 128, d: 8, options: () => ({ queryLengths: [400], keyLengths: [100], alibi: true as const }) },
];

// One task of 500 rows (under 2 row chunks) in 4 blocks of ~1.6·10⁷ multiply-adds, and 2 idle workers to help: a
// failing helper claims one block before it fails (see the worker's injected faults), and the task's own worker
// cannot have claimed all four by then.
const FAULT_CASE: Case = { name: 'one task', hq: 1, nq: 500, nk: 4096, d: 32, options: () => ({ returnLse: true }) };

function inputs(c: Case, seed: number) {
  const hkv = 1;
  const shape = (h: number, n: number) => (c.bnhd ? [1, n, h, c.d] : [1, h, n, c.d]);
  return {
    q: { data: uniform(seed, c.hq * c.nq * c.d), shape: shape(c.hq, c.nq) },
    k: { data: uniform(seed + 1, hkv * c.nk * c.d), shape: shape(hkv, c.nk) },
    v: { data: uniform(seed + 2, hkv * c.nk * c.d), shape: shape(hkv, c.nk) },
  };
}

describe('pool helping: claimed row blocks', () => {
  beforeAll(async () => {
    await init();
  });

  it('gives bitwise the single-thread output and lse, with an idle worker helping each call', async () => {
    let helpers = 0;
    const pool = await createAttention({
      threads: 3,
      injectFault: (task) => {
        if (task.endsWith('(helper)')) helpers += 1;
        return undefined;
      },
    });
    try {
      for (const [i, c] of CASES.entries()) {
        const { q, k, v } = inputs(c, 40 + 10 * i);
        const options = { ...c.options(900 + i), ...(c.bnhd ? { layout: 'BNHD' as const } : {}) };
        const got = await pool.run(q, k, v, options);
        const want = attention(q, k, v, options);
        expect(sameBits(got.output, want.output), c.name).toBe(true);
        if (want.lse) expect(sameBits(got.lse!, want.lse), c.name).toBe(true);
      }
      // Helping is decided on the calling thread right after the tasks are posted; a worker that has already
      // claimed every block of its task by then is not helped. So the count is over the whole sequence.
      if (hasShared) expect(helpers).toBeGreaterThan(0);
    } finally {
      pool.dispose();
    }
  });

  it('stays right with concurrent calls and longer problems (helping wherever a worker runs dry)', async () => {
    const pool = await createAttention({ threads: 3 });
    try {
      const c: Case = { name: 'long', hq: 2, nq: 1024, nk: 256, d: 16, options: () => ({ causal: true }) };
      const all = [0, 1, 2, 3].map((j) => inputs(c, 300 + 7 * j));
      const got = await Promise.all(all.map((x) => pool.run(x.q, x.k, x.v, { causal: true })));
      all.forEach((x, j) => expect(sameBits(got[j]!.output, attention(x.q, x.k, x.v, { causal: true }).output)).toBe(true));
    } finally {
      pool.dispose();
    }
  });

  it('runBatch: every item bitwise right, the last ones (sent as the queue runs dry) in claimed blocks', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const c: Case = { name: 'batch', hq: 1, nq: 512, nk: 1024, d: 32, options: () => ({ causal: true }) };
      const items = [0, 1, 2, 3, 4].map((j) => ({ ...inputs(c, 600 + 5 * j), options: { causal: true } }));
      const got = await pool.runBatch(items);
      items.forEach((x, j) => expect(sameBits(got[j]!.output, attention(x.q, x.k, x.v, x.options).output)).toBe(true));
    } finally {
      pool.dispose();
    }
  });

  for (const fault of ['crash', 'hang', 'throw'] as const) {
    it(`a helper that fails (${fault}) makes its task run again in full: the result is still right`, async () => {
      const seen: string[] = [];
      const pool = await createAttention({
        threads: 3,
        timeoutMs: 1500,
        injectFault: (task, attempt): Fault | undefined => {
          if (!task.endsWith('(helper)')) return undefined;
          seen.push(`${attempt}`);
          return attempt === 1 ? fault : undefined;
        },
      });
      try {
        const c = FAULT_CASE;
        const { q, k, v } = inputs(c, 77);
        const options = c.options(0);
        const got = await pool.run(q, k, v, options);
        const want = attention(q, k, v, options);
        expect(sameBits(got.output, want.output)).toBe(true);
        expect(sameBits(got.lse!, want.lse!)).toBe(true);
        if (hasShared) expect(seen.includes('1')).toBe(true);
        // The pool goes on.
        expect(sameBits((await pool.run(q, k, v, options)).output, want.output)).toBe(true);
      } finally {
        pool.dispose();
      }
    }, 30_000);
  }

  if (hasShared) {
    it('rejects the call naming the task when its helpers fail on both attempts', async () => {
      const pool = await createAttention({ threads: 3, injectFault: (task) => (task.endsWith('(helper)') ? 'throw' : undefined) });
      try {
        const c = FAULT_CASE;
        const { q, k, v } = inputs(c, 5);
        const error = await pool.run(q, k, v).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PoolTaskError);
        expect((error as Error).message).toMatch(/run #1 task 1\/1 .*failed twice: a worker helping with it stopped/);
      } finally {
        pool.dispose();
      }
    });
  }
});
