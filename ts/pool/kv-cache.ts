/**
 * PoolKVCache: one sequence's KV cache spread over the pool's workers, so that one decode step runs on all of them
 * (flash-decoding across threads). Tokens are dealt in chunks of `chunkSize` positions round-robin: chunk j (positions
 * [j·C, (j+1)·C)) goes to worker j mod W, which keeps its chunks one after another in a linear KVCache of its own
 * wasm memory. A decode step sends q to every worker holding a visible key; each decodes its chunks (the chunks every
 * query sees whole as one range, the few cut by the causal edge or the window each with its queries' positions) and
 * merges them by log-sum-exp; the calling thread merges the workers' partials, adding the attention sink once.
 *
 * Ring mode (`window`): every shard is a ring KVCache big enough for its chunks among the last `capacity` positions,
 * so the whole cache keeps at least those (bounded memory) while positions keep counting.
 *
 * Operations are queued per worker in call order, so append() need not be awaited before decode(). A worker that
 * crashes or hangs takes its shard with it: the cache then rejects every call and must be recreated.
 */
import * as Comlink from 'comlink';
import { AttentionError } from '../errors.js';
import { cacheFull, readGeometry, readSlots, readTokens } from '../decode/geometry.js';
import { planDecodeFor } from '../decode/decode.js';
import { readCount, readKnown } from '../decode/options.js';
import { fail } from '../validate/tensor.js';
import type { AppendOptions, ConvertAppendOptions, ConvertDecodeOptions, DecodeOptions, KVCacheDtype } from '../decode/types.js';
import type { AttentionInput, AttentionResult, ConvertibleInput } from '../types.js';
import type { Scheduler } from './scheduler.js';
import type { CacheRequest, ShardPartial, ShardRange } from './worker-cache.js';

export interface PoolKVCacheOptions {
  /** KV heads (Hkv), key width Dk, value width Dv (default Dk) and storage dtype (default 'f32'), as in KVCache. */
  heads: number;
  headDim: number;
  valueDim?: number;
  dtype?: KVCacheDtype;
  /** Token slots of the whole cache. Required for a linear cache (appending past it throws CACHE_FULL, nothing is
   * lost); for a ring cache it defaults to window + 15. */
  capacity?: number;
  /** Ring (streaming) mode, as in KVCache: every query sees its last `window` tokens and the cache keeps (at least)
   * the last `capacity`, overwriting older ones. Omitted: a linear cache. */
  window?: number;
  /** Consecutive positions dealt to one worker. Default 256: smaller spreads short caches better, larger means
   * fewer ranges per decode step. */
  chunkSize?: number;
}

const OPTION_KEYS = ['heads', 'headDim', 'valueDim', 'dtype', 'capacity', 'window', 'chunkSize'] as const;
let nextId = 1;

/** Frees the shards of a cache garbage-collected without dispose(). */
const registry = new FinalizationRegistry<{ scheduler: Scheduler; id: number; shards: number; generations: number[] }>(({ scheduler, id, shards, generations }) => {
  for (let w = 0; w < shards; w++) {
    if (scheduler.generation(w) === generations[w]) scheduler.holdShards(w, -1);
    scheduler.submitPinned(w, {
      label: `KV cache #${id} dispose on worker ${w}`, call: (api) => api.cache({ op: 'dispose', id }), resolve() {}, reject() {},
    });
  }
});

export class PoolKVCache {
  readonly heads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly dtype: KVCacheDtype;
  readonly capacity: number;
  /** Ring mode's attention window; undefined for a linear cache. */
  readonly window: number | undefined;
  readonly chunkSize: number;
  /** Workers holding a part of the cache (W). */
  readonly shards: number;

  private readonly id = nextId++;
  private readonly generations: number[];
  private to = 0;
  /** Ring mode: slots of each shard's ring. */
  private readonly ringSlots: number;
  private live = true;
  /** Set when a shard operation failed: the shards may disagree, so every later call throws it. */
  private broken: Error | undefined;

