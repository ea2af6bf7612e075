/**
 * The `variant` option of attention(): linear-time approximations of softmax attention. Each replaces exact
 * attention by its own definition (written in crate/src/variants/desc.rs, implemented in float64 by
 * ts/reference/variants/). Options that combine with every variant: layout, causal (linear, performer, lsh),
 * scale (performer, linformer, lsh), out, convert, GQA/MQA heads and Nq ≠ Nk (not lsh: k must be q). Everything else (mask, bias, window,
 * queryLengths, keyLengths, softcap, cosine similarity, returnLse, returnWeights) is rejected with an
 * AttentionError naming the option.
 */
import type { TensorLike } from '../types.js';

/** Linear attention (Katharopoulos et al. 2020): φ(x) = elu(x) + 1, o_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j).
 * O(N·Dk·Dv). No logit scale (the `scale` option is rejected). Causal: prefix sums over keys j ≤ diagonal. */
export interface LinearVariant {
  kind: 'linear';
}

/** Performer FAVOR+ (Choromanski et al. 2021): positive orthogonal random features
 * φ(x) = exp(ω_a·x' − |x'|²/2), a < features, x' = x·√scale, so that E[φ(q)·φ(k)] = exp(scale·q·k); then as linear
 * attention. O(N·features·(Dk + Dv)). */
export interface PerformerVariant {
  kind: 'performer';
  /** Number of random features m. Default 256 (or the rows of `projection`). */
  features?: number;
  /** Seed of the orthogonal random projection (see `performerProjection`); change it to redraw. Default 0. */
  seed?: number;
  /** The projection itself, [features, Dk] (row a = ω_a), instead of drawing one from `seed`. */
  projection?: TensorLike<Float32Array>;
}

/** Linformer (Wang et al. 2020): keys and values projected along the sequence, K' = E·K, V' = F·V (E, F:
 * [projectedLength, Nk], shared by all batch entries and heads), then exact softmax attention over the projected rows.
 * O(N·projectedLength·D). Not causal (the projection mixes all positions). */
export interface LinformerVariant {
  kind: 'linformer';
  /** Projected rows (k in the paper). Default min(256, Nk) (or the rows of `e` / `f`). */
  projectedLength?: number;
  /** Seed of the random E and F (entries N(0, 1/projectedLength), see `linformerProjection`). Default 0. */
  seed?: number;
  /** E [projectedLength, Nk]; give `f` too. */
  e?: TensorLike<Float32Array>;
  /** F [projectedLength, Nk]; give `e` too. */
  f?: TensorLike<Float32Array>;
}

/** Reformer LSH attention (Kitaev et al. 2020), shared-QK: the keys are the normalised queries k_j = q_j / |q_j|, so
 * `k` must be the same tensor as `q` (same shape and values; an AttentionError on `k` otherwise) — Nq = Nk, no GQA.
 * Each of `rounds` hash rounds draws a random rotation R [Dk, buckets/2] and puts position i in bucket
 * argmax([q_i R; −q_i R]); positions are stably sorted by (bucket, position) and cut into chunks of `chunk`; each query
 * attends (softmax of scale·q_i·k_j) to the keys of its own and the previous chunk (no wrap-around), never to itself
 * unless nothing else is left; causal: only keys at positions ≤ its own. The rounds' outputs are combined with
 * weights softmax over rounds of their log-sum-exp. O(N·rounds·(Dk·buckets + chunk·D)); the full definition is in
 * crate/src/variants/lsh.rs and ts/reference/variants/lsh.ts. */
export interface LshVariant {
  kind: 'lsh';
  /** Number of buckets: even, in [2, 65536]. */
  buckets: number;
  /** Hash rounds, in [1, 64]. */
  rounds: number;
  /** Chunk length in sorted order, in [1, 65536]. Default 64. */
  chunk?: number;
  /** Seed of the random rotations (see `lshRotations`). Default 0. */
  seed?: number;
}

export type VariantOption = LinearVariant | PerformerVariant | LinformerVariant | LshVariant;
export type VariantKind = VariantOption['kind'];

/** The normalised variant inside an AttentionDescriptor: every parameter resolved, projections drawn. */
export type VariantSpec =
  | { kind: 'linear' }
  /** projection: [features, Dk] row-major. */
  | { kind: 'performer'; features: number; projection: Float32Array }
  /** e, f: [rows, Nk] row-major. */
  | { kind: 'linformer'; rows: number; e: Float32Array; f: Float32Array }
  /** rotations: [rounds, Dk, buckets / 2] row-major. */
  | { kind: 'lsh'; buckets: number; rounds: number; chunk: number; rotations: Float32Array };
