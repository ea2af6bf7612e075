/**
 * The attention variants the playground offers: one entry each, data only. Adding a variant is one line here: an
 * id, a label, and the `attention()` options it stands for (from the sentence length and the page's parameters).
 */
import type { AttentionOptions } from '../types.js';
import type { Embedded } from './tokens.js';

/** Parameters a variant may use, set on the page. */
export interface VariantParams {
  /** Tokens in the sentence. */
  tokens: number;
  /** Sliding window half-width (keys on each side, or back only when causal). */
  window: number;
}

export interface Variant {
  id: string;
  label: string;
  /** One line shown under the picker. */
  note: string;
  options(p: VariantParams): AttentionOptions;
  /** Shared-QK attention (Reformer): the keys are the queries. */
  sharedQK?: boolean;
}

/** The q, k, v a variant runs on: k replaced by q for shared-QK variants. */
export const variantInputs = (variant: Variant, e: Embedded): Embedded => (variant.sharedQK ? { ...e, k: e.q } : e);

export const VARIANTS: readonly Variant[] = [
  { id: 'exact', label: 'exact', note: 'every query attends every key', options: () => ({}) },
  { id: 'causal', label: 'causal', note: 'query i attends keys j ≤ i', options: () => ({ causal: true }) },
  { id: 'window', label: 'sliding window', note: 'keys within ±w of the query', options: (p) => ({ window: { left: p.window, right: p.window } }) },
  { id: 'causal-window', label: 'causal + window', note: 'the last w + 1 keys up to the query', options: (p) => ({ causal: true, window: { left: p.window } }) },
  { id: 'longformer', label: 'Longformer', note: 'sliding window ±w plus global tokens 0 and 1 (attend and attended by all)', options: (p) => ({ sparsity: { window: p.window, globalTokens: [0, 1].filter((g) => g < p.tokens) } }) },
  { id: 'bigbird', label: 'BigBird', note: 'window ±w, global token 0 and 1 random block of 4×4 per query block (seed 1)', options: (p) => ({ sparsity: { window: p.window, globalTokens: [0], blocks: { layout: new Uint8Array(Math.ceil(p.tokens / 4) ** 2), blockSize: [4, 4] }, randomBlocks: { count: 1, seed: 1 } } }) },
  { id: 'linear', label: 'linear', note: 'linear attention, φ(x) = elu(x) + 1: weights φ(q)·φ(k) / Σ', options: () => ({ variant: { kind: 'linear' } }) },
  { id: 'linear-causal', label: 'linear, causal', note: 'linear attention with causal prefix sums', options: () => ({ causal: true, variant: { kind: 'linear' } }) },
  { id: 'performer', label: 'Performer', note: 'FAVOR+ with 64 positive orthogonal random features', options: () => ({ variant: { kind: 'performer', features: 64 } }) },
  { id: 'lsh', label: 'LSH (Reformer)', note: 'shared-QK angular LSH: 4 buckets, 2 rounds, chunks of 4; a token attends its bucket-sorted chunk and the previous one, itself only if alone', sharedQK: true, options: () => ({ variant: { kind: 'lsh', buckets: 4, rounds: 2, chunk: 4, seed: 1 } }) },
  { id: 'linformer', label: 'Linformer', note: 'keys and values projected to 8 rows along the sequence', options: (p) => ({ variant: { kind: 'linformer', projectedLength: Math.min(8, p.tokens) } }) },
];

export const variantById = (id: string): Variant => VARIANTS.find((v) => v.id === id) ?? VARIANTS[0]!;
