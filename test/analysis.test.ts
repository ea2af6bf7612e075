import { describe, expect, it } from 'vitest';
import { attentionDistance, attentionRollout, headEntropy, headImportance, rowEntropy, topK } from '../ts/viz/analysis.js';
import { AttentionError } from '../ts/errors.js';

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
});
