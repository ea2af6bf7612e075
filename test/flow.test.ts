/**
 * Attention flow against independent definitions: one layer is its mixed matrix; two layers are edge-disjoint
 * two-edge paths, F[i][j] = Σₘ min(A₂[i][m], A₁[m][j]); any depth equals the minimum cut (max-flow min-cut),
 * found by enumerating every cut of a small graph.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, init } from '../ts/index.js';
import { attentionFlow } from '../ts/viz/flow.js';
import { mixedLayers } from '../ts/viz/analysis.js';
import { AttentionError } from '../ts/errors.js';
import { Rng } from './rng.js';

/** Softmax rows of random logits: [heads, n, n] attention-like weights. */
function randomWeights(rng: Rng, heads: number, n: number, sharp = 3): Float64Array {
  const w = new Float64Array(heads * n * n);
  for (let r = 0; r < heads * n; r++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += (w[r * n + j] = Math.exp(sharp * rng.float(-1, 1)));
    for (let j = 0; j < n; j++) w[r * n + j]! /= sum;
  }
  return w;
}

/** Min cut between input j and output i by enumerating which intermediate nodes sit on the source side. */
function minCut(mixed: readonly Float64Array[], n: number, i: number, j: number): number {
  const L = mixed.length;
  const inner = (L - 1) * n;
  let best = Infinity;
  for (let mask = 0; mask < 2 ** inner; mask++) {
    // onSource(l, t): layer 0 — only the source; layer L — every node but the sink (dead ends, never cut).
    const onSource = (l: number, t: number): boolean =>
      l === 0 ? t === j : l === L ? t !== i : ((mask >> ((l - 1) * n + t)) & 1) === 1;
    let cut = 0;
    for (let l = 1; l <= L; l++) {
      for (let a = 0; a < n; a++) {
        for (let b = 0; b < n; b++) if (onSource(l - 1, b) && !onSource(l, a)) cut += mixed[l - 1]![a * n + b]!;
      }
    }
    best = Math.min(best, cut);
  }
  return best;
}

describe('attentionFlow', () => {
  it('one layer: the flow is the mixed matrix itself', () => {
    const n = 5;
    const s = { heads: 2, rows: n, cols: n };
    const w = randomWeights(new Rng(1), 2, n);
    const f = attentionFlow([w], s, { residual: 0.3 });
    const a = mixedLayers([w], s, { residual: 0.3 })[0]!;
    for (let x = 0; x < n * n; x++) expect(Math.abs(f[x]! - a[x]!)).toBeLessThan(1e-12);
  });

  it('two layers: the sum over middle tokens of the weaker edge', () => {
    const n = 6;
    const s = { heads: 3, rows: n, cols: n };
    const rng = new Rng(2);
    const layers = [randomWeights(rng, 3, n), randomWeights(rng, 3, n)];
    const [a1, a2] = mixedLayers(layers, s);
    const f = attentionFlow(layers, s);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let want = 0;
        for (let m = 0; m < n; m++) want += Math.min(a2![i * n + m]!, a1![m * n + j]!);
        expect(Math.abs(f[i * n + j]! - want)).toBeLessThan(1e-12);
      }
    }
  });

  it('three and four layers: equal to the minimum cut', () => {
    for (const [n, depth, seed] of [[3, 3, 3], [4, 3, 4], [3, 4, 5]] as const) {
      const s = { heads: 2, rows: n, cols: n };
      const rng = new Rng(seed);
      const layers = Array.from({ length: depth }, () => randomWeights(rng, 2, n, 4));
      const mixed = mixedLayers(layers, s, { residual: 0.2 });
      const f = attentionFlow(layers, s, { residual: 0.2 });
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) expect(Math.abs(f[i * n + j]! - minCut(mixed, n, i, j))).toBeLessThan(1e-12);
      }
    }
  });

  describe('on real attention weights', () => {
    beforeAll(async () => {
      await init();
    });

    it('flows lie in [0, 1] and equal the minimum cut for causal layers from the wasm kernel', () => {
      const [h, n, d] = [2, 4, 8];
      const rng = new Rng(9);
      const t = () => ({ data: rng.fill(new Float32Array(h * n * d)), shape: [1, h, n, d] });
      const layers = [0, 1, 2].map(() => attention(t(), t(), t(), { causal: true, returnWeights: true }).weights!);
      const s = { heads: h, rows: n, cols: n };
      const f = attentionFlow(layers, s);
      const mixed = mixedLayers(layers, s);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const x = f[i * n + j]!;
          expect(x >= 0 && x <= 1 + 1e-9).toBe(true);
          expect(Math.abs(x - minCut(mixed, n, i, j))).toBeLessThan(1e-9);
          if (j > i) expect(x).toBeLessThan(1e-9); // causal: no path from a later token
        }
      }
    });
  });

  it('rejects cross-attention shapes and empty layer lists', () => {
    expect(() => attentionFlow([new Float64Array(6)], { heads: 1, rows: 2, cols: 3 })).toThrow(AttentionError);
    expect(() => attentionFlow([], { heads: 1, rows: 2, cols: 2 })).toThrow(/layers/);
  });
});
