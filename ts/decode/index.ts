/** Decoding with a KV cache: the cache, the decode call, their option types and the float64 reference. */
export { KVCache } from './cache.js';
export { decode } from './decode.js';
export type { DecodeCache } from './decode.js';
export { KVPagePool, PagedKVCache } from './pages.js';
export { referenceDecode } from './reference.js';
export type { DecodeReferenceInput, DecodeReferenceResult } from './reference.js';
export { MAX_DECODE_QUERIES } from './descriptor.js';
export type { AppendOptions, ConvertAppendOptions, ConvertDecodeOptions, DecodeOptions, DecodeWindow, KVCacheDtype, KVCacheOptions, KVPagePoolOptions } from './types.js';
