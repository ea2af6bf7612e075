/**
 * Status codes returned by the wasm ABI (`wa_attention` and friends); mirror of `Status` in crate/src/abi.rs.
 * The SDK validates first, so a non-zero status from the kernel means the SDK and the crate disagree: it is still
 * turned into an AttentionError that names the argument.
 */
import type { AttentionErrorCode } from '../types.js';

export const STATUS = {
  OK: 0,
  BAD_MAGIC: 1,
  BAD_DIMS: 2,
  BAD_HEADS: 3,
  BAD_Q: 4,
  BAD_K: 5,
  BAD_V: 6,
  BAD_OUT: 7,
  BAD_MASK: 8,
  BAD_BIAS: 9,
  BAD_Q_LENS: 10,
  BAD_K_LENS: 11,
  BAD_SCALE: 12,
  BAD_SOFTCAP: 13,
  BAD_SIMILARITY: 14,
  BAD_ALIGN: 15,
  BAD_WINDOW: 16,
  BAD_LSE: 17,
  BAD_WEIGHTS: 18,
  BAD_SPLIT: 19,
  BAD_FLAGS: 20,
  OUT_OF_MEMORY: 21,
  BAD_CACHE: 22,
  BAD_CACHE_RANGE: 23,
  BAD_SINKS: 24,
  BAD_VARIANT: 25,
  BAD_FEATURES: 26,
  BAD_PROJECTION: 27,
  BAD_ALIBI: 28,
  BAD_REL_BIAS: 29,
  BAD_SPARSE: 30,
} as const;

export type StatusCode = (typeof STATUS)[keyof typeof STATUS];

/** For each status: the argument it names and the AttentionError code it becomes. */
export const STATUS_INFO: Record<number, { argument: string; code: AttentionErrorCode; what: string }> = {
  1: { argument: 'descriptor', code: 'KERNEL_ERROR', what: 'descriptor magic/version does not match the wasm module' },
  2: { argument: 'shape', code: 'INVALID_DIM', what: 'a dimension is zero or the sizes overflow' },
  3: { argument: 'heads', code: 'INVALID_HEADS', what: 'query heads are not a multiple of kv heads' },
  4: { argument: 'q', code: 'INVALID_SHAPE', what: 'q pointer/strides out of bounds or misaligned' },
  5: { argument: 'k', code: 'INVALID_SHAPE', what: 'k pointer/strides out of bounds or misaligned' },
  6: { argument: 'v', code: 'INVALID_SHAPE', what: 'v pointer/strides out of bounds or misaligned' },
  7: { argument: 'out', code: 'INVALID_OUTPUT', what: 'output pointer/strides out of bounds or misaligned' },
  8: { argument: 'mask', code: 'INVALID_MASK', what: 'mask pointer/strides out of bounds' },
  9: { argument: 'bias', code: 'INVALID_BIAS', what: 'bias pointer/strides out of bounds or misaligned' },
  10: { argument: 'queryLengths', code: 'INVALID_LENGTHS', what: 'query lengths out of bounds or larger than Nq' },
  11: { argument: 'keyLengths', code: 'INVALID_LENGTHS', what: 'key lengths out of bounds or larger than Nk' },
  12: { argument: 'scale', code: 'INVALID_OPTION', what: 'scale is not finite' },
  13: { argument: 'softcap', code: 'INVALID_OPTION', what: 'softcap is negative or not finite' },
  14: { argument: 'similarity', code: 'INVALID_OPTION', what: 'unknown similarity' },
  15: { argument: 'causal', code: 'INVALID_OPTION', what: 'unknown alignment' },
  16: { argument: 'window', code: 'INVALID_OPTION', what: 'window bound below -1' },
  17: { argument: 'returnLse', code: 'INVALID_OUTPUT', what: 'LSE buffer out of bounds or misaligned' },
  18: { argument: 'returnWeights', code: 'INVALID_OUTPUT', what: 'weights buffer out of bounds or misaligned' },
  19: { argument: 'split', code: 'KERNEL_ERROR', what: 'q_start/k_start/nq_full/nk_full inconsistent' },
  20: { argument: 'descriptor', code: 'KERNEL_ERROR', what: 'reserved flags are not zero' },
  21: { argument: 'memory', code: 'OUT_OF_MEMORY', what: 'the kernel could not allocate its scratch' },
  22: { argument: 'cache', code: 'INVALID_OPTION', what: 'KV cache pointers, dtype, capacity or scales invalid' },
  23: { argument: 'cache', code: 'INVALID_OPTION', what: 'cache positions inconsistent, or a query needs an evicted key' },
  24: { argument: 'sinks', code: 'INVALID_OPTION', what: 'sinks buffer out of bounds or misaligned' },
  25: { argument: 'variant.kind', code: 'INVALID_OPTION', what: 'unknown variant kind, or an option it does not support' },
  26: { argument: 'variant.features', code: 'INVALID_OPTION', what: 'feature / projected-row count invalid for the variant' },
  27: { argument: 'variant.projection', code: 'INVALID_OPTION', what: 'projection matrix out of bounds, misaligned or overlapping the output' },
  28: { argument: 'alibi', code: 'INVALID_OPTION', what: 'ALiBi slopes out of bounds, misaligned or not finite' },
  29: { argument: 'relativeBias', code: 'INVALID_BIAS', what: 'relative-position bias table out of bounds, or a bad length / zero index' },
  30: { argument: 'sparsity', code: 'INVALID_OPTION', what: 'block mask out of bounds or inconsistent (row pointers, blocks, kinds, globals, layout, CSR), or a key split not on a 128-key block' },
};
