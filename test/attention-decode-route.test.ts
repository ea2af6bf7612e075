/**
 * attention() on decode-like shapes (≤ 16 queries, ≥ 256 keys, options both kernels define alike) runs on the
 * split-key decode kernel (ts/core/decode-route.ts). Seeded cases against the float64 reference: batches, GQA / MQA,
 * causal aligned either way, windows (also cutting whole key ranges of a pool's split away from some queries, whose
 * partial is then empty), non-causal windows, lse; and which descriptors take that route.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, createAttention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { buildDescriptor } from '../ts/spec.js';
import { decodeRoutable } from '../ts/core/decode-route.js';
import { uniform } from './rng.js';

const TOL = 1e-5;

/** Max |got − want| (relative to max(1, |want|) with `log`); −∞ must match −∞. */
function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>, log = false): number {
  if (got.length !== want.length) return Infinity;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w === -Infinity || g === -Infinity) {
      if (w !== g) return Infinity;
      continue;
    }
    const d = Math.abs(g - w) / (log ? Math.max(1, Math.abs(w)) : 1);
    if (!(d <= m)) m = d;
  }
  return m;
}

const t = (seed: number, shape: number[]) => ({ data: uniform(seed, shape.reduce((a, b) => a * b, 1)), shape });

interface Case {
  b: number;
  hq: number;
  hkv: number;
  nq: number;
  nk: number;
  d: number;
  options: AttentionOptions;
}

const CASES: Case[] = [];
{
  const shapes = [[1, 4, 4, 1, 256, 32], [2, 8, 2, 3, 700, 16], [1, 6, 1, 16, 1500, 64], [3, 2, 2, 5, 300, 8]];
  const options: AttentionOptions[] = [
    {}, { causal: true }, { causal: 'bottom-right' }, { causal: true, window: { left: 40 } },
    { causal: 'bottom-right', window: { left: 0 } }, { window: { left: 100 } }, { scale: 0.3, causal: 'bottom-right', window: { left: 257 } },
  ];
  for (const [b, hq, hkv, nq, nk, d] of shapes) {
    for (const o of options) CASES.push({ b: b!, hq: hq!, hkv: hkv!, nq: nq!, nk: nk!, d: d!, options: { ...o, returnLse: true } });
  }
}

beforeAll(async () => {
  await init();
});

describe('attention() through the decode kernel', () => {
  for (const [x, c] of CASES.entries()) {
    it(`(${c.b},${c.hq}/${c.hkv},${c.nq}×${c.nk},${c.d}) ${JSON.stringify(c.options)}`, () => {
      const q = t(100 + x, [c.b, c.hq, c.nq, c.d]);
      const k = t(200 + x, [c.b, c.hkv, c.nk, c.d]);
      const v = t(300 + x, [c.b, c.hkv, c.nk, c.d]);
      expect(decodeRoutable(buildDescriptor(q, k, v, c.options))).toBe(true);
      const got = attention(q, k, v, c.options);
      const want = referenceAttention(q, k, v, c.options);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
      expect(maxDiff(got.lse!, want.lse!, true)).toBeLessThanOrEqual(TOL);
    });
  }

  it('NaN and ±∞ in q, k or v reach exactly the rows the reference says (a window hides some of them)', () => {
    const [hq, nq, nk, d] = [2, 4, 300, 8];
    const o: AttentionOptions = { causal: 'bottom-right', window: { left: 292 }, returnLse: true };
    for (const val of [NaN, Infinity, -Infinity]) {
      for (const where of ['q', 'k', 'v'] as const) {
        const x = { q: t(1, [1, hq, nq, d]), k: t(2, [1, hq, nk, d]), v: t(3, [1, hq, nk, d]) };
        // Head 0: query row 1; or key 5 (queries at 296…299 see keys from 4…7 on: rows 2 and 3 do not see it) and
        // the last key (only row 3 sees it): a masked key's p = 0 must not turn ∞ or NaN into NaN there.
        if (where === 'q') x.q.data[d + 3] = val;
        else for (const key of [5, nk - 1]) x[where].data[key * d + 2] = val;
        expect(decodeRoutable(buildDescriptor(x.q, x.k, x.v, o))).toBe(true);
        const got = attention(x.q, x.k, x.v, o);
        const want = referenceAttention(x.q, x.k, x.v, o);
        const same = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number): boolean =>
          Array.from(b).every((w, i) => Object.is(a[i], w) || Math.abs(a[i]! - w) <= tol * Math.max(1, Math.abs(w)));
        expect(same(got.output, want.output, TOL), `${val} in ${where}`).toBe(true);
        expect(same(got.lse!, want.lse!, TOL), `${val} in ${where}`).toBe(true);
      }
    }
  });

  it('takes only what both kernels define alike (the rest runs on the flash kernel)', () => {
    const [q, k, v] = [t(1, [1, 4, 2, 16]), t(2, [1, 4, 300, 16]), t(3, [1, 4, 300, 16])];
    const route = (o: AttentionOptions, kk = k, vv = v, qq = q) => decodeRoutable(buildDescriptor(qq, kk, vv, o));
    expect(route({})).toBe(true);
    expect(route({ softcap: 30 })).toBe(false);
    expect(route({ window: { left: 3, right: 2 } })).toBe(false); // bounded on the right without being causal
    expect(route({ alibi: true })).toBe(false);
    expect(route({ returnWeights: true })).toBe(false);
    expect(route({ mask: { data: new Uint8Array(2 * 300).fill(1), shape: [1, 1, 2, 300] } })).toBe(false);
    // BNHD keys: rows of one head are Hkv · D apart, not a linear cache.
    const bnhd = (s: number) => t(s, [1, 300, 4, 16]);
    expect(route({ layout: 'BNHD' }, bnhd(2), bnhd(3), t(1, [1, 2, 4, 16]))).toBe(false);
    expect(route({}, t(2, [1, 4, 255, 16]), t(3, [1, 4, 255, 16]))).toBe(false); // too few keys to be worth it
    expect(route({}, k, v, t(1, [1, 4, 17, 16]))).toBe(false); // more queries than the decode kernel takes
  });

  it('through a pool, key ranges a window hides from every query give empty partials, and the merge is right', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const [hq, hkv, nq, nk, d] = [4, 2, 2, 4096, 16];
      const q = t(7, [1, hq, nq, d]);
      const k = t(8, [1, hkv, nk, d]);
      const v = t(9, [1, hkv, nk, d]);
      for (const options of [{ causal: 'bottom-right', window: { left: 100 } }, { window: { left: 5 } }] as AttentionOptions[]) {
        const o = { ...options, returnLse: true };
        const got = await pool.run(q, k, v, o);
        const want = referenceAttention(q, k, v, o);
        expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
        expect(maxDiff(got.lse!, want.lse!, true)).toBeLessThanOrEqual(TOL);
      }
    } finally {
      pool.dispose();
    }
  });
});
