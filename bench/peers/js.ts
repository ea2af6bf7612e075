/**
 * Plain JavaScript: per (batch, head, query row) a scores row, its softmax, and the weighted sum of V — what one
 * would write without a library (float32 storage, float64 arithmetic).
 */
import type { Inputs, Peer, Prepared, Shape } from './peer.js';

export function jsAttention(s: Shape, x: Inputs): Float32Array {
  const { b, h, nq, nk, d } = s;
  const scale = 1 / Math.sqrt(d);
  const out = new Float32Array(b * h * nq * d);
  const scores = new Float64Array(nk);
  const acc = new Float64Array(d);
  for (let bh = 0; bh < b * h; bh++) {
    const qBase = bh * nq * d;
    const kBase = bh * nk * d;
    for (let i = 0; i < nq; i++) {
      const last = s.causal ? Math.min(i, nk - 1) : nk - 1;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += x.q[qBase + i * d + c] * x.k[kBase + j * d + c];
        scores[j] = dot * scale;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      acc.fill(0);
      for (let j = 0; j <= last; j++) {
        const p = Math.exp(scores[j] - max);
        sum += p;
        for (let c = 0; c < d; c++) acc[c] += p * x.v[kBase + j * d + c];
      }
      const o = qBase + i * d;
      for (let c = 0; c < d; c++) out[o + c] = sum > 0 ? acc[c] / sum : 0;
    }
  }
  return out;
}

export const jsPeer: Peer = {
  impl: 'js',
  describe: () => 'plain JS loops (Float32Array in, float64 math)',
  threads: () => 1,
  async prepare(s: Shape, x: Inputs): Promise<Prepared> {
    return {
      async run() {
        return jsAttention(s, x);
      },
      async dispose() {},
    };
  },
};
