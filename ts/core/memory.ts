/**
 * The wasm memory arena: one region allocated with wa_alloc and reused by every call whose operands fit, so that
 * repeated calls of one shape neither grow wasm memory nor churn the allocator. Blocks are carved out of it at
 * 16-byte alignment. A region above KEEP_BYTES is given back after its call (wasm memory never shrinks, but the
 * allocator can then reuse the space for kernel scratch).
 */
import { AttentionError } from '../errors.js';
import type { KernelExports } from './loader.js';
import type { Strides } from '../descriptor.js';

export const BLOCK_ALIGN = 16;
const KEEP_BYTES = 64 << 20;
const GRANULE = 64 << 10;
const MAX_BYTES = 0xffff_0000;

/** Elements from an operand's first element to one past its last: what must be copied so its strides hold. */
export function extent(s: Strides, b: number, h: number, rows: number, cols: number): number {
  return (b - 1) * s.batch + (h - 1) * s.head + (rows - 1) * s.row + cols;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Offsets (from the region start) of consecutive blocks of the given byte sizes; absent blocks (size 0) get -1. */
export function planBlocks(sizes: readonly number[]): { offsets: number[]; total: number } {
  let total = 0;
  const offsets = sizes.map((s) => {
    if (s === 0) return -1;
    const at = total;
    total = alignUp(total + s, BLOCK_ALIGN);
    return at;
  });
  return { offsets, total };
}

export class Arena {
  private ptr = 0;
  private bytes = 0;

  constructor(private readonly k: KernelExports) {}

  /** The base pointer of a region of at least `total` bytes (contents undefined). Throws OUT_OF_MEMORY. */
  acquire(total: number): number {
    if (total <= this.bytes) return this.ptr;
    this.free();
    const bytes = alignUp(Math.max(total, 1), GRANULE);
    const ptr = bytes > MAX_BYTES ? 0 : this.k.wa_alloc(bytes, BLOCK_ALIGN) >>> 0;
    if (ptr === 0) {
      throw new AttentionError('OUT_OF_MEMORY', 'memory', `${bytes} bytes of wasm memory for the operands`,
        'the allocation failed (a wasm32 memory holds at most 4 GiB)');
    }
    this.ptr = ptr;
    this.bytes = bytes;
    return ptr;
  }

  /** Called after every call: keeps a modest region for the next call, gives a large one back. */
  release(): void {
    if (this.bytes > KEEP_BYTES) this.free();
  }

  /** Bytes currently held. */
  get held(): number {
    return this.bytes;
  }

  private free(): void {
    if (this.bytes) this.k.wa_free(this.ptr, this.bytes, BLOCK_ALIGN);
    this.ptr = 0;
    this.bytes = 0;
  }
}

const arenas = new WeakMap<KernelExports, Arena>();

/** The arena of this wasm instance. */
export function arenaFor(k: KernelExports): Arena {
  let a = arenas.get(k);
  if (!a) {
    a = new Arena(k);
    arenas.set(k, a);
  }
  return a;
}
