/**
 * The option objects of createAttention, run and runBatch: known keys only, as attention() and the caches read
 * theirs. A misspelled `stagingbytes` or `onprogress` would otherwise be silently ignored, and a GPU option given to
 * the wasm backend (say `precision: 'f16'`) would do nothing.
 */
import { fail } from '../validate/tensor.js';
import { valueString } from '../validate/describe.js';

const BACKENDS = ['wasm', 'webgpu', 'auto'] as const;
const POOL_KEYS = ['threads', 'timeoutMs', 'wasm', 'stagingBytes', 'injectFault'];
const GPU_KEYS = ['gpu', 'adapter', 'device', 'powerPreference', 'featureLevel', 'precision', 'fallback'];
const AUTO_KEYS = ['minGpuFlops', 'allowSoftwareAdapter'];

function entries(options: unknown, argument: string): [string, unknown][] {
  if (options === undefined || options === null) return [];
  if (typeof options !== 'object' || Array.isArray(options)) fail('INVALID_OPTION', argument, 'an options object', valueString(options));
  return Object.entries(options);
}

/** Checks createAttention's options: `backend` is one of the three, and every other key belongs to that backend (the
 * pool's keys belong to all three: 'webgpu' falls back to a pool, 'auto' holds one). */
export function checkCreateOptions(options: unknown): void {
  const backend = (options as { backend?: unknown } | undefined)?.backend;
  if (backend !== undefined && !(BACKENDS as readonly unknown[]).includes(backend)) {
    fail('INVALID_OPTION', 'backend', `one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}`, valueString(backend));
  }
  const chosen = (backend ?? 'wasm') as (typeof BACKENDS)[number];
  const allowed = ['backend', ...POOL_KEYS, ...(chosen === 'wasm' ? [] : GPU_KEYS), ...(chosen === 'auto' ? AUTO_KEYS : [])];
  for (const [key] of entries(options, 'options')) {
    if (allowed.includes(key)) continue;
    const owner = GPU_KEYS.includes(key) ? "backend 'webgpu' or 'auto'" : AUTO_KEYS.includes(key) ? "backend 'auto'" : undefined;
    fail('INVALID_OPTION', key, owner ? `an option of ${owner} (this is backend '${chosen}')` : `one of the options ${allowed.join(', ')}`,
      `unknown option '${key}'`);
  }
}

/** The pool's own options out of createAttention's (for the pool that the 'webgpu' and 'auto' backends make). */
export function poolOptions<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([key]) => POOL_KEYS.includes(key))) as Partial<T>;
}

/** Checks the options of run (`signal`) or runBatch (`signal`, `onProgress`). */
export function checkCallOptions(options: unknown, known: readonly string[], argument: string): void {
  for (const [key, value] of entries(options, argument)) {
    if (!known.includes(key)) fail('INVALID_OPTION', key, `one of the options ${known.join(', ')}`, `unknown option '${key}'`);
    if (key === 'onProgress' && value !== undefined && typeof value !== 'function') {
      fail('INVALID_OPTION', 'onProgress', 'a function', valueString(value));
    }
  }
}
