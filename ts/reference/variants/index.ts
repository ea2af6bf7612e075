/** Float64 references of the variants, from the same descriptor (and so the same projections) the kernels get. */
import type { AttentionDescriptor } from '../../descriptor.js';
import { AttentionError } from '../../errors.js';
import { buildDescriptor } from '../../spec.js';
import type { AttentionInput, AttentionOptions, ConvertibleInput, ConvertOptions } from '../../types.js';
import type { VariantReferenceResult } from './common.js';
import { referenceLinear } from './linear.js';
import { referenceLinformer } from './linformer.js';
import { referenceLsh } from './lsh.js';
import { referencePerformer } from './performer.js';

export type { VariantReferenceResult } from './common.js';

/** The variant of `d` (which must have one) in float64. */
export function referenceVariantFromDescriptor(d: AttentionDescriptor): VariantReferenceResult {
  const s = d.variant;
  if (!s) throw new AttentionError('INVALID_OPTION', 'variant', "a variant ({ kind: 'linear' | 'performer' | 'linformer' | 'lsh' })", 'none');
  switch (s.kind) {
    case 'linear': return referenceLinear(d);
    case 'performer': return referencePerformer(d, s.projection, s.features);
    case 'linformer': return referenceLinformer(d, s.e, s.f, s.rows);
    case 'lsh': return referenceLsh(d, s);
  }
}

/** `attention(q, k, v, options)` with `options.variant`, in float64 (slow; for tests). With `convert: true` the inputs
 * may be number[] or other numeric typed arrays, rounded to float32 first as the kernels see them. */
export function referenceVariantAttention(
  q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options: ConvertOptions,
): VariantReferenceResult;
export function referenceVariantAttention(
  q: AttentionInput, k: AttentionInput, v: AttentionInput, options: AttentionOptions,
): VariantReferenceResult;
export function referenceVariantAttention(
  q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options: AttentionOptions | ConvertOptions,
): VariantReferenceResult {
  return referenceVariantFromDescriptor(buildDescriptor(q, k, v, options));
}
