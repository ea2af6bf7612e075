import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init } from '../ts/index.js';
import { StagingBuffers } from '../ts/pool/staging.js';
import { makeTaskInput, taskDescriptor } from '../ts/pool/task.js';
import { buildDescriptor } from '../ts/spec.js';
import { uniform } from './rng.js';

const tensor = (data: Float32Array, shape: number[]) => ({ data, shape });

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((w, i) => w === y[i]);
}

/** Key-range splits (decode-like shapes) merge partials: within 1e-5 of the unsplit call, not bitwise. */
function close(a: Float32Array, b: Float32Array, tol = 1e-5): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)));
}

const hasShared = typeof SharedArrayBuffer !== 'undefined';

// Cross-origin-isolated pages, Node and Deno only (elsewhere the pool transfers slices instead).
if (hasShared) describe('pool staging buffers', () => {
  it('reuses a released buffer of a fitting size and never holds more than its cap, lent and free', () => {
    const s = new StagingBuffers(4 << 20);
    const a = s.acquire(1 << 20)!;
    expect(a).toBeInstanceOf(SharedArrayBuffer);
    expect(a.byteLength).toBeGreaterThanOrEqual(1 << 20);
    s.release(a);
    expect(s.acquire(900_000)).toBe(a); // fits, and not more than twice the request
    s.release(a);
    const small = s.acquire(100_000)!; // a would pin 10× the request: a new one while there is room
    expect(small).not.toBe(a);
    expect(s.live).toBe((1 << 20) + 131072);
    expect(s.acquire(5 << 20)).toBeUndefined(); // over the cap: the call transfers its slices instead
    const big = s.acquire(2 << 20)!;
    expect(s.live).toBe((3 << 20) + 131072);
    expect(s.acquire(2 << 20)).toBeUndefined(); // lent + free would pass the cap
    s.release(big);
    expect(s.acquire(2 << 20)).toBe(big);
    expect(s.acquire(600_000)).toBe(a); // no room for a new one: any free buffer that is big enough
    s.drop(a); // a failed call's buffer: forgotten, its bytes count no more
    expect(s.live).toBe((2 << 20) + 131072);
    expect(s.acquire(1 << 20)).not.toBe(a);
  });

  it('a worker reads one head\'s key range of a shared operand in place (no copy before its wasm memory)', () => {
    const [h, n, d] = [4, 64, 8];
    const shared = (seed: number) => {
      const a = new Float32Array(new SharedArrayBuffer(4 * h * n * d));
      a.set(uniform(seed, h * n * d));
      return tensor(a, [1, h, n, d]);
    };
    const [q, k, v] = [shared(1), shared(2), shared(3)];
    const desc = buildDescriptor(tensor(q.data.slice(0, h * d), [1, h, 1, d]), k, v);
    const t = { b: 0, kvHead0: 2, kvHeads: 1, row0: 0, rows: 1, key0: 16, keys: 32 };
    const td = taskDescriptor(makeTaskInput(desc, t, true).input);
    expect(td.k.data.buffer).toBe(k.data.buffer); // a view: the head stride of the whole operand does not matter
    expect(td.v.data.buffer).toBe(v.data.buffer);
    expect(Array.from(td.k.data)).toEqual(Array.from(k.data.subarray((2 * n + 16) * d, (2 * n + 48) * d)));
  });

  it('drops the free buffers after an idle period without calls', async () => {
    const s = new StagingBuffers(4 << 20, 50);
    const a = s.acquire(1 << 20)!;
    s.release(a);
    expect(s.held).toBe(1 << 20);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.acquire(1 << 20)).toBe(a); // used within the period: kept
    s.release(a);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.held).toBe(0);
    expect(s.live).toBe(0);
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

/** The pool's staging buffers (private: what a test needs to see that calls reuse them). */
const stagingOf = (pool: object): StagingBuffers | undefined => (pool as { staging?: StagingBuffers }).staging;

if (hasShared) describe('pool shared memory stays bounded', () => {
  beforeAll(async () => {
    await init();
  });

  it('decode-shaped calls (key ranges) reuse one buffer for their operands, call after call', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const [h, nk, d] = [4, 2048, 32];
      const k = tensor(uniform(1, h * nk * d), [1, h, nk, d]);
      const v = tensor(uniform(2, h * nk * d), [1, h, nk, d]);
      let live = -1;
      for (let call = 0; call < 5; call++) {
        const q = tensor(uniform(10 + call, h * d), [1, h, 1, d]);
        const got = await pool.run(q, k, v);
        expect(close(got.output, attention(q, k, v).output)).toBe(true);
        const now = stagingOf(pool)!.live;
        expect(now).toBeGreaterThan(0); // the operands went through the pool's buffers
        if (call > 0) expect(now).toBe(live); // and the same ones each call
        live = now;
      }
    } finally {
      pool.dispose();
    }
  });

  it('a call that does not fit the cap transfers its slices and gives the same result', async () => {
    const pool = await createAttention({ threads: 2, stagingBytes: 64 * 1024 });
    const roomy = await createAttention({ threads: 2 });
    try {
      for (const [nq, nk] of [[256, 256], [1, 4096]] as const) {
        const [h, d] = [4, 32];
        const q = tensor(uniform(3, h * nq * d), [1, h, nq, d]);
        const k = tensor(uniform(4, h * nk * d), [1, h, nk, d]);
        const v = tensor(uniform(5, h * nk * d), [1, h, nk, d]);
        const got = await pool.run(q, k, v, { returnLse: true });
        // The same tasks as with room to stage them (a key-range split for nq = 1): bitwise the same.
        const want = await roomy.run(q, k, v, { returnLse: true });
        expect(stagingOf(roomy)!.live).toBeGreaterThan(0);
        expect(sameBits(got.output, want.output)).toBe(true);
        expect(sameBits(got.lse!, want.lse!)).toBe(true);
        expect(close(got.output, attention(q, k, v).output)).toBe(true);
        expect(stagingOf(pool)!.live).toBe(0);
      }
    } finally {
      pool.dispose();
      roomy.dispose();
    }
    const bad = await createAttention({ threads: 1, stagingBytes: -1 }).catch((e: unknown) => e);
    expect((bad as Error).message.includes('stagingBytes')).toBe(true);
  });

  it('a batch takes its items\' buffers as their tasks are sent: many items share a cap that holds a few', async () => {
    const [h, n, d] = [2, 128, 16];
    const itemBytes = 4 * (3 * h * n * d + h * n * d); // q, k, v mirrors and the output
    const pool = await createAttention({ threads: 2, stagingBytes: 10 * Math.ceil(itemBytes / 65536) * 65536 });
    try {
      const s = stagingOf(pool)!;
      const acquire = s.acquire.bind(s);
      let staged = 0;
      let transferred = 0;
      s.acquire = (bytes: number) => {
        const b = acquire(bytes);
        if (b) staged += 1;
        else transferred += 1;
        return b;
      };
      const items = Array.from({ length: 40 }, (_, i) => {
        const [q, k, v] = [0, 1, 2].map((j) => tensor(uniform(1000 + 3 * i + j, h * n * d), [1, h, n, d]));
        return { q: q!, k: k!, v: v! };
      });
      const results = await pool.runBatch(items);
      results.forEach((r, i) => expect(sameBits(r.output, attention(items[i]!.q, items[i]!.k, items[i]!.v).output)).toBe(true));
      // Only the items in flight (a few tasks per worker) hold a buffer at once, so every item found one.
      expect(staged).toBe(40);
      expect(transferred).toBe(0);
      expect(s.live).toBeLessThanOrEqual(s.maxBytes);
    } finally {
      pool.dispose();
    }
  });

  it('a failed call forgets its buffer, and later calls still fit under the cap', async () => {
    const pool = await createAttention({ threads: 2, stagingBytes: 8 << 20, injectFault: (task) => (task.startsWith('run #1 ') ? 'throw' : undefined) });
    try {
      const shape = [1, 4, 256, 32];
      const [q, k, v] = [6, 7, 8].map((seed) => tensor(uniform(seed, 4 * 256 * 32), shape));
      const why = await pool.run(q!, k!, v!).catch((e: unknown) => e);
      expect(why).toBeInstanceOf(Error);
      expect(stagingOf(pool)!.live).toBe(0);
      for (let call = 0; call < 3; call++) expect(sameBits((await pool.run(q!, k!, v!)).output, attention(q!, k!, v!).output)).toBe(true);
      expect(stagingOf(pool)!.live).toBeGreaterThan(0);
    } finally {
      pool.dispose();
    }
  });
});