  private constructor(private readonly scheduler: Scheduler, options: PoolKVCacheOptions) {
    const o = readKnown<PoolKVCacheOptions>(options, OPTION_KEYS, 'PoolKVCache options');
    const g = readGeometry(o);
    this.heads = g.heads;
    this.headDim = g.headDim;
    this.valueDim = g.valueDim;
    this.dtype = g.dtype;
    const slots = readSlots(o);
    this.capacity = slots.capacity;
    this.window = slots.window;
    this.chunkSize = o.chunkSize === undefined ? 256 : readCount(o.chunkSize, 'chunkSize', 2 ** 31 - 1);
    // A ring's last `capacity` positions touch at most ⌈capacity / C⌉ + 1 chunks; a linear cache's chunks all exist.
    const chunks = Math.ceil(this.capacity / this.chunkSize) + (this.window === undefined ? 0 : 1);
    this.shards = Math.min(scheduler.size, chunks);
    this.ringSlots = Math.ceil(chunks / this.shards) * this.chunkSize;
    this.generations = Array.from({ length: this.shards }, (_, w) => scheduler.generation(w));
  }

  /** Use AttentionPool.createKVCache(). */
  static async create(scheduler: Scheduler, options: PoolKVCacheOptions): Promise<PoolKVCache> {
    const c = new PoolKVCache(scheduler, options);
    registry.register(c, { scheduler, id: c.id, shards: c.shards, generations: c.generations }, c);
    const { heads, headDim, valueDim, dtype } = c;
    // A ring shard's own window is never used: every decode request names its window.
    const shape = (w: number) => (c.window === undefined ? { capacity: c.below(w, c.capacity) } : { capacity: c.ringSlots, window: c.ringSlots });
    for (let w = 0; w < c.shards; w++) scheduler.holdShards(w, 1);
    await Promise.all(Array.from({ length: c.shards }, (_, w) =>
      c.send(w, { op: 'create', id: c.id, options: { heads, headDim, valueDim, dtype, ...shape(w) } })));
    return c;
  }

  /** Tokens held (at most capacity). */
  get length(): number {
    return this.to - this.start;
  }

  /** Position of the next token. */
  get position(): number {
    return this.to;
  }

  /** Oldest position every query may still rely on (0 unless a ring cache has moved past it). */
  get start(): number {
    return this.window === undefined ? 0 : Math.max(0, this.to - this.capacity);
  }

  get ring(): boolean {
    return this.window !== undefined;
  }

  get disposed(): boolean {
    return !this.live;
  }

  /** Tokens among positions [0, n) that worker w holds. */
  private below(w: number, n: number): number {
    const c = this.chunkSize;
    const whole = Math.floor(n / c);
    const chunks = whole > w ? Math.floor((whole - 1 - w) / this.shards) + 1 : 0;
    return chunks * c + (whole % this.shards === w ? n - whole * c : 0);
  }

  private check(what: string): void {
    if (!this.live) fail('INVALID_OPTION', 'cache', 'a live PoolKVCache', 'a disposed PoolKVCache', `${what} after dispose()`);
    if (this.broken) throw this.broken;
    for (let w = 0; w < this.shards; w++) {
      if (this.scheduler.generation(w) !== this.generations[w]) {
        this.broken = new AttentionError('KERNEL_ERROR', 'cache', 'every pool worker holding a shard alive', `worker ${w} was replaced`,
          `cache: pool worker ${w} stopped (crash, hang or timeout) and its shard of this KV cache went with it; create a new cache`);
        throw this.broken;
      }
    }
  }

