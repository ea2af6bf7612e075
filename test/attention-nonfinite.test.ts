/**
 * ∞ and NaN in a value reach only the query rows that may see its key (the flash kernel's P·V: a hidden key's
 * probability is 0, and 0 · ∞ = NaN must not reach the row). Hidden by the causal edge, a window, a mask array, key
 * lengths and a block mask; against the float64 reference, which skips hidden keys and lets IEEE arithmetic decide
 * the rest. (Shapes with ≤ 16 queries and ≥ 256 keys take the decode kernel: test/attention-decode-route.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { uniform } from './rng.js';

const TOL = 1e-5;

/** Same NaNs and infinities, finite values within TOL (relative to max(1, |want|)). */
function same(got: ArrayLike<number>, want: ArrayLike<number>): boolean {
  return got.length === want.length &&
    Array.from(want).every((w, i) => Object.is(got[i], w) || Math.abs(got[i]! - w) <= TOL * Math.max(1, Math.abs(w)));
}

const [B, HQ, HKV, NQ, NK, D] = [2, 4, 2, 40, 70, 8];
const t = (seed: number, shape: number[]) => ({ data: uniform(seed, shape.reduce((a, b) => a * b, 1)), shape });

const maskHidingKey10 = (): { data: Uint8Array; shape: number[] } => {
  const m = new Uint8Array(B * NQ * NK).fill(1);
  for (let b = 0; b < B; b++) for (let i = 0; i < NQ; i += 2) m[(b * NQ + i) * NK + 10] = 0; // even rows do not see key 10
  return { data: m, shape: [B, 1, NQ, NK] };
};

/** Options and the keys whose values turn non-finite (kv head 0 of batch 0, some hidden from some rows). */
const CASES: [string, AttentionOptions, number[]][] = [
  ['causal: the last keys', { causal: true }, [NK - 1, 39, 20]],
  ['bottom-right causal and a window', { causal: 'bottom-right', window: { left: 5 } }, [31, 50, 69]],
  ['a mask array', { mask: maskHidingKey10() }, [10]],
  ['key lengths', { keyLengths: [50, 70], causal: 'bottom-right' }, [60, 45]],
  ['a block mask (dilated window)', { sparsity: { window: 6, dilation: 3 } }, [12, 33]],
  ['weights and lse too', { causal: true, returnWeights: true }, [NK - 1, 20]],
];

beforeAll(async () => {
  await init();
});

describe('non-finite values reach only the rows that may see them', () => {
  for (const [name, options, keys] of CASES) {
    for (const val of [NaN, Infinity, -Infinity]) {
      it(`${name}: ${val}`, () => {
        const q = t(1, [B, HQ, NQ, D]);
        const k = t(2, [B, HKV, NK, D]);
        const v = t(3, [B, HKV, NK, D]);
        for (const key of keys) v.data[key * D + 3] = val;
        const o = { ...options, returnLse: true };
        const got = attention(q, k, v, o);
        const want = referenceAttention(q, k, v, o);
        expect(same(got.output, want.output)).toBe(true);
        expect(same(got.lse!, want.lse!)).toBe(true);
        if (o.returnWeights) expect(same(got.weights!, want.weights!)).toBe(true);
        // The case means something: some rows of head 0 see a bad value, and some do not.
        const rows = Array.from({ length: NQ }, (_, i) => Number.isFinite(want.output[i * D + 3]!));
        expect(rows.includes(true) && rows.includes(false)).toBe(true);
      });
    }
  }
});
