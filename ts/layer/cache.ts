/**
 * A growing key / value cache for decoding with MultiHeadAttention: the projected (and rotated) keys and values of
 * every token seen so far, per batch entry, stored [B, capacity, Hkv·D] and [B, capacity, Hkv·Dv] (BNHD rows).
 * Capacity doubles when full. Create one with `MultiHeadAttention.createCache(batch)`. It lives in JS memory, takes
 * any batch size and every attention() option; `KVCache` (ts/decode) is the single-sequence cache in wasm memory
 * with f16 / int8 storage for `decode()`.
 */
import { fail } from '../validate/tensor.js';

export class MhaCache {
  /** Tokens stored per batch entry. */
  length = 0;
  private capacity: number;
  private k: Float32Array;
  private v: Float32Array;

  constructor(
    readonly batch: number,
    /** Hkv·D: width of one cached key row. */
    readonly keyWidth: number,
    /** Hkv·Dv: width of one cached value row. */
    readonly valueWidth: number,
    capacity = 64,
  ) {
    this.capacity = Math.max(1, capacity);
    this.k = new Float32Array(batch * this.capacity * keyWidth);
    this.v = new Float32Array(batch * this.capacity * valueWidth);
  }

  /** Appends n tokens per batch entry: k [B, n, keyWidth], v [B, n, valueWidth]. */
  append(k: Float32Array, v: Float32Array, n: number): void {
    if (this.length + n > this.capacity) this.grow(Math.max(2 * this.capacity, this.length + n));
    for (let b = 0; b < this.batch; b++) {
      const at = b * this.capacity + this.length;
      this.k.set(k.subarray(b * n * this.keyWidth, (b + 1) * n * this.keyWidth), at * this.keyWidth);
      this.v.set(v.subarray(b * n * this.valueWidth, (b + 1) * n * this.valueWidth), at * this.valueWidth);
    }
    this.length += n;
  }

  /** The cached keys as [B, length, keyWidth] (a view when B = 1, else a compact copy). */
  keys(): Float32Array {
    return this.compact(this.k, this.keyWidth);
  }

  /** The cached values as [B, length, valueWidth]. */
  values(): Float32Array {
    return this.compact(this.v, this.valueWidth);
  }

  /** Forgets every token (keeps the memory). */
  reset(): void {
    this.length = 0;
  }

  /** Keeps the first n tokens of every batch entry (0 ≤ n ≤ length), e.g. rejected speculative tokens. */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.length) {
      fail('INVALID_OPTION', 'n', `an integer in [0, ${this.length}] (the cache's length)`, String(n));
    }
    this.length = n;
  }

  private compact(x: Float32Array, w: number): Float32Array {
    if (this.batch === 1) return x.subarray(0, this.length * w);
    const out = new Float32Array(this.batch * this.length * w);
    for (let b = 0; b < this.batch; b++) {
      out.set(x.subarray(b * this.capacity * w, (b * this.capacity + this.length) * w), b * this.length * w);
    }
    return out;
  }

  private grow(capacity: number): void {
    const move = (x: Float32Array, w: number): Float32Array => {
      const y = new Float32Array(this.batch * capacity * w);
      for (let b = 0; b < this.batch; b++) {
        y.set(x.subarray(b * this.capacity * w, (b * this.capacity + this.length) * w), b * capacity * w);
      }
      return y;
    };
    this.k = move(this.k, this.keyWidth);
    this.v = move(this.v, this.valueWidth);
    this.capacity = capacity;
  }
}
