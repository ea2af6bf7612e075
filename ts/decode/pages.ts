/**
 * Paged KV caches: one KVPagePool (fixed-size pages in the calling thread's wasm memory, layout
 * [Hkv, pages, pageSize, D] for K and V) shared by many sequences, each a PagedKVCache with its own page table (as
 * vLLM's block tables, WebLLM's paged KV cache and FlashAttention's `block_table`). Head-major pages let a sequence
 * whose pages were taken in order read each head as one stream. Sequences take pages as they grow and give them
 * back on truncate / reset / dispose; fork() shares every page of a prefix (reference counts), and the first append
 * after it copies only a shared, partly filled last page. The pool belongs to the thread that created it.
 */
import { AttentionError } from '../errors.js';
import type { AttentionInput, ConvertibleInput } from '../types.js';
import { fail } from '../validate/tensor.js';
import type { CacheState } from './cache.js';
import { DTYPE_CODES } from './descriptor.js';
import { decodeExports, type DecodeExports } from './exports.js';
import { readGeometry, readTokens } from './geometry.js';
import { readCount, readKnown } from './options.js';
import { ELEMENT_BYTES, copyRows, readRow, writeRow, type Storage } from './rows.js';
import type { AppendOptions, ConvertAppendOptions, KVCacheDtype, KVPagePoolOptions } from './types.js';

const ALIGN = 16;
const MAX_BLOCK = 0xffff0000;
const KEYS = ['heads', 'headDim', 'valueDim', 'dtype', 'pageSize', 'pages'] as const;

interface Block {
  ptr: number;
  bytes: number;
}

const registry = new FinalizationRegistry<{ k: DecodeExports; blocks: Block[] }>(({ k, blocks }) => {
  for (const b of blocks) k.wa_free(b.ptr, b.bytes, ALIGN);
});

export class KVPagePool {
  readonly heads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly dtype: KVCacheDtype;
  /** Tokens per page. */
  readonly pageSize: number;
  /** Pages in the pool. */
  readonly pages: number;

  /** @internal */
  readonly exports: DecodeExports;
  /** @internal */
  readonly storage: Storage;
  private readonly blocks: Block[] = [];
  /** @internal An ∞ / NaN half was stored in some page (sticky for the pool's life). */
  special = false;
  private readonly refs: Uint32Array;
  private readonly free: number[];
  private live = true;

  constructor(options: KVPagePoolOptions) {
    const o = readKnown<KVPagePoolOptions>(options, KEYS, 'KVPagePool options');
    this.exports = decodeExports('KVPagePool');
    const g = readGeometry(o);
    this.heads = g.heads;
    this.headDim = g.headDim;
    this.valueDim = g.valueDim;
    this.dtype = g.dtype;
    this.pageSize = o.pageSize === undefined ? 16 : readCount(o.pageSize, 'pageSize', 65536);
    this.pages = readCount(o.pages, 'pages', 2 ** 31 - 1);
    const rows = this.pages * this.heads * this.pageSize;
    const e = ELEMENT_BYTES[this.dtype];
    const int8 = this.dtype === 'int8';
    this.storage = {
      dtype: this.dtype, dk: this.headDim, dv: this.valueDim,
      k: this.alloc(rows * this.headDim * e, 'k'),
      v: this.alloc(rows * this.valueDim * e, 'v'),
      ks: int8 ? this.alloc(rows * 4, 'k scales') : 0,
      vs: int8 ? this.alloc(rows * 4, 'v scales') : 0,
    };
    this.refs = new Uint32Array(this.pages);
    this.free = Array.from({ length: this.pages }, (_, i) => this.pages - 1 - i); // pops page 0 first
    registry.register(this, { k: this.exports, blocks: this.blocks }, this);
  }

  private alloc(bytes: number, what: string): number {
    const ptr = bytes > MAX_BLOCK ? 0 : this.exports.wa_alloc(bytes, ALIGN) >>> 0;
    if (ptr === 0) {
      for (const b of this.blocks) this.exports.wa_free(b.ptr, b.bytes, ALIGN);
      this.blocks.length = 0;
      throw new AttentionError('OUT_OF_MEMORY', 'pages', `${bytes} bytes of wasm memory for the pool's ${what}`,
        'the allocation failed (a wasm32 memory holds at most 4 GiB)');
    }
    this.blocks.push({ ptr, bytes });
    return ptr;
  }

