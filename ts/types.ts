/**
 * Public option and result types of webattn. Every backend (wasm, pool, webgpu, reference) takes these and
 * returns `AttentionResult`. Semantics are stated once, in crate/src/desc.rs, and implemented in float64 by
 * ts/reference/attention.ts.
 */
import type { VariantOption } from './variants/types.js';
import type { SparsityOption } from './sparse/types.js';

/** Memory layout of q, k, v and the output: BHND = [batch, heads, seq, dim] (default), BNHD = [batch, seq, heads, dim]. */
export type Layout = 'BHND' | 'BNHD';

/** Where the diagonal of causal and window masks sits when Nq ≠ Nk.
 * 'top-left': query i's diagonal key is i (PyTorch SDPA `is_causal`, ONNX Attention).
 * 'bottom-right': query i's diagonal key is i + Nk − Nq (FlashAttention-2, decoding with a KV cache). */
export type Alignment = 'top-left' | 'bottom-right';

/** `true` is 'top-left'. */
export type CausalOption = boolean | Alignment;

/** Sliding window: query i attends keys in [diag − left, diag + right]. Omitted or Infinity = unbounded. */
export interface WindowOption {
  left?: number;
  right?: number;
  /** Defaults to the causal option's alignment, else 'top-left'. */
  align?: Alignment;
}

export type Similarity = 'dot' | 'cosine';

/** A 4-D (or lower, leading dims = 1) tensor. `dims` is accepted as an alias of `shape` (onnxruntime-web Tensors). */
export type TensorLike<T> =
  | { readonly data: T; readonly shape: readonly number[] }
  | { readonly data: T; readonly dims: readonly number[] };

/** Boolean mask, nonzero = attend. Shape [Nq, Nk], [H|1, Nq, Nk] or [B|1, H|1, Nq, Nk] (broadcast over size-1 dims). */
export type MaskInput = TensorLike<Uint8Array>;

/** Additive bias on the logits, same shapes as MaskInput. */
export type BiasInput = TensorLike<Float32Array>;

/** q, k, v: 4-D [B, H, N, D] in BHND (or [B, N, H, D] in BNHD), or 3-D without the batch dim (B = 1). */
export type AttentionInput = TensorLike<Float32Array>;

/** What `convert: true` turns into a Float32Array (a copy): number[] and every numeric typed array but the BigInt
 * ones (a Float16Array too, which the ES2022 lib these types build on does not name). */
export type ConvertibleFloats =
  | Float32Array | readonly number[] | Float64Array
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** q, k, v as `attention(q, k, v, { convert: true, … })` takes them. */
export type ConvertibleInput = TensorLike<ConvertibleFloats>;

/** AttentionOptions with `convert: true`: q, k, v and bias may then be any ConvertibleFloats, and the mask also
 * boolean[] (truthy = attend). A separate type so that without the option the compiler still says Float32Array. */
export interface ConvertOptions extends Omit<AttentionOptions, 'convert' | 'mask' | 'bias'> {
  convert: true;
  mask?: TensorLike<ConvertibleFloats | readonly boolean[]>;
  bias?: TensorLike<ConvertibleFloats>;
}

export type Lengths = Int32Array | Uint32Array | readonly number[];

export interface AttentionOptions {
  /** Layout of q, k, v and of the output. Default 'BHND'. Strides only: inputs are never copied to change layout. */
  layout?: Layout;
  /** Logit multiplier. Default 1/√Dk (dot), 1/temperature (cosine). */
  scale?: number;
  /** Causal mask. Default false. */
  causal?: CausalOption;
  /** Sliding window (local attention). Combines with causal (causal sets right = 0). */
  window?: WindowOption;
  /** Valid query rows per batch entry (variable length / padding). Rows past it output 0, LSE −∞. */
  queryLengths?: Lengths;
  /** Valid keys per batch entry (key padding). */
  keyLengths?: Lengths;
  /** Boolean mask, nonzero = attend. */
  mask?: MaskInput;
  /** Additive logit bias (ALiBi, relative position bias, …). */
  bias?: BiasInput;
  /** Logit soft-capping c·tanh(s/c) (Gemma 2), applied after scale and before bias. 0 or omitted = off. */
  softcap?: number;
  /** 'dot' (default) or 'cosine' (q and k normalised to unit length, then scaled by 1/temperature). */
  similarity?: Similarity;
  /** Cosine similarity temperature; only with similarity 'cosine'. Default 1. */
  temperature?: number;
  /** Return the per-row log-sum-exp of the logits, [B, Hq, Nq]. */
  returnLse?: boolean;
  /** Return the attention weights [B, Hq, Nq, Nk] (allocates Nq×Nk per head: for visualisation). */
  returnWeights?: boolean;
  /** Write the output here instead of allocating (length B·Hq·Nq·Dv, in `layout`). */
  out?: Float32Array;
  /** Convert q, k, v, bias and variant projections that are not Float32Array (number[], Float64Array, other numeric
   * typed arrays) and masks that are not Uint8Array (also boolean[]) instead of rejecting them. Default false. The
   * input types admit these arrays when the options are a literal `{ convert: true, … }` (ConvertOptions). */
  convert?: boolean;
  /** A linear-time approximation instead of exact attention (ts/variants/types.ts says which options combine). */
  variant?: VariantOption;
  /** ALiBi: adds slope_h·(j − diag) to the logits, no N×N array (diag = the causal diagonal of query i under the
   * alignment). `true` = the standard slopes of the ALiBi paper for Hq heads, or a Float32Array of Hq slopes.
   * Combines with every mask and with bias; exact attention only (not with `variant`). */
  alibi?: Float32Array | true;
  /** Relative-position bias by distance, no N×N array: the logit of (i, j) gains table[h, clamp(j − diag + zero, 0,
   * L − 1)] (diag as for causal). T5 buckets: `t5RelativeBias(...)` builds it. Combines with every other option. */
  relativeBias?: RelativeBiasInput;
  /** Structured sparsity (dilated window, global tokens, BigBird random blocks, block layout, CSR), compiled into
   * one block mask so the exact kernel skips whole blocks; ANDed with causal / window / mask / lengths. Exact
   * attention only (not with `variant`). See ts/sparse/types.ts. */
  sparsity?: SparsityOption;
}

/** A bias table by relative distance: `table` [Hq|1, L] (one row per query head, or one shared row), `zero` the
 * index of distance 0; distances past either end read the end entries. */
export interface RelativeBiasInput {
  table: TensorLike<Float32Array>;
  zero: number;
}

export interface AttentionResult {
  /** [B, Hq, Nq, Dv] in BHND, [B, Nq, Hq, Dv] in BNHD. */
  output: Float32Array;
  /** Shape of `output` in the input's layout (4-D). */
  shape: [number, number, number, number];
  /** [B, Hq, Nq] natural-log sum of exp of the logits; −∞ for rows with no allowed key. */
  lse?: Float32Array;
  /** [B, Hq, Nq, Nk] softmax weights. */
  weights?: Float32Array;
}

/** Stable error codes of AttentionError. */
export type AttentionErrorCode =
  | 'INVALID_TYPE'
  | 'INVALID_SHAPE'
  | 'INVALID_DIM'
  | 'INVALID_HEADS'
  | 'INVALID_OPTION'
  | 'INVALID_LENGTHS'
  | 'INVALID_MASK'
  | 'INVALID_BIAS'
  | 'INVALID_OUTPUT'
  | 'NOT_INITIALIZED'
  | 'OUT_OF_MEMORY'
  | 'KERNEL_ERROR'
  /** A linear KVCache has no room for the appended tokens (nothing was appended). */
  | 'CACHE_FULL';
