/**
 * The widening of finite f16 caches read in place (the fast path, eight halves per load where the kernel steps eight
 * columns at a time): subnormal, tiny, large and signed-zero halves in every column position of a head dim that is
 * not a multiple of 32 (blocks of 8, 4 and a scalar tail), for one query row per kv head (MHA) and four stacked rows
 * (GQA), equal the float64 reference run on the cache's own contents (cache.read()) within the f32 budget 1e-5
 * relative to the column's largest |v| (so a subnormal column is checked at its own scale).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KVCache, decode, init, referenceDecode } from '../ts/index.js';
import { Rng } from './rng.js';

beforeAll(async () => {
  await init();
});

/** Column classes (by column index mod 9): the extremes, subnormals and tiny normals, ordinary values with signed zeros. */
const EXTREME = [60000, -65504, 65504, -60000, 0.5];
const TINY = [3e-7, -6e-8, 2 ** -24, -(2 ** -14), 1e-5, -2e-6, 7e-5, 0, -0];

function values(rng: Rng, rows: number, d: number): Float32Array {
  const x = new Float32Array(rows * d);
  const pick = (set: number[]): number => set[Math.floor(rng.next() * set.length)]!;
  for (let i = 0; i < x.length; i++) {
    const c = i % d;
    x[i] = c % 9 === 0 ? pick(EXTREME) : c % 3 === 0 ? pick(TINY) : rng.next() < 0.1 ? pick([0, -0]) : 2 * rng.next() - 1;
  }
  return x;
}

describe('finite f16 caches widened in place', () => {
  for (const [hq, hkv] of [[2, 2], [8, 2]] as const) {
    for (const d of [43, 72]) {
      it(`Hq ${hq} Hkv ${hkv} D ${d}: equal the reference on the held halves`, () => {
        const rng = new Rng(1000 + 10 * d + hq);
        const n = 150; // more than two tiles of 64 keys
        const k = values(rng, hkv * n, d);
        const v = values(rng, hkv * n, d);
        // Queries of 1e-4: the 65504-sized key columns keep the logits within a few units (a softmax far from one-hot).
        const q = values(rng, hq, d).map((x, i) => (i % d) % 9 === 0 ? 1e-4 * Math.sign(x) : x * 1e-4);
        const cache = new KVCache({ heads: hkv, headDim: d, capacity: n, dtype: 'f16' });
        cache.append({ data: k, shape: [hkv, n, d] }, { data: v, shape: [hkv, n, d] });
        const got = decode({ data: q, shape: [hq, 1, d] }, cache).output;
        const held = cache.read();
        const ref = referenceDecode({ q, hq, nq: 1, k: held.k, v: held.v, hkv, dk: d, dv: d });
        // f32 budget 1e-5 relative to max |v| of the column (a bound of Σ p|v|): tight on the subnormal columns.
        let worst = 0;
        got.forEach((x, i) => {
          const [h, c] = [Math.floor(i / d), i % d];
          const g = Math.floor(h / (hq / hkv));
          let m = 0;
          for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(held.v[(g * n + j) * d + c]!));
          const w = ref.output[i]!;
          worst = Math.max(worst, Math.abs(x - w) / Math.max(m, Math.abs(w), 1e-30));
        });
        expect(worst).toBeLessThanOrEqual(1e-5);
        cache.dispose();
      });
    }
  }
});
