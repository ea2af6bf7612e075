/**
 * KVCache: the keys and values of one sequence for one attention layer, preallocated in the calling thread's wasm
 * linear memory (wa_alloc) so that decode() reads them in place, without copying. Layout, head-major: K [Hkv,
 * capacity, Dk], V [Hkv, capacity, Dv] in f32, f16 (16-bit patterns) or int8 (+ f32 scales [Hkv, capacity]).
 *
 * The cache holds absolute positions [start, end): position p sits in slot p mod capacity. A linear cache never
 * wraps (start = 0; appending past capacity throws CACHE_FULL, nothing is lost). A ring cache overwrites its oldest
 * slot, so memory stays bounded while positions keep counting: causal masks and windows stay exact.
 *
 * A cache belongs to the thread (wasm instance) that created it: it cannot be posted to a worker, and decode() on
 * another thread rejects it. dispose() gives the memory back (a FinalizationRegistry does it for a lost cache).
 */
import { AttentionError } from '../errors.js';
import type { AttentionInput, ConvertibleInput } from '../types.js';
import { fail } from '../validate/tensor.js';
import { DTYPE_CODES } from './descriptor.js';
import { decodeExports, type DecodeExports } from './exports.js';
import { cacheFull, readGeometry, readSlots, readTokens } from './geometry.js';
import { readKnown } from './options.js';
import { ELEMENT_BYTES, readRow, writeRow, type Storage } from './rows.js';
import type { AppendOptions, ConvertAppendOptions, KVCacheDtype, KVCacheOptions } from './types.js';

const ALIGN = 16;
/** Positions are u32 words in the kernel's descriptor. */
const MAX_POSITION = 0xffffffff;
/** Largest single block handed to wa_alloc (a wasm32 memory holds at most 4 GiB). */
const MAX_BLOCK = 0xffff0000;
const OPTION_KEYS = ['heads', 'headDim', 'valueDim', 'capacity', 'dtype', 'window'] as const;

interface Block {
  ptr: number;
  bytes: number;
}

/** Frees what a cache still holds when it is garbage-collected without dispose(). */
const registry = new FinalizationRegistry<{ k: DecodeExports; blocks: Block[] }>(({ k, blocks }) => {
  for (const b of blocks) k.wa_free(b.ptr, b.bytes, ALIGN);
});

/** The fields decode() needs (internal). */
export interface CacheState {
  exports: DecodeExports;
  heads: number;
  headDim: number;
  valueDim: number;
  capacity: number;
  dtype: number;
  start: number;
  end: number;
  kPtr: number;
  vPtr: number;
  kScalePtr: number;
  vScalePtr: number;
  window: number | undefined;
  /** Paged caches: tokens per page and the page of each pageSize positions (capacity then counts pages). */
  pageSize: number;
  pageTable: Uint32Array | undefined;
  /** No ∞ / NaN half was stored (f16 caches: the kernel may use its fast widening). */
  finite: boolean;
}

export class KVCache {
  /** KV heads (Hkv). */
  readonly heads: number;
  readonly headDim: number;
  readonly valueDim: number;
  /** Token slots. */
  readonly capacity: number;
  readonly dtype: KVCacheDtype;
  /** Ring mode's attention window (each query sees its last `window` tokens); undefined for a linear cache. */
  readonly window: number | undefined;

  private readonly k: DecodeExports;
  private readonly blocks: Block[] = [];
  private readonly ptrs: { k: number; v: number; ks: number; vs: number };
  private from = 0;
  private to = 0;
  private live = true;
  /** An ∞ / NaN half was stored since the last reset (sticky: truncate and overwriting keep it). */
  private special = false;

  constructor(options: KVCacheOptions) {
    const o = readKnown<KVCacheOptions>(options, OPTION_KEYS, 'KVCache options');
    this.k = decodeExports('KVCache');
    const g = readGeometry(o);
    this.heads = g.heads;
    this.headDim = g.headDim;
    this.valueDim = g.valueDim;
    this.dtype = g.dtype;
    const slots = readSlots(o);
    this.capacity = slots.capacity;
    this.window = slots.window;
    const elem = ELEMENT_BYTES[this.dtype];
    const rows = this.heads * this.capacity;
    this.ptrs = {
      k: this.alloc(rows * this.headDim * elem, 'k'),
      v: this.alloc(rows * this.valueDim * elem, 'v'),
      ks: this.dtype === 'int8' ? this.alloc(rows * 4, 'k scales') : 0,
      vs: this.dtype === 'int8' ? this.alloc(rows * 4, 'v scales') : 0,
    };
    registry.register(this, { k: this.k, blocks: this.blocks }, this);
  }

  private alloc(bytes: number, what: string): number {
    const ptr = bytes > MAX_BLOCK ? 0 : this.k.wa_alloc(bytes, ALIGN) >>> 0;
    if (ptr === 0) {
      for (const b of this.blocks) this.k.wa_free(b.ptr, b.bytes, ALIGN);
      this.blocks.length = 0;
      throw new AttentionError('OUT_OF_MEMORY', 'capacity', `${bytes} bytes of wasm memory for the cache's ${what}`,
        'the allocation failed (a wasm32 memory holds at most 4 GiB)');
    }
    this.blocks.push({ ptr, bytes });
    return ptr;
  }

