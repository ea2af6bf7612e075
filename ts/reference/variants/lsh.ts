/**
 * Float64 reference of Reformer LSH attention (shared-QK), written from its definition with the kernel's rotations:
 * per (batch, head) and round, buckets from `lshBucket` (f32 sums in a fixed order, so the buckets and the sorted
 * order are the kernel's exactly), a stable sort by (bucket, position), chunks of `chunk` sorted positions, each query
 * over its own and the previous chunk (causal: keys at positions ≤ its own; itself only when nothing else is left),
 * keys k_j = q_j / |q_j| (0 for a zero row), scores scale·q_i·k_j; o_r and lse_r per round; the rounds combined as
 * o = Σ_r softmax_r(lse_r) o_r. Everything else in float64.
 */
import type { AttentionDescriptor } from '../../descriptor.js';
import { lshBucket } from '../../variants/lsh.js';
import { dot, emptyResult, row, type VariantReferenceResult } from './common.js';

export interface LshParams {
  buckets: number;
  rounds: number;
  chunk: number;
  /** [rounds, Dk, buckets / 2]. */
  rotations: Float32Array;
}

/** Positions of one round in sorted order: stable by (bucket, position). */
export function lshOrder(queries: Float64Array[], p: LshParams, dk: number, r: number): number[] {
  const bucket = queries.map((x) => lshBucket(x, p.rotations, dk, p.buckets, r));
  return queries.map((_, i) => i).sort((a, b) => bucket[a]! - bucket[b]! || a - b);
}

export function referenceLsh(d: AttentionDescriptor, p: LshParams): VariantReferenceResult {
  const res = emptyResult(d);
  const n = d.nq;
  const causal = d.winRight === 0;
  const group = d.hq / d.hkv;
  for (let b = 0; b < d.b; b++) {
    for (let h = 0; h < d.hq; h++) {
      const g = Math.floor(h / group);
      const qs = Array.from({ length: n }, (_, i) => row(d.q, b, h, i, d.dk));
      const keys = qs.map((x) => {
        const norm = Math.sqrt(dot(x, x));
        return x.map((t) => (norm > 0 ? t / norm : 0));
      });
      const vs = Array.from({ length: n }, (_, j) => row(d.v, b, g, j, d.dv));
      const rounds: { lse: number; o: Float64Array }[][] = Array.from({ length: n }, () => []);
      for (let r = 0; r < p.rounds; r++) {
        const order = lshOrder(qs, p, d.dk, r);
        for (let s = 0; s < n; s++) {
          const i = order[s]!;
          const c = Math.floor(s / p.chunk);
          const from = Math.max(0, c - 1) * p.chunk;
          const to = Math.min(n, (c + 1) * p.chunk);
          let cand = order.slice(from, to).filter((j) => !causal || j <= i);
          if (cand.length > 1) cand = cand.filter((j) => j !== i);
          const scores = cand.map((j) => d.scale * dot(qs[i]!, keys[j]!));
          const m = Math.max(...scores);
          const w = scores.map((x) => Math.exp(x - m));
          const l = w.reduce((a, x) => a + x, 0);
          const o = new Float64Array(d.dv);
          cand.forEach((j, t) => {
            for (let x = 0; x < d.dv; x++) o[x]! += (w[t]! / l) * vs[j]![x]!;
          });
          rounds[i]!.push({ lse: m + Math.log(l), o });
        }
      }
      for (let i = 0; i < n; i++) {
        const big = Math.max(...rounds[i]!.map((x) => x.lse));
        const total = rounds[i]!.reduce((a, x) => a + Math.exp(x.lse - big), 0);
        const at = b * d.o.batch + h * d.o.head + i * d.o.row;
        for (const { lse, o } of rounds[i]!) {
          const wr = Math.exp(lse - big) / total;
          for (let x = 0; x < d.dv; x++) res.output[at + x]! += wr * o[x]!;
        }
      }
    }
  }
  return res;
}