  /** Pages no sequence holds. */
  get freePages(): number {
    return this.free.length;
  }

  /** Bytes of wasm memory the pool holds. */
  get bytes(): number {
    return this.blocks.reduce((a, b) => a + b.bytes, 0);
  }

  get disposed(): boolean {
    return !this.live;
  }

  /** A new, empty sequence drawing pages from this pool. */
  sequence(): PagedKVCache {
    this.alive('sequence');
    return new PagedKVCache(this, [], 0);
  }

  /** Gives the wasm memory back; every sequence of the pool becomes unusable. Idempotent. */
  dispose(): void {
    if (!this.live) return;
    registry.unregister(this);
    for (const b of this.blocks) this.exports.wa_free(b.ptr, b.bytes, ALIGN);
    this.blocks.length = 0;
    this.live = false;
  }

  /** @internal */
  alive(what: string): void {
    if (!this.live) fail('INVALID_OPTION', 'cache', 'a live KVPagePool', 'a disposed KVPagePool', `${what} after the pool's dispose()`);
  }

  /** @internal `n` free pages (reference count 1), or undefined when fewer are free (then nothing is taken). */
  take(n: number): number[] | undefined {
    if (n > this.free.length) return undefined;
    const pages = this.free.splice(this.free.length - n, n).reverse();
    for (const p of pages) this.refs[p] = 1;
    return pages;
  }

  /** @internal */
  retain(page: number): void {
    this.refs[page]!++;
  }

  /** @internal */
  release(page: number): void {
    if (--this.refs[page]! === 0) this.free.push(page);
  }

  /** @internal */
  shared(page: number): boolean {
    return this.refs[page]! > 1;
  }

  /** @internal Row index of (page, kv head, offset). */
  row(page: number, h: number, offset: number): number {
    return (h * this.pages + page) * this.pageSize + offset;
  }
}

/** Gives a lost sequence's pages back to its pool. */
const sequences = new FinalizationRegistry<{ pool: KVPagePool; table: number[] }>(({ pool, table }) => {
  if (!pool.disposed) for (const page of table) pool.release(page);
});

export class PagedKVCache {
  private live = true;

  /** @internal Use pool.sequence() or fork(). */
  constructor(readonly pool: KVPagePool, private readonly table: number[], private to: number) {
    sequences.register(this, { pool, table }, this);
  }

  get heads(): number { return this.pool.heads; }
  get headDim(): number { return this.pool.headDim; }
  get valueDim(): number { return this.pool.valueDim; }
  get dtype(): KVCacheDtype { return this.pool.dtype; }

  /** Tokens held (= position: a paged sequence keeps all of its tokens). */
  get length(): number {
    return this.to;
  }

  get position(): number {
    return this.to;
  }

  get start(): number {
    return 0;
  }

  /** The pool page of each pageSize positions. */
  get pageTable(): readonly number[] {
    return [...this.table];
  }

  get disposed(): boolean {
    return !this.live;
  }

  private alive(what: string): void {
    if (!this.live) fail('INVALID_OPTION', 'cache', 'a live PagedKVCache', 'a disposed PagedKVCache', `${what} after dispose()`);
    this.pool.alive(what);
  }