  private send<T>(w: number, r: CacheRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.scheduler.submitPinned(w, {
        label: `KV cache #${this.id} ${r.op} on worker ${w}`,
        // An append's arrays were made for this message: moved, not copied.
        call: (api) => api.cache(r.op === 'append' ? Comlink.transfer(r, [r.k.buffer, r.v.buffer]) : r),
        resolve: (x) => resolve(x as T),
        reject: (e) => {
          // A decode that fails leaves the shards as they were; anything else may have changed one shard only.
          if (r.op !== 'decode' && !this.broken) this.broken = e instanceof Error ? e : new Error(String(e));
          reject(e);
        },
      });
    });
  }

  /**
   * Appends T tokens (k [1, Hkv, T, Dk] or [Hkv, T, Dk], BNHD [1, T, Hkv, Dk]; v likewise with Dv). Throws
   * CACHE_FULL, appending nothing, when they do not fit. Resolves to the new length once every shard has them.
   */
  append(k: ConvertibleInput, v: ConvertibleInput, options: ConvertAppendOptions): Promise<number>;
  append(k: AttentionInput, v: AttentionInput, options?: AppendOptions): Promise<number>;
  async append(k: ConvertibleInput, v: ConvertibleInput, options?: AppendOptions): Promise<number> {
    this.check('append');
    const tk = readTokens(k, v, options, this);
    const t = tk.t;
    if (this.window === undefined && this.to + t > this.capacity) throw cacheFull(t, this.capacity, this.to);
    const from = this.to;
    this.to += t;
    const { heads, headDim: dk, valueDim: dv, chunkSize: c } = this;
    const sends: Promise<unknown>[] = [];
    for (let w = 0; w < this.shards; w++) {
      const tw = this.below(w, from + t) - this.below(w, from);
      if (tw === 0) continue;
      const K = new Float32Array(heads * tw * dk);
      const V = new Float32Array(heads * tw * dv);
      let n = 0; // tokens of this shard copied so far
      for (let p = from; p < from + t;) {
        const end = Math.min(from + t, (Math.floor(p / c) + 1) * c); // end of p's chunk
        if (Math.floor(p / c) % this.shards === w) {
          for (let h = 0; h < heads; h++) {
            for (let i = p; i < end; i++) {
              const row = h * tw + n + (i - p);
              K.set(tk.k.subarray(tk.at(h, i - from, dk), tk.at(h, i - from, dk) + dk), row * dk);
              V.set(tk.v.subarray(tk.at(h, i - from, dv), tk.at(h, i - from, dv) + dv), row * dv);
            }
          }
          n += end - p;
        }
        p = end;
      }
      sends.push(this.send(w, { op: 'append', id: this.id, k: K, v: V, tokens: tw }));
    }
    await Promise.all(sends);
    return this.length;
  }

  /** Same queries, options and result as decode() with a linear KVCache holding the same tokens. */
  decode(q: ConvertibleInput, options: ConvertDecodeOptions): Promise<AttentionResult>;
  decode(q: AttentionInput, options?: DecodeOptions): Promise<AttentionResult>;
  async decode(q: ConvertibleInput, options?: DecodeOptions): Promise<AttentionResult> {
    this.check('decode');
    const E = this.to;
    const p = planDecodeFor(q, {
      heads: this.heads, headDim: this.headDim, valueDim: this.valueDim, start: this.start, end: E, window: this.window,
    }, options);
    const { hq, nq } = p;
    const dk = this.headDim;
    const dv = this.valueDim;
    const qc = new Float32Array(hq * nq * dk);
    for (let h = 0; h < hq; h++) {
      for (let i = 0; i < nq; i++) qc.set(p.q.subarray(h * p.qHead + i * p.qRow, h * p.qHead + i * p.qRow + dk), (h * nq + i) * dk);
    }
    const calls: Promise<ShardPartial>[] = [];
    for (let w = 0; w < this.shards; w++) {
      const ranges = this.ranges(w, E, nq, p.causal, p.winLeft);
      if (ranges.length === 0) continue;
      calls.push(this.send<ShardPartial>(w, {
        op: 'decode', id: this.id, call: { q: qc, hq, nq, scale: p.scale, split: p.split, ranges },
      }));
    }
    const parts = await Promise.all(calls);

    const output = p.out ?? new Float32Array(hq * nq * dv);
    const lse = p.returnLse ? new Float32Array(hq * nq) : undefined;
    const acc = new Float64Array(dv);
    for (let h = 0; h < hq; h++) {
      const sink = p.sinks ? p.sinks[h]! : -Infinity;
      for (let i = 0; i < nq; i++) {
        const row = h * nq + i;
        let m = sink;
        for (const part of parts) m = Math.max(m, part.lse[row]!);
        const o = output.subarray(h * p.oHead + i * p.oRow, h * p.oHead + i * p.oRow + dv);
        if (m === -Infinity) {
          o.fill(0);
          if (lse) lse[row] = -Infinity;
          continue;
        }
        acc.fill(0);
        let sum = sink === -Infinity ? 0 : Math.exp(sink - m);
        for (const part of parts) {
          const wgt = Math.exp(part.lse[row]! - m);
          if (wgt === 0) continue;
          sum += wgt;
          for (let x = 0; x < dv; x++) acc[x]! += wgt * part.output[row * dv + x]!;
        }
        for (let x = 0; x < dv; x++) o[x] = acc[x]! / sum;
        if (lse) lse[row] = m + Math.log(sum);
      }
    }
    const result: AttentionResult = { output, shape: p.layout === 'BHND' ? [1, hq, nq, dv] : [1, nq, hq, dv] };
    if (lse) result.lse = lse;
    return result;
  }

  /**
   * The key ranges worker w decodes for queries at global positions [E − nq, E): its chunks every query sees whole
   * as one range (consecutive in its local slots), then each chunk cut by the causal edge or the window with the
   * queries' positions moved by the chunk's offset; chunks below every window are skipped.
   */
  private ranges(w: number, E: number, nq: number, causal: boolean, winLeft: number): ShardRange[] {
    const c = this.chunkSize;
    const first = E - nq;
    const lowest = winLeft < 0 ? 0 : Math.max(0, first - winLeft);
    const out: ShardRange[] = [];
    let whole: [number, number] | undefined;
    for (let j = w, local = 0; j * c < E; j += this.shards, local += c) {
      const a = j * c;
      const b = Math.min(a + c, E);
      if (b <= lowest) continue;
      const lb = local + (b - a);
      const seenWhole = (!causal || b - 1 <= first) && (winLeft < 0 || a >= E - 1 - winLeft);
      if (seenWhole) {
        whole = whole ? [whole[0], lb] : [local, lb];
        continue;
      }
      if (causal) {
        out.push({ start: local, end: lb, qEnd: E - (a - local), row0: Math.max(0, a - first), causal, winLeft });
        continue;
      }
      // Not causal, cut by the window: queries before the chunk see all of it (their window reaches further back
      // and nothing hides the keys after them), and would sit at negative local positions, so they get a range of
      // their own without a mask; the others keep their positions moved by the chunk's offset.
      const before = Math.min(nq, Math.max(0, a - first));
      if (before > 0) out.push({ start: local, end: lb, qEnd: Math.max(before, lb), row0: 0, row1: before, causal, winLeft: -1 });
      if (before < nq) out.push({ start: local, end: lb, qEnd: E - (a - local), row0: before, causal, winLeft });
    }
    if (whole) out.unshift({ start: whole[0], end: whole[1], qEnd: Math.max(nq, whole[1]), row0: 0, causal: false, winLeft: -1 });
    return out;
  }

  /** Keeps positions [0, n): drops the tokens from n on (speculative decoding's rejected tokens). */
  async truncate(n: number): Promise<void> {
    this.check('truncate');
    if (typeof n !== 'number' || !Number.isInteger(n) || n < this.start || n > this.to) {
      fail('INVALID_OPTION', 'n', `an integer position in [${this.start}, ${this.to}] (start and position of the cache)`, String(n));
    }
    this.to = n;
    await Promise.all(Array.from({ length: this.shards }, (_, w) => this.send(w, { op: 'truncate', id: this.id, n: this.below(w, n) })));
  }

  /** Empties the cache (positions restart at 0); the memory is kept. */
  async reset(): Promise<void> {
    this.check('reset');
    this.to = 0;
    await Promise.all(Array.from({ length: this.shards }, (_, w) => this.send(w, { op: 'reset', id: this.id })));
  }

  /** Frees the shards' memory; the cache cannot be used afterwards. Idempotent. */
  async dispose(): Promise<void> {
    if (!this.live) return;
    this.live = false;
    registry.unregister(this);
    await Promise.all(Array.from({ length: this.shards }, (_, w) => this.send(w, { op: 'dispose', id: this.id }).catch(() => undefined)));
    for (let w = 0; w < this.shards; w++) if (this.scheduler.generation(w) === this.generations[w]) this.scheduler.holdShards(w, -1);
  }
}
