/**
 * Variants on the worker pool: the same result, bit for bit, as attention() on the calling thread. Each task holds
 * whole (batch, kv head) blocks — every row and key — so causal prefix sums and Linformer's projection see the full
 * sequence; the shape below (B·Hkv = 2 groups, Nq = 600) would be cut into row chunks for exact attention.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init } from '../ts/index.js';
import type { AttentionOptions, VariantOption } from '../ts/index.js';
import { splitProblem } from '../ts/pool/split.js';
import { buildDescriptor } from '../ts/spec.js';
import { uniform } from './rng.js';

const [B, HQ, HKV, NQ, NK, D] = [1, 4, 2, 600, 520, 12];
const q = { data: uniform(1, B * HQ * NQ * D), shape: [B, HQ, NQ, D] };
const k = { data: uniform(2, B * HKV * NK * D), shape: [B, HKV, NK, D] };
const v = { data: uniform(3, B * HKV * NK * D), shape: [B, HKV, NK, D] };

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((t, i) => t === y[i]);
}

const OPTIONS: AttentionOptions[] = [
  { variant: { kind: 'linear' } },
  { variant: { kind: 'linear' }, causal: true },
  { variant: { kind: 'performer', features: 64, seed: 2 }, causal: 'bottom-right' },
  { variant: { kind: 'performer', features: 32 } },
  { variant: { kind: 'linformer', projectedLength: 48, seed: 3 } },
];

beforeAll(async () => {
  await init();
});

describe('variants on the worker pool', () => {
  it('split: one task per (batch, kv head) with every row and key, never a row chunk or key range', () => {
    for (const o of OPTIONS) {
      const tasks = splitProblem(buildDescriptor(q, k, v, o), 4);
      for (const t of tasks) expect([t.row0, t.rows, t.key0, t.keys]).toEqual([0, NQ, 0, NK]);
    }
    // The exact problem of the same shape is cut into row chunks: the variant branch is what keeps them whole.
    expect(splitProblem(buildDescriptor(q, k, v), 4).some((t) => t.rows < NQ)).toBe(true);
    const decode = { data: uniform(4, 4 * D), shape: [1, 1, 4, D] };
    const long = { data: uniform(5, 3000 * D), shape: [1, 1, 3000, D] };
    expect(splitProblem(buildDescriptor(decode, long, long, { variant: { kind: 'linear' } }), 4).length).toBe(1);
  });

  for (const threads of [1, 3]) {
    it(`run() equals attention() bit for bit with ${threads} worker(s)`, async () => {
      const pool = await createAttention({ threads });
      try {
        for (const o of OPTIONS) {
          const want = attention(q, k, v, o).output;
          const got = (await pool.run(q, k, v, o)).output;
          expect(sameBits(got, want), JSON.stringify(o)).toBe(true);
        }
        const batch = await pool.runBatch(OPTIONS.map((options) => ({ q, k, v, options })));
        batch.forEach((r, i) => expect(sameBits(r.output, attention(q, k, v, OPTIONS[i]).output)).toBe(true));
      } finally {
        pool.dispose();
      }
    });
  }

  it('rejects unsupported combinations before any task is sent', async () => {
    const pool = await createAttention({ threads: 1 });
    try {
      const variant: VariantOption = { kind: 'linformer' };
      let err: unknown;
      try {
        await pool.run(q, k, v, { variant, causal: true });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ argument: 'causal', code: 'INVALID_OPTION' });
    } finally {
      pool.dispose();
    }
  });
});
