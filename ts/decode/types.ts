/** Public option types of decoding with a KV cache (ts/decode/). */
import type { Layout } from '../types.js';

/** Element type of a KV cache: f32, IEEE half (16-bit storage, converted in the kernel), or int8 with one f32
 * scale per (token, kv head) row (symmetric: x ≈ q · scale, scale = max|row| / 127). */
export type KVCacheDtype = 'f32' | 'f16' | 'int8';

export interface KVCacheOptions {
  /** KV heads (Hkv). Query heads Hq must be a multiple (MHA: Hq = Hkv, GQA, MQA: Hkv = 1). */
  heads: number;
  /** Key (and query) width Dk. */
  headDim: number;
  /** Value width Dv. Default headDim. */
  valueDim?: number;
  /** Token slots. Required for a linear cache (appending past it throws CACHE_FULL); for a ring cache it defaults
   * to window + 15, so that up to 16 new queries at once still see their whole window. */
  capacity?: number;
  /** Default 'f32'. */
  dtype?: KVCacheDtype;
  /** Ring (streaming) mode: every query sees its last `window` tokens (itself included) and the cache keeps only
   * the most recent `capacity` tokens, overwriting the oldest: bounded memory however long the generation runs.
   * Absolute positions are kept, so causal masking stays right. Omitted: a linear cache. */
  window?: number;
}

export interface KVPagePoolOptions {
  /** KV heads (Hkv), key width Dk, value width Dv (default Dk) and storage dtype (default 'f32'), as in KVCache. */
  heads: number;
  headDim: number;
  valueDim?: number;
  dtype?: KVCacheDtype;
  /** Tokens per page. Default 16. */
  pageSize?: number;
  /** Pages in the pool (memory: pages · pageSize · Hkv · (Dk + Dv) elements). */
  pages: number;
}

export interface AppendOptions {
  /** Layout of k and v: 'BHND' (default) [1, Hkv, T, D] or [Hkv, T, D]; 'BNHD' [1, T, Hkv, D] or [T, Hkv, D]. */
  layout?: Layout;
  /** Accept Float64Array / number[] by converting. Default false. */
  convert?: boolean;
}

/** AppendOptions with `convert: true`: k and v may then be number[] or another numeric typed array (ConvertibleInput). */
export interface ConvertAppendOptions extends AppendOptions {
  convert: true;
}

/** Sliding window of a decode call: keys at positions ≥ (query position − left). */
export interface DecodeWindow {
  left?: number;
}

export interface DecodeOptions {
  /** Layout of q and of the output: 'BHND' (default) [1, Hq, Nq, Dk] or [Hq, Nq, Dk]; 'BNHD' [1, Nq, Hq, Dk]. */
  layout?: Layout;
  /** Logit multiplier. Default 1/√Dk. */
  scale?: number;
  /** Default true: query i (of Nq) sits at position length − Nq + i (the last Nq appended tokens, bottom-right
   * alignment) and sees keys up to its own position. false: every query sees every cached key. */
  causal?: boolean;
  /** Sliding window. Default for a ring cache: { left: window − 1 }; else unbounded. */
  window?: DecodeWindow;
  /** Attention sinks: one logit per query head (natural log, not scaled) added to every softmax denominator
   * (gpt-oss). The output is Σ exp(s)·v / (exp(sink) + Σ exp(s)). Each finite with |sink| ≤ 1e38, or −∞ for a head
   * without a sink; NaN and +∞ are refused (INVALID_OPTION, argument 'sinks'). */
  sinks?: Float32Array | readonly number[];
  /** Return the per-row natural-log LSE [1, Hq, Nq] (including the sink when given). */
  returnLse?: boolean;
  /** Write the output here (length Hq·Nq·Dv, in `layout`). */
  out?: Float32Array;
  /** Keys per split (partial results merged by log-sum-exp). Default 1024. */
  splitSize?: number;
  /** Accept Float64Array / number[] q by converting. Default false. */
  convert?: boolean;
}

/** DecodeOptions with `convert: true`: q may then be number[] or another numeric typed array (ConvertibleInput). */
export interface ConvertDecodeOptions extends DecodeOptions {
  convert: true;
}
