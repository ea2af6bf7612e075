/**
 * Runs only in the `browser-coi` project (COOP/COEP headers): the page must really be cross-origin isolated, and
 * the pool must read SharedArrayBuffer inputs in place and agree bitwise with the calling thread.
 */
import { describe, expect, it } from 'vitest';
import { attention, createAttention, init } from '../ts/index.js';
import { uniform } from './rng.js';

describe('cross-origin-isolated page', () => {
  it('has SharedArrayBuffer, and the pool reads shared inputs bitwise like attention()', async () => {
    expect(globalThis.crossOriginIsolated).toBe(true);
    expect(typeof SharedArrayBuffer).toBe('function');
    await init();
    const shape = [2, 4, 96, 32];
    const n = 2 * 4 * 96 * 32;
    const shared = (seed: number): Float32Array => {
      const a = new Float32Array(new SharedArrayBuffer(4 * n));
      a.set(uniform(seed, n, -1, 1));
      return a;
    };
    const [q, k, v] = [shared(1), shared(2), shared(3)].map((data) => ({ data, shape }));
    const pool = await createAttention({ threads: 3 });
    try {
      const got = await pool.run(q!, k!, v!, { causal: true });
      const want = attention(q!, k!, v!, { causal: true });
      expect(got.output.length).toBe(want.output.length);
      expect(got.output.every((x, i) => Object.is(x, want.output[i]))).toBe(true);
      expect(q!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    } finally {
      pool.dispose();
    }
  });
});
