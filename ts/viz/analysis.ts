/**
 * Analysis of attention weights laid out [H, Nq, Nk] (one batch entry of `attention(..., { returnWeights: true })`,
 * or any such array): entropy, attention distance, top-k, rollout across layers, head importance by ablation.
 */
import { AttentionError } from '../errors.js';
import type { MaskInput } from '../types.js';

export type WeightsArray = Float32Array | Float64Array;

/** Shape of a weights array: heads × query rows × key columns. */
export interface WeightsShape {
  heads: number;
  rows: number;
  cols: number;
}

function checkShape(w: WeightsArray, s: WeightsShape, name = 'weights'): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new AttentionError('INVALID_DIM', `${name}.${k}`, 'a positive integer', String(v));
  }
  const n = s.heads * s.rows * s.cols;
  if (w.length !== n) {
    throw new AttentionError('INVALID_SHAPE', name, `${n} elements (${s.heads}×${s.rows}×${s.cols})`, `${w.length} elements`);
  }
}

/** Shannon entropy (nats) of each row: [H, Nq]. A row of zeros (fully masked) has entropy 0. */
export function rowEntropy(w: WeightsArray, s: WeightsShape): Float64Array {
  checkShape(w, s);
  const out = new Float64Array(s.heads * s.rows);
  for (let r = 0; r < s.heads * s.rows; r++) {
    let e = 0;
    for (let j = 0; j < s.cols; j++) {
      const p = w[r * s.cols + j]!;
      if (p > 0) e -= p * Math.log(p);
    }
    out[r] = e;
  }
  return out;
}

/** Mean entropy per head: [H]. */
export function headEntropy(w: WeightsArray, s: WeightsShape): Float64Array {
  const rows = rowEntropy(w, s);
  const out = new Float64Array(s.heads);
  for (let h = 0; h < s.heads; h++) {
    let sum = 0;
    for (let i = 0; i < s.rows; i++) sum += rows[h * s.rows + i]!;
    out[h] = sum / s.rows;
  }
  return out;
}

/**
 * Mean attention distance per head: Σⱼ p(i,j)·|i' − j| averaged over rows, where i' = i + offset (offset = Nk − Nq
 * puts the last query on the last key, as in decoding). `tokenSpacing` scales positions (e.g. pixels per patch).
 */
export function attentionDistance(w: WeightsArray, s: WeightsShape, opts: { offset?: number; tokenSpacing?: number } = {}): Float64Array {
  checkShape(w, s);
  const offset = opts.offset ?? 0;
  const spacing = opts.tokenSpacing ?? 1;
  const out = new Float64Array(s.heads);
  for (let h = 0; h < s.heads; h++) {
    let total = 0;
    for (let i = 0; i < s.rows; i++) {
      const base = (h * s.rows + i) * s.cols;
      let d = 0;
      for (let j = 0; j < s.cols; j++) d += w[base + j]! * Math.abs(i + offset - j);
      total += d;
    }
    out[h] = (total / s.rows) * spacing;
  }
  return out;
}

/** The k most attended key positions of every query row of one head, strongest first. */
export function topK(w: WeightsArray, s: WeightsShape, head: number, k: number): { index: number; weight: number }[][] {
  checkShape(w, s);
  if (!Number.isInteger(head) || head < 0 || head >= s.heads) {
    throw new AttentionError('INVALID_OPTION', 'head', `an integer in [0, ${s.heads - 1}]`, String(head));
  }
  if (!Number.isInteger(k) || k < 1) throw new AttentionError('INVALID_OPTION', 'k', 'a positive integer', String(k));
  const rows: { index: number; weight: number }[][] = [];
  for (let i = 0; i < s.rows; i++) {
    const base = (head * s.rows + i) * s.cols;
    const row = Array.from({ length: s.cols }, (_, j) => ({ index: j, weight: w[base + j]! }));
    row.sort((a, b) => b.weight - a.weight || a.index - b.index);
    rows.push(row.slice(0, Math.min(k, s.cols)));
  }
  return rows;
}

/**
 * Attention rollout (Abnar & Zuidema 2020) across layers of self-attention (Nq = Nk = N): each layer's weights are
 * averaged over heads, mixed with the identity for the residual path, A' = (1 − α)·A + α·I (α = residual, default
 * 0.5), rows renormalised, and the layers multiplied from the first to the last: R = A'ₗ … A'₁. Returns R [N, N].
 */
