/** Exact attention on the calling thread, in this thread's wasm instance (await init() once first). */
import { runDescriptor } from './core/call.js';
import { getExports } from './core/loader.js';
import { buildDescriptor } from './spec.js';
import type { AttentionInput, AttentionOptions, AttentionResult, ConvertibleInput, ConvertOptions } from './types.js';
import { runVariant } from './variants/call.js';

// The convert overload first: the plain one, last, is what Parameters<typeof attention> sees.
export function attention(q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options: ConvertOptions): AttentionResult;
export function attention(q: AttentionInput, k: AttentionInput, v: AttentionInput, options?: AttentionOptions): AttentionResult;
export function attention(
  q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options?: AttentionOptions | ConvertOptions,
): AttentionResult {
  getExports('attention'); // NOT_INITIALIZED before validation: the first thing a caller must fix
  const d = buildDescriptor(q, k, v, options);
  return d.variant ? runVariant(d) : runDescriptor(d);
}
