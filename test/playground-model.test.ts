/**
 * The playground's model, without a browser: tokenising, the seeded embedding, every variant of the picker run by
 * the wasm kernel against the float64 references, and the effective-weights probe (V = identity) of approximations.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, init, referenceAttention, referenceVariantAttention } from '../ts/index.js';
import type { AttentionInput } from '../ts/index.js';
import { HEAD_DIM, MODEL_DIM, embed, embedToken, tokenize } from '../ts/playground/tokens.js';
import { VARIANTS, variantById, variantInputs } from '../ts/playground/variants.js';
import { pictureWeights } from '../ts/playground/weights.js';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('playground model', () => {
  beforeAll(async () => {
    await init();
  });

  it('splits on any whitespace and embeds the same word the same way, whatever its case', () => {
    expect(tokenize('  the cat\tsat\n\non  the mat ')).toEqual(['the', 'cat', 'sat', 'on', 'the', 'mat']);
    expect(tokenize(' \n ')).toEqual([]);
    expect(Array.from(embedToken('Cat'))).toEqual(Array.from(embedToken('cat')));
    expect(maxDiff(embedToken('cat'), embedToken('dog'))).toBeGreaterThan(0.1);
    expect(embedToken('cat').every((x) => x >= -1 && x < 1)).toBe(true);
    expect(embedToken('cat').length).toBe(MODEL_DIM);
  });

  it('embeds a sentence as q, k, v [1, H, n, HEAD_DIM], deterministic, position-aware', () => {
    const tokens = tokenize('the cat sat on the mat');
    const a = embed(tokens, 3);
    const b = embed(tokens, 3);
    for (const t of [a.q, a.k, a.v]) expect('shape' in t && t.shape).toEqual([1, 3, tokens.length, HEAD_DIM]);
    expect(Array.from(a.q.data)).toEqual(Array.from(b.q.data));
    // 'the' at positions 0 and 4: same table row, different position code.
    const row = (t: AttentionInput, i: number) => t.data.subarray(i * HEAD_DIM, (i + 1) * HEAD_DIM);
    expect(maxDiff(row(a.q, 0), row(a.q, 4))).toBeGreaterThan(1e-3);
    expect(maxDiff(a.q.data, embed(tokens, 3, 2).q.data)).toBeGreaterThan(0.01); // another seed, other projections
  });

  it('has unique variant ids, and falls back to the first for an unknown one', () => {
    expect(new Set(VARIANTS.map((v) => v.id)).size).toBe(VARIANTS.length);
    expect(variantById('nope')).toBe(VARIANTS[0]);
  });

  for (const variant of VARIANTS) {
    it(`${variant.id}: the drawn weights match the float64 reference`, () => {
      const tokens = tokenize('attention lets every token look at the others and pick what matters');
      const [n, heads] = [tokens.length, 2];
      const { q, k, v } = variantInputs(variant, embed(tokens, heads));
      const options = variant.options({ tokens: n, window: 2 });
      const { weights, effective } = pictureWeights(attention, q, k, v, options, heads, n);
      expect(effective).toBe(options.variant !== undefined);
      expect(weights.length).toBe(heads * n * n);
      const eye = new Float32Array(heads * n * n);
      for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) eye[(h * n + i) * n + i] = 1;
      const vEye = { data: eye, shape: [1, heads, n, n] };
      if (!effective) {
        expect(maxDiff(weights, referenceAttention(q, k, v, options).weights)).toBeLessThan(1e-5);
        // The V = I probe gives the softmax weights too: the trick the page uses for approximations.
        expect(maxDiff(attention(q, k, vEye, options).output, weights)).toBeLessThan(1e-5);
      } else {
        expect(maxDiff(weights, referenceVariantAttention(q, k, vEye, options).output)).toBeLessThan(1e-5);
      }
      // Linearity in V: the drawn weights times V are the output the variant gives for V.
      const out = attention(q, k, v, options).output;
      const mixed = new Float64Array(heads * n * HEAD_DIM);
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const wij = weights[(h * n + i) * n + j]!;
            for (let c = 0; c < HEAD_DIM; c++) mixed[(h * n + i) * HEAD_DIM + c]! += wij * v.data[(h * n + j) * HEAD_DIM + c]!;
          }
        }
      }
      expect(maxDiff(mixed, out)).toBeLessThan(1e-5);
    });
  }
});