  /** Appends T tokens (shapes as KVCache.append). When the pool has too few free pages it throws CACHE_FULL and
   * appends nothing. Returns the new length. */
  append(k: ConvertibleInput, v: ConvertibleInput, options: ConvertAppendOptions): number;
  append(k: AttentionInput, v: AttentionInput, options?: AppendOptions): number;
  append(k: ConvertibleInput, v: ConvertibleInput, options?: AppendOptions): number {
    this.alive('append');
    const p = this.pool;
    const tk = readTokens(k, v, options, p);
    const ps = p.pageSize;
    const end = this.to + tk.t;
    if (end > 0xffffffff) fail('CACHE_FULL', 'k', 'positions below 2^32', `position ${end}`);
    const grow = Math.ceil(end / ps) - this.table.length;
    const last = this.table.length - 1;
    const copy = this.to % ps !== 0 && p.shared(this.table[last]!); // copy-on-write of a shared, partly filled page
    const pages = p.take(grow + (copy ? 1 : 0));
    if (!pages) {
      throw new AttentionError('CACHE_FULL', 'k', `at most ${p.freePages} free pages of ${ps} tokens`,
        `${grow + (copy ? 1 : 0)} pages for ${tk.t} tokens`,
        `k: the page pool is full: ${tk.t} new tokens need ${grow + (copy ? 1 : 0)} pages, ${p.freePages} are free; nothing ` +
          'was appended. Dispose, reset or truncate other sequences, or create a larger pool');
    }
    const mem = p.exports.memory.buffer;
    if (copy) {
      const fresh = pages.shift()!;
      for (let h = 0; h < p.heads; h++) copyRows(mem, p.storage, p.row(this.table[last]!, h, 0), p.row(fresh, h, 0), this.to % ps);
      p.release(this.table[last]!);
      this.table[last] = fresh;
    }
    this.table.push(...pages);
    for (const [which, src, d] of [['k', tk.k, p.headDim], ['v', tk.v, p.valueDim]] as const) {
      for (let h = 0; h < p.heads; h++) {
        for (let i = 0; i < tk.t; i++) {
          const pos = this.to + i;
          const from = tk.at(h, i, d);
          const row = p.row(this.table[Math.floor(pos / ps)]!, h, pos % ps);
          if (!writeRow(mem, p.storage, which, row, src.subarray(from, from + d))) p.special = true;
        }
      }
    }
    this.to = end;
    return this.to;
  }

  /** A new sequence with the same tokens, sharing every page (no copy; a shared partly filled last page is copied
   * by whichever sequence appends to it first). */
  fork(): PagedKVCache {
    this.alive('fork');
    for (const page of this.table) this.pool.retain(page);
    return new PagedKVCache(this.pool, [...this.table], this.to);
  }

  /** Keeps positions [0, n) and gives the pages past them back to the pool. */
  truncate(n: number): void {
    this.alive('truncate');
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > this.to) {
      fail('INVALID_OPTION', 'n', `an integer position in [0, ${this.to}] (the sequence's length)`, String(n));
    }
    const keep = Math.ceil(n / this.pool.pageSize);
    for (const page of this.table.splice(keep)) this.pool.release(page);
    this.to = n;
  }

  /** Empties the sequence and gives all its pages back. */
  reset(): void {
    this.truncate(0);
  }

  /** The tokens as f32 (dequantised), [Hkv, length, D]. */
  read(): { k: Float32Array; v: Float32Array; start: number; length: number } {
    this.alive('read');
    const p = this.pool;
    const n = this.to;
    const mem = p.exports.memory.buffer;
    const out = (which: 'k' | 'v', d: number): Float32Array => {
      const x = new Float32Array(p.heads * n * d);
      for (let h = 0; h < p.heads; h++) {
        for (let i = 0; i < n; i++) {
          const row = p.row(this.table[Math.floor(i / p.pageSize)]!, h, i % p.pageSize);
          readRow(mem, p.storage, which, row, x.subarray((h * n + i) * d, (h * n + i + 1) * d));
        }
      }
      return x;
    };
    return { k: out('k', p.headDim), v: out('v', p.valueDim), start: 0, length: n };
  }

  /** Gives the sequence's pages back to the pool. Idempotent. */
  dispose(): void {
    if (!this.live) return;
    sequences.unregister(this);
    if (!this.pool.disposed) for (const page of this.table) this.pool.release(page);
    this.table.length = 0;
    this.live = false;
  }

  /** @internal What decode() passes to the kernel. */
  state(what: string): CacheState {
    this.alive(what);
    const p = this.pool;
    const s = p.storage;
    return {
      exports: p.exports, heads: p.heads, headDim: p.headDim, valueDim: p.valueDim, capacity: p.pages,
      dtype: DTYPE_CODES[p.dtype], start: 0, end: this.to, kPtr: s.k, vPtr: s.v, kScalePtr: s.ks, vScalePtr: s.vs,
      window: undefined, pageSize: p.pageSize, pageTable: Uint32Array.from(this.table), finite: !p.special,
    };
  }
}
