/**
 * Loading the wasm kernels: compile once, instantiate once per thread, check that the module speaks the same
 * descriptor layout as this SDK. The compiled Module is kept so the worker pool can post it to its workers.
 */
import { DESC_MAGIC, DESC_WORDS } from '../descriptor.js';
import { AttentionError } from '../errors.js';
import { compileSource, type InitSource } from './source.js';

export type { InitSource } from './source.js';

/** The wasm module's exports (crate/src/abi.rs). Pointers and sizes are u32 (JS sees them as i32: use `>>> 0`). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  wa_version(): number;
  wa_desc_magic(): number;
  wa_desc_words(): number;
  wa_alloc(bytes: number, align: number): number;
  wa_free(ptr: number, bytes: number, align: number): void;
  wa_attention(descPtr: number): number;
}

const FUNCTIONS = ['wa_version', 'wa_desc_magic', 'wa_desc_words', 'wa_alloc', 'wa_free', 'wa_attention'] as const;

interface Loaded {
  module: WebAssembly.Module;
  exports: KernelExports;
}

let loaded: Loaded | undefined;
let pending: Promise<void> | undefined;

/**
 * Loads the wasm kernels; await it once before attention(). Default source: webattn.wasm beside this file.
 * Concurrent calls share one load; once loaded, later calls (with any source) return at once. A failed load can
 * be retried.
 */
export function init(source?: InitSource): Promise<void> {
  if (loaded) return Promise.resolve();
  if (!pending) {
    pending = load(source ?? new URL('./webattn.wasm', import.meta.url)).then(
      (l) => { loaded = l; },
      (e: unknown) => { pending = undefined; throw e; },
    );
  }
  return pending;
}

export function isInitialized(): boolean {
  return loaded !== undefined;
}

const notInitialized = (what: string): AttentionError =>
  new AttentionError('NOT_INITIALIZED', 'init', 'await init() first', 'not initialized',
    `${what}: webattn is not initialized: await init() before calling it`);

/** The compiled module (for posting to workers). */
export function getModule(): WebAssembly.Module {
  if (!loaded) throw notInitialized('getModule');
  return loaded.module;
}

/** This thread's instance. */
export function getExports(what = 'attention'): KernelExports {
  if (!loaded) throw notInitialized(what);
  return loaded.exports;
}

function loadError(actual: string, cause?: unknown): AttentionError {
  const e = new AttentionError('KERNEL_ERROR', 'wasm', 'the webattn wasm module', actual,
    `wasm: could not load the webattn wasm module: ${actual}`);
  if (cause !== undefined) e.cause = cause;
  return e;
}

async function load(source: InitSource): Promise<Loaded> {
  let module: WebAssembly.Module;
  try {
    module = await compileSource(source);
  } catch (e) {
    throw loadError(e instanceof Error ? e.message : String(e), e);
  }
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, {});
  } catch (e) {
    const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).join(', ');
    throw loadError(`${e instanceof Error ? e.message : String(e)}${imports ? ` (it imports ${imports})` : ''}`, e);
  }
  const exports = instance.exports as Record<string, unknown>;
  const missing: string[] = FUNCTIONS.filter((f) => typeof exports[f] !== 'function');
  if (!(exports['memory'] instanceof WebAssembly.Memory)) missing.unshift('memory');
  if (missing.length) throw loadError(`a module without the exports ${missing.join(', ')}`);
  const k = exports as unknown as KernelExports;
  const magic = k.wa_desc_magic() >>> 0;
  const words = k.wa_desc_words() >>> 0;
  if (magic !== DESC_MAGIC || words !== DESC_WORDS) {
    throw new AttentionError('KERNEL_ERROR', 'wasm',
      `descriptor magic 0x${DESC_MAGIC.toString(16)} with ${DESC_WORDS} words`,
      `magic 0x${magic.toString(16)} with ${words} words (module version ${k.wa_version() >>> 0})`,
      `wasm: the wasm module and this SDK disagree on the descriptor layout: expected magic 0x${DESC_MAGIC.toString(16)} ` +
        `with ${DESC_WORDS} words, got magic 0x${magic.toString(16)} with ${words} words; rebuild it (npm run build:wasm)`);
  }
  return { module, exports: k };
}

/** Bytes of this thread's wasm linear memory (it grows to fit the largest call and never shrinks). */
export function memoryBytes(): number {
  return getExports().memory.buffer.byteLength;
}