  /** Tokens held (≤ capacity). */
  get length(): number {
    return this.to - this.from;
  }

  /** Absolute position of the next token (= tokens appended since reset, minus truncation). */
  get position(): number {
    return this.to;
  }

  /** Absolute position of the oldest token held (0 unless a ring cache has overwritten some). */
  get start(): number {
    return this.from;
  }

  get ring(): boolean {
    return this.window !== undefined;
  }

  /** Bytes of wasm memory this cache holds. */
  get bytes(): number {
    return this.blocks.reduce((a, b) => a + b.bytes, 0);
  }

  get disposed(): boolean {
    return !this.live;
  }

  private alive(what: string): void {
    if (!this.live) fail('INVALID_OPTION', 'cache', 'a live KVCache', 'a disposed KVCache', `${what} after dispose()`);
  }

  /**
   * Appends T tokens: k [1, Hkv, T, Dk] (or [Hkv, T, Dk]; BNHD: [1, T, Hkv, Dk]) and v likewise with Dv. A linear
   * cache throws CACHE_FULL (and keeps its contents) when T exceeds capacity − position; a ring cache overwrites its
   * oldest tokens. Returns the new length.
   */
  append(k: ConvertibleInput, v: ConvertibleInput, options: ConvertAppendOptions): number;
  append(k: AttentionInput, v: AttentionInput, options?: AppendOptions): number;
  append(k: ConvertibleInput, v: ConvertibleInput, options?: AppendOptions): number {
    this.alive('append');
    const tk = readTokens(k, v, options, this);
    const t = tk.t;
    if (!this.ring && this.to + t > this.capacity) throw cacheFull(t, this.capacity, this.to);
    const end = this.to + t;
    if (end > MAX_POSITION) {
      throw new AttentionError('CACHE_FULL', 'k', `positions below 2^32 (the kernel's u32 positions)`, `position ${end}`,
        `k: a KV cache counts at most ${MAX_POSITION} positions; reset() it`);
    }
    const skip = Math.max(0, t - this.capacity); // a ring cache keeps only the last `capacity` of them
    const { heads, headDim: dk, valueDim: dv, capacity: cap } = this;
    const mem = this.k.memory.buffer;
    const st = this.storage();
    for (const [which, src, d] of [['k', tk.k, dk], ['v', tk.v, dv]] as const) {
      for (let h = 0; h < heads; h++) {
        for (let i = skip; i < t; i++) {
          const from = tk.at(h, i, d);
          if (!writeRow(mem, st, which, h * cap + (this.to + i) % cap, src.subarray(from, from + d))) this.special = true;
        }
      }
    }
    this.to = end;
    this.from = Math.max(this.from, end - cap);
    return this.length;
  }

  /** Empties the cache (positions restart at 0); the memory is kept. */
  reset(): void {
    this.alive('reset');
    this.from = 0;
    this.to = 0;
    this.special = false;
  }

  /** Keeps positions [start, n): drops the tokens from position n on (speculative decoding's rejected tokens). */
  truncate(n: number): void {
    this.alive('truncate');
    if (typeof n !== 'number' || !Number.isInteger(n) || n < this.from || n > this.to) {
      fail('INVALID_OPTION', 'n', `an integer position in [${this.from}, ${this.to}] (start and position of the cache)`, String(n));
    }
    this.to = n;
  }

  /** The held keys and values as f32 (dequantised), [Hkv, length, D] in position order from `start`. */
  read(): { k: Float32Array; v: Float32Array; start: number; length: number } {
    this.alive('read');
    const n = this.length;
    const { heads, capacity: cap } = this;
    const mem = this.k.memory.buffer;
    const st = this.storage();
    const out = (which: 'k' | 'v', d: number): Float32Array => {
      const x = new Float32Array(heads * n * d);
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < n; i++) readRow(mem, st, which, h * cap + (this.from + i) % cap, x.subarray((h * n + i) * d, (h * n + i + 1) * d));
      }
      return x;
    };
    return { k: out('k', this.headDim), v: out('v', this.valueDim), start: this.from, length: n };
  }

  private storage(): Storage {
    return { dtype: this.dtype, k: this.ptrs.k, v: this.ptrs.v, ks: this.ptrs.ks, vs: this.ptrs.vs, dk: this.headDim, dv: this.valueDim };
  }

  /** Gives the wasm memory back; the cache cannot be used afterwards. Idempotent. */
  dispose(): void {
    if (!this.live) return;
    registry.unregister(this);
    for (const b of this.blocks) this.k.wa_free(b.ptr, b.bytes, ALIGN);
    this.blocks.length = 0;
    this.live = false;
  }

  /** @internal What decode() passes to the kernel. */
  state(what: string): CacheState {
    this.alive(what);
    return {
      exports: this.k, heads: this.heads, headDim: this.headDim, valueDim: this.valueDim, capacity: this.capacity,
      dtype: DTYPE_CODES[this.dtype], start: this.from, end: this.to, kPtr: this.ptrs.k, vPtr: this.ptrs.v,
      kScalePtr: this.ptrs.ks, vScalePtr: this.ptrs.vs, window: this.window, pageSize: 0, pageTable: undefined,
      finite: !this.special,
    };
  }
}
