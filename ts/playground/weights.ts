/**
 * The weights the playground draws, [H, n, n] for one sentence (B = 1, self-attention): softmax weights from
 * `returnWeights` for exact attention; for approximations given by the `variant` option, which have none, the
 * effective weights — attention is linear in V, so with V = identity (one value row per key, Dv = n) output row i is
 * exactly the weight row of query i.
 */
import type { AttentionInput, AttentionOptions, AttentionResult } from '../types.js';

export type AttentionCall = (q: AttentionInput, k: AttentionInput, v: AttentionInput, options: AttentionOptions) => AttentionResult;

export interface PictureWeights {
  weights: Float32Array;
  /** True when these are effective weights (output with V = I), which may be negative (Linformer). */
  effective: boolean;
}

export function pictureWeights(
  attention: AttentionCall, q: AttentionInput, k: AttentionInput, v: AttentionInput, options: AttentionOptions,
  heads: number, n: number,
): PictureWeights {
  if (options.variant === undefined) return { weights: attention(q, k, v, { ...options, returnWeights: true }).weights!, effective: false };
  const eye = new Float32Array(heads * n * n);
  for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) eye[(h * n + i) * n + i] = 1;
  return { weights: attention(q, k, { data: eye, shape: [1, heads, n, n] }, options).output, effective: true };
}