export function attentionRollout(layers: readonly WeightsArray[], s: WeightsShape, opts: { residual?: number } = {}): Float64Array {
  const mixed = mixedLayers(layers, s, opts);
  const n = s.rows;
  let rollout = mixed[0]!;
  for (const a of mixed.slice(1)) {
    const next = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let m = 0; m < n; m++) {
        const x = a[i * n + m]!;
        if (x === 0) continue;
        for (let j = 0; j < n; j++) next[i * n + j]! += x * rollout[m * n + j]!;
      }
    }
    rollout = next;
  }
  return rollout;
}

/**
 * Each layer's weights averaged over heads and mixed with the identity for the residual path,
 * A' = (1 − α)·A + α·I, rows renormalised: the per-layer matrices [N, N] of rollout and attention flow.
 */
export function mixedLayers(layers: readonly WeightsArray[], s: WeightsShape, opts: { residual?: number } = {}): Float64Array[] {
  if (s.rows !== s.cols) throw new AttentionError('INVALID_SHAPE', 'weights', 'square per-head weights (self-attention)', `${s.rows}×${s.cols}`);
  if (layers.length === 0) throw new AttentionError('INVALID_OPTION', 'layers', 'at least one layer', '0 layers');
  const alpha = opts.residual ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new AttentionError('INVALID_OPTION', 'residual', 'a number in [0, 1]', String(alpha));
  const n = s.rows;
  return layers.map((w, l) => {
    checkShape(w, s, `layers[${l}]`);
    const a = new Float64Array(n * n);
    for (let h = 0; h < s.heads; h++) for (let x = 0; x < n * n; x++) a[x]! += w[h * n * n + x]! / s.heads;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const v = (1 - alpha) * a[i * n + j]! + (i === j ? alpha : 0);
        a[i * n + j] = v;
        sum += v;
      }
      if (sum > 0) for (let j = 0; j < n; j++) a[i * n + j]! /= sum;
    }
    return a;
  });
}

/**
 * Head importance by ablation: for each head h, run `forward` with that head masked out and measure how much the
 * result moves, ‖f(without h) − f(all)‖₂ / ‖f(all)‖₂. `forward(masked)` receives a boolean per head (true = ablated)
 * and returns the layer (or model) output.
 */
export function headImportance(heads: number, forward: (ablated: readonly boolean[]) => ArrayLike<number>): Float64Array {
  if (!Number.isInteger(heads) || heads < 1) throw new AttentionError('INVALID_DIM', 'heads', 'a positive integer', String(heads));
  const none = Array<boolean>(heads).fill(false);
  const base = forward(none);
  let norm = 0;
  for (let i = 0; i < base.length; i++) norm += base[i]! * base[i]!;
  norm = Math.sqrt(norm) || 1;
  const out = new Float64Array(heads);
  for (let h = 0; h < heads; h++) {
    const mask = none.slice();
    mask[h] = true;
    const y = forward(mask);
    if (y.length !== base.length) throw new AttentionError('INVALID_SHAPE', 'forward', `${base.length} outputs`, `${y.length} outputs`);
    let d = 0;
    for (let i = 0; i < y.length; i++) d += (y[i]! - base[i]!) ** 2;
    out[h] = Math.sqrt(d) / norm;
  }
  return out;
}

/**
 * A mask that removes whole heads: shape [H, 1, Nk] (broadcast over query rows, so it costs H·Nk bytes, never
 * Nq×Nk), zero for every key of an ablated head. An ablated head attends nothing, so its output rows are 0 — the
 * head's contribution is gone. Pass it as `mask` to `attention()` inside the `forward` of `headImportance`.
 */
export function headAblationMask(ablated: readonly boolean[], keys: number): MaskInput {
  if (ablated.length < 1) throw new AttentionError('INVALID_DIM', 'ablated', 'one flag per head (at least one)', '0 flags');
  if (!Number.isInteger(keys) || keys < 1) throw new AttentionError('INVALID_DIM', 'keys', 'a positive integer', String(keys));
  const data = new Uint8Array(ablated.length * keys);
  ablated.forEach((off, h) => { if (!off) data.fill(1, h * keys, (h + 1) * keys); });
  return { data, shape: [ablated.length, 1, keys] };
}
