/**
 * T5 relative position buckets (Raffel et al.; Hugging Face `T5Attention._relative_position_bucket`) and the
 * learned bias table they index, turned into the `relativeBias` option of attention(): a [H, 2·maxDistance + 1]
 * table by distance (buckets are constant beyond maxDistance, so the kernel's saturation at the table ends is exact).
 * No N×N array is built. The bucket arithmetic is done in float32 like PyTorch's, so bucket edges match.
 */
import type { RelativeBiasInput } from '../types.js';
import { isFloat32Array, typeName, valueString } from '../validate/describe.js';
import { fail } from '../validate/tensor.js';

export interface T5BucketOptions {
  /** true for encoders (future and past get separate buckets), false for causal decoders. Default true. */
  bidirectional?: boolean;
  /** Default 32. */
  numBuckets?: number;
  /** Default 128. */
  maxDistance?: number;
}

const f = Math.fround;

/** The bucket of relative position j − i (memory position minus query position). */
export function t5Bucket(relativePosition: number, options: T5BucketOptions = {}): number {
  const bidirectional = options.bidirectional ?? true;
  let numBuckets = options.numBuckets ?? 32;
  const maxDistance = options.maxDistance ?? 128;
  let bucket = 0;
  let rp = relativePosition;
  if (bidirectional) {
    numBuckets = Math.floor(numBuckets / 2);
    if (rp > 0) bucket += numBuckets;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(numBuckets / 2);
  if (rp < maxExact) return bucket + rp;
  const scaled = f(f(f(Math.log(f(rp / maxExact))) / f(Math.log(maxDistance / maxExact))) * (numBuckets - maxExact));
  return bucket + Math.min(maxExact + Math.trunc(scaled), numBuckets - 1);
}

function positiveInt(v: unknown, argument: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail('INVALID_OPTION', argument, 'a positive integer', valueString(v));
  return v;
}

/**
 * The `relativeBias` option for T5's learned bias: `weight` is `relative_attention_bias.weight` [numBuckets, numHeads]
 * (row-major, as PyTorch stores an nn.Embedding). Pass the result as `attention(q, k, v, { relativeBias })` (or to
 * MultiHeadAttention.forward); with a KV cache use causal 'bottom-right' (distances are j − diag).
 */
export function t5RelativeBias(weight: Float32Array, numHeads: number, options: T5BucketOptions = {}): RelativeBiasInput {
  const numBuckets = positiveInt(options.numBuckets ?? 32, 'numBuckets');
  const maxDistance = positiveInt(options.maxDistance ?? 128, 'maxDistance');
  const heads = positiveInt(numHeads, 'numHeads');
  if (!isFloat32Array(weight)) fail('INVALID_TYPE', 'weight', `Float32Array [${numBuckets}, ${heads}]`, typeName(weight));
  if (weight.length !== numBuckets * heads) {
    fail('INVALID_SHAPE', 'weight', `${numBuckets * heads} elements ([numBuckets ${numBuckets}, numHeads ${heads}])`, `${weight.length} elements`);
  }
  const len = 2 * maxDistance + 1;
  const table = new Float32Array(heads * len);
  for (let t = 0; t < len; t++) {
    const b = t5Bucket(t - maxDistance, { ...options, numBuckets, maxDistance });
    for (let h = 0; h < heads; h++) table[h * len + t] = weight[b * heads + h]!;
  }
  return { table: { data: table, shape: [heads, len] }, zero: maxDistance };
}
