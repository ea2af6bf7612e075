import { beforeAll, describe, expect, it } from 'vitest';
import {
  attentionDistance, attentionRollout, headAblationMask, headEntropy, headImportance, rowEntropy, topK,
} from '../ts/viz/analysis.js';
import { AttentionError } from '../ts/errors.js';
import { attention, init, referenceAttention } from '../ts/index.js';
import { Rng } from './rng.js';

const close = (a: number, b: number, tol = 1e-12): boolean => Math.abs(a - b) <= tol;

describe('attention analysis', () => {
  it('entropy: uniform rows give ln N, one-hot rows 0, masked rows 0', () => {
    const s = { heads: 2, rows: 2, cols: 4 };
    const w = new Float64Array([0.25, 0.25, 0.25, 0.25, 1, 0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0]);
    const e = rowEntropy(w, s);
    expect(close(e[0]!, Math.log(4))).toBe(true);
    expect(e[1]).toBe(0);
    expect(e[2]).toBe(0);
    expect(close(e[3]!, Math.log(2))).toBe(true);
    const h = headEntropy(w, s);
    expect(close(h[0]!, Math.log(4) / 2)).toBe(true);
    expect(close(h[1]!, Math.log(2) / 2)).toBe(true);
  });

  it('distance: a diagonal head has distance 0, a previous-token head distance 1', () => {
    const n = 5;
    const diag = new Float32Array(n * n);
    const prev = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      diag[i * n + i] = 1;
      prev[i * n + Math.max(0, i - 1)] = 1;
    }
    const w = new Float32Array(2 * n * n);
    w.set(diag, 0);
    w.set(prev, n * n);
    const d = attentionDistance(w, { heads: 2, rows: n, cols: n });
    expect(d[0]).toBe(0);
    expect(close(d[1]!, (n - 1) / n)).toBe(true);
    expect(close(attentionDistance(w, { heads: 2, rows: n, cols: n }, { tokenSpacing: 16 })[1]!, (16 * (n - 1)) / n)).toBe(true);
  });

  it('topK returns the strongest keys in order, ties by position', () => {
    const w = new Float32Array([0.1, 0.4, 0.1, 0.4]);
    const t = topK(w, { heads: 1, rows: 1, cols: 4 }, 0, 3);
    expect(t[0]!.map((x) => x.index)).toEqual([1, 3, 0]);
    expect(() => topK(w, { heads: 1, rows: 1, cols: 4 }, 1, 1)).toThrow(AttentionError);
  });

  it('rollout: one layer with residual 0 is the head mean; identity layers leave it unchanged; rows stay stochastic', () => {
    const n = 3;
    const a = new Float64Array([0.2, 0.3, 0.5, 0.6, 0.2, 0.2, 0.1, 0.1, 0.8]);
    const b = new Float64Array([0.4, 0.3, 0.3, 0.2, 0.6, 0.2, 0.3, 0.3, 0.4]);
    const twoHeads = new Float64Array([...a, ...b]);
    const s = { heads: 2, rows: n, cols: n };
    const r0 = attentionRollout([twoHeads], s, { residual: 0 });
    for (let x = 0; x < n * n; x++) expect(close(r0[x]!, (a[x]! + b[x]!) / 2)).toBe(true);
    const eye = new Float64Array(2 * n * n);
    for (let h = 0; h < 2; h++) for (let i = 0; i < n; i++) eye[h * n * n + i * n + i] = 1;
    const r1 = attentionRollout([twoHeads, eye], s, { residual: 0 });
    for (let x = 0; x < n * n; x++) expect(close(r1[x]!, r0[x]!)).toBe(true);
    // Two layers, α = 0.5: compare with the matrix product written out.
    const mix = (m: Float64Array): number[] => Array.from(m, (v, x) => 0.5 * v + (x % (n + 1) === 0 ? 0.5 : 0));
    const A = mix(Float64Array.from(a, (v, x) => (v + b[x]!) / 2));
    const expected: number[] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let m = 0; m < n; m++) sum += A[i * n + m]! * A[m * n + j]!;
      expected.push(sum);
    }
    const r2 = attentionRollout([twoHeads, twoHeads], s);
    expected.forEach((v, x) => expect(close(r2[x]!, v)).toBe(true));
    for (let i = 0; i < n; i++) expect(close(r2[i * n]! + r2[i * n + 1]! + r2[i * n + 2]!, 1)).toBe(true);
  });

  it('head importance measures the relative change when one head is removed', () => {
    // A "layer" whose output is the sum of per-head contributions: removing head h removes its vector.
    const contributions = [[1, 0], [0, 2], [0, 0]];
    const imp = headImportance(3, (ablated) => {
      const y = [0, 0];
      contributions.forEach((c, h) => {
        if (!ablated[h]) { y[0]! += c[0]!; y[1]! += c[1]!; }
      });
      return y;
    });
    const norm = Math.sqrt(5);
    expect(close(imp[0]!, 1 / norm)).toBe(true);
    expect(close(imp[1]!, 2 / norm)).toBe(true);
    expect(imp[2]).toBe(0);
  });

  it('rejects arrays that do not match their shape', () => {
    expect(() => rowEntropy(new Float32Array(5), { heads: 1, rows: 2, cols: 3 })).toThrow(/6 elements/);
  });

  describe('head importance on a real attention layer', () => {
    beforeAll(async () => {
      await init();
    });

    it('ablating a head with headAblationMask removes exactly its share of the projected output', () => {
      // A layer: causal GQA attention (wasm kernel) followed by a seeded output projection y = Σ_h O_h W_h.
      const [hq, hkv, n, d, out] = [4, 2, 12, 8, 6];
      const rng = new Rng(21);
      const t = (h: number) => ({ data: rng.fill(new Float32Array(h * n * d)), shape: [1, h, n, d] });
      const [q, k, v] = [t(hq), t(hkv), t(hkv)];
      const wo = rng.fill(new Float64Array(hq * d * out));
      const project = (o: ArrayLike<number>, only?: number): Float64Array => {
        const y = new Float64Array(n * out);
        for (let h = 0; h < hq; h++) {
          if (only !== undefined && h !== only) continue;
          for (let i = 0; i < n; i++) {
            for (let c = 0; c < d; c++) {
              const x = o[(h * n + i) * d + c]!;
              for (let e = 0; e < out; e++) y[i * out + e]! += x * wo[(h * d + c) * out + e]!;
            }
          }
        }
        return y;
      };
      const imp = headImportance(hq, (ablated) =>
        project(attention(q, k, v, { causal: true, mask: headAblationMask(ablated, n) }).output));

      // Independent expectation from the float64 reference: ‖O_h W_h‖ / ‖Σ_h O_h W_h‖.
      const o = referenceAttention(q, k, v, { causal: true }).output;
      const norm = (y: Float64Array): number => Math.sqrt(y.reduce((s2, x) => s2 + x * x, 0));
      const total = norm(project(o));
      for (let h = 0; h < hq; h++) expect(Math.abs(imp[h]! - norm(project(o, h)) / total)).toBeLessThan(1e-5);
      expect(new Set(Array.from(imp, (x) => x.toFixed(3))).size).toBe(hq); // heads differ
    });

    it('headAblationMask is [H, 1, Nk] and zero only for ablated heads', () => {
      const m = headAblationMask([false, true, false], 4);
      expect('shape' in m && m.shape).toEqual([3, 1, 4]);
      expect(Array.from(m.data)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
      expect(() => headAblationMask([], 4)).toThrow(/ablated/);
    });
  });
});
