/**
 * Shared staging of one pool call (where SharedArrayBuffer exists: Node, Deno, cross-origin-isolated pages).
 *
 * Without it every task gathers its slices into fresh ArrayBuffers and every worker answers with a fresh output
 * buffer: on a 2-core machine the calling thread then spends ~12 % of a core allocating, copying and collecting
 * garbage — time taken from a worker. With it the call takes one SharedArrayBuffer from a free list (no zero-fill, no
 * page faults, no garbage), copies each task's slices into a mirror of the operands as the task is sent, and the
 * workers write their outputs straight into it; the calling thread only copies the results into the caller's output.
 */
import type { AttentionDescriptor, Strides, StridedView } from '../descriptor.js';
import { extent } from '../core/memory.js';
import type { TaskRange } from './split.js';

const hasShared = typeof SharedArrayBuffer !== 'undefined';

declare const Deno: { unrefTimer?: (id: number) => void } | undefined;

/** Lets the process exit with this timer pending (Node: Timeout.unref, Deno: Deno.unrefTimer; browsers: nothing). */
function unref(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === 'number') {
    if (typeof Deno !== 'undefined') Deno.unrefTimer?.(timer);
    return;
  }
  (timer as { unref?: () => void }).unref?.();
}

export const isShared = (a: ArrayBufferView): boolean => hasShared && a.buffer instanceof SharedArrayBuffer;

/**
 * The pool's SharedArrayBuffers: lent to calls and taken back for reuse, never more than `maxBytes` in all (lent and
 * free), and the free ones dropped after `idleMs` without a call.
 *
 * Why a hard cap rather than a cache with eviction: V8 does not count shared memory in its garbage-collection
 * heuristics, so a SharedArrayBuffer that is dropped is freed only when some collection happens to run for other
 * reasons. A fresh buffer per call measured 2.3 GB of resident memory after 150 decode-shaped calls at
 * (1, 32, 1, 4096, 128).
 * Here buffers are only created while they fit under the cap, and a call that does not fit is told so (undefined)
 * and goes through transferred copies, which V8 does count.
 */
export class StagingBuffers {
  private readonly free: SharedArrayBuffer[] = [];
  private freeBytes = 0;
  /** Bytes of every buffer lent out or free. */
  private liveBytes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private used = false;

  constructor(readonly maxBytes = 256 * 2 ** 20, private readonly idleMs = 10_000) {}

  /** Bytes held for reuse. */
  get held(): number {
    return this.freeBytes;
  }

  /** Bytes lent out or held for reuse (at most maxBytes). */
  get live(): number {
    return this.liveBytes;
  }

  /**
   * A buffer of at least `bytes`: a free one of at most twice that (so a small call does not pin a huge buffer), else
   * a new one while the cap allows, else any free one that is big enough; undefined when none fits.
   */
  acquire(bytes: number): SharedArrayBuffer | undefined {
    this.used = true;
    const size = Math.ceil(bytes / 65536) * 65536;
    const fits = (b: SharedArrayBuffer): boolean => b.byteLength >= bytes;
    let i = this.free.findIndex((b) => fits(b) && b.byteLength <= 2 * bytes);
    const room = this.liveBytes + size <= this.maxBytes;
    if (i < 0 && !room) i = this.free.findIndex(fits);
    if (i >= 0) {
      const [b] = this.free.splice(i, 1);
      this.freeBytes -= b!.byteLength;
      return b!;
    }
    if (!room) return undefined;
    this.liveBytes += size;
    return new SharedArrayBuffer(size);
  }

  /** Back to the free list. Only for buffers no worker can still write to. */
  release(b: SharedArrayBuffer): void {
    this.free.push(b);
    this.freeBytes += b.byteLength;
    this.armTrim();
  }

  /** Forgets a lent buffer that a worker may still write to (a failed or aborted call): it is never lent again. */
  drop(b: SharedArrayBuffer): void {
    this.liveBytes -= b.byteLength;
  }

  /** Once a whole idle period passes without a call, the free buffers go (a long-lived pool does not keep a big
   * call's memory forever). The timer does not keep a Node / Deno process alive. */
  private armTrim(): void {
    if (this.timer !== undefined) return;
    this.used = false;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.used) {
        this.armTrim();
        return;
      }
      this.dropFree();
    }, this.idleMs);
    unref(this.timer);
  }

  private dropFree(): void {
    this.liveBytes -= this.freeBytes;
    this.free.length = 0;
    this.freeBytes = 0;
  }

  /** Drops every free buffer and the timer (the pool is disposed). */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dropFree();
  }
}

/** Copies the [heads, rows, cols] block at `offset` (same strides on both sides; stride 0 = broadcast, one copy). */
function copyBlock<T extends Float32Array | Uint8Array>(src: T, dst: T, s: Strides, offset: number, heads: number, rows: number, cols: number): void {
  const h = s.head === 0 ? 1 : heads;
  const r = s.row === 0 ? 1 : rows;
  if ((r === 1 || s.row === cols) && (h === 1 || s.head === r * cols)) {
    dst.set(src.subarray(offset, offset + h * r * cols), offset);
    return;
  }
  for (let hi = 0; hi < h; hi++) {
    const base = offset + hi * s.head;
    if (r === 1 || s.row === cols) {
      dst.set(src.subarray(base, base + r * cols), base);
      continue;
    }
    for (let ri = 0; ri < r; ri++) {
      const from = base + ri * s.row;
      dst.set(src.subarray(from, from + cols), from);
    }
  }
}

/** Where a task's worker writes its compact results: output [hq, rows, dv] and lse [hq, rows]. */
export interface SharedOutput {
  output: Float32Array;
  lse?: Float32Array;
}

type Operand = 'q' | 'k' | 'v' | 'mask' | 'bias';

/** The staging of one call: mirrors of the operands (same strides and offsets) and one output block per task. */
export class CallStaging {
  /** The call's descriptor with its operands replaced by the mirrors. */
  readonly d: AttentionDescriptor;
  private readonly outputs: SharedOutput[];
  /** Blocks already in the mirrors: row chunks of one head group read the same keys and values. */
  private readonly copied = new Set<string>();

  private constructor(
    readonly buffer: SharedArrayBuffer,
    private readonly source: AttentionDescriptor,
    private readonly tasks: readonly TaskRange[],
    layout: { d: AttentionDescriptor; outputs: SharedOutput[] },
  ) {
    this.d = layout.d;
    this.outputs = layout.outputs;
  }

  /**
   * Plans the staging of `d` cut into `tasks` (heads / rows blocks, or key ranges whose partials are merged by their
   * log-sum-exp: `withLse`; no weights). Operands already in
   * shared memory are used in place; the others are copied slice by slice as the tasks are sent (`prepare`), so the
   * copying overlaps the workers' compute instead of delaying the first task. Undefined when the pool's shared memory
   * cap leaves no room for it (the call then transfers its slices).
   */
  static plan(d: AttentionDescriptor, tasks: readonly TaskRange[], buffers: StagingBuffers, withLse = d.returnLse): CallStaging | undefined {
    const ratio = d.hq / d.hkv;
    const sizes: Record<Operand, number> = {
      q: extent(d.q.strides, d.b, d.hq, d.nq, d.dk),
      k: extent(d.k.strides, d.b, d.hkv, d.nk, d.dk),
      v: extent(d.v.strides, d.b, d.hkv, d.nk, d.dv),
      bias: d.bias ? extent(d.bias.strides, d.b, d.hq, d.nq, d.nk) : 0,
      mask: d.mask ? extent(d.mask.strides, d.b, d.hq, d.nq, d.nk) : 0,
    };
    const mirrored = (name: Operand): boolean => {
      const view = d[name];
      return !!view && !isShared(view.data);
    };
    let floats = 0;
    for (const name of ['q', 'k', 'v', 'bias'] as const) if (mirrored(name)) floats += sizes[name];
    const outFloats = tasks.reduce((n, t) => n + t.kvHeads * ratio * t.rows * (d.dv + (withLse ? 1 : 0)), 0);
    const bytes = 4 * (floats + outFloats) + (mirrored('mask') ? sizes.mask : 0);
    const buffer = buffers.acquire(bytes);
    if (!buffer) return undefined;

    let at = 0; // in floats
    const f32 = (n: number): Float32Array => {
      const a = new Float32Array(buffer, 4 * at, n);
      at += n;
      return a;
    };
    const mirror = <T extends Float32Array | Uint8Array>(view: StridedView<T>, n: number, make: (n: number) => T): StridedView<T> =>
      isShared(view.data) ? view : { data: make(n), strides: view.strides };
    const md: AttentionDescriptor = { ...d, q: mirror(d.q, sizes.q, f32), k: mirror(d.k, sizes.k, f32), v: mirror(d.v, sizes.v, f32) };
    if (d.bias) md.bias = mirror(d.bias, sizes.bias, f32);
    const outputs = tasks.map((t) => {
      const n = t.kvHeads * ratio * t.rows;
      const o: SharedOutput = { output: f32(n * d.dv) };
      if (withLse) o.lse = f32(n);
      return o;
    });
    if (d.mask) md.mask = mirror(d.mask, sizes.mask, (n) => new Uint8Array(buffer, 4 * at, n));
    return new CallStaging(buffer, d, tasks, { d: md, outputs });
  }

  /** Copies task `i`'s slices of the operands into the mirrors (once per block; nothing for shared operands). */
  prepare(i: number): void {
    const t = this.tasks[i]!;
    const s = this.source;
    const ratio = s.hq / s.hkv;
    const hq0 = t.kvHead0 * ratio;
    const hq = t.kvHeads * ratio;
    const one = <T extends Float32Array | Uint8Array>(name: Operand, view: StridedView<T> | undefined, head0: number,
      heads: number, row0: number, rows: number, col0: number, cols: number): void => {
      const to = this.d[name] as StridedView<T> | undefined;
      if (!view || !to || to.data === view.data) return;
      // Mask and bias blocks of key-range tasks differ in their columns only.
      const key = `${name} ${t.b} ${head0} ${heads} ${row0} ${rows} ${col0} ${cols}`;
      if (this.copied.has(key)) return;
      this.copied.add(key);
      const st = view.strides;
      copyBlock(view.data, to.data, st, t.b * st.batch + head0 * st.head + row0 * st.row + col0, heads, rows, cols);
    };
    one('q', s.q, hq0, hq, t.row0, t.rows, 0, s.dk);
    one('k', s.k, t.kvHead0, t.kvHeads, t.key0, t.keys, 0, s.dk);
    one('v', s.v, t.kvHead0, t.kvHeads, t.key0, t.keys, 0, s.dv);
    one('mask', s.mask, hq0, hq, t.row0, t.rows, t.key0, t.keys);
    one('bias', s.bias, hq0, hq, t.row0, t.rows, t.key0, t.keys);
  }

  /** Where task `i` writes its results. */
  output(i: number): SharedOutput {
    return this.outputs[i]!;
  }
}

/** Operands of a call with whole copies of the non-shared ones in one staging buffer (see shareOperands). */
export interface SharedOperands {
  d: AttentionDescriptor;
  buffer: SharedArrayBuffer;
}

/**
 * For calls that are not staged (attention weights, whose N×N blocks travel as transferred buffers): the operands
 * copied whole, once, into a buffer of `buffers`, so that tasks whose slices overlap (row chunks read the same keys)
 * pass views instead of each gathering and transferring its slice. Undefined when nothing needs copying or the cap
 * leaves no room.
 */
export function shareOperands(d: AttentionDescriptor, buffers: StagingBuffers): SharedOperands | undefined {
  const names = (['q', 'k', 'v', 'mask', 'bias'] as const).filter((n) => {
    const view = d[n];
    return !!view && !isShared(view.data);
  });
  if (names.length === 0) return undefined;
  const start = new Map<Operand, number>();
  let bytes = 0;
  for (const n of names) {
    start.set(n, bytes);
    bytes += Math.ceil(d[n]!.data.byteLength / 16) * 16;
  }
  const buffer = buffers.acquire(bytes);
  if (!buffer) return undefined;
  const copy = <T extends Float32Array | Uint8Array>(view: StridedView<T>, n: Operand): StridedView<T> => {
    const a = view.data;
    const c = new (a.constructor as { new (b: SharedArrayBuffer, at: number, n: number): T })(buffer, start.get(n)!, a.length);
    c.set(a);
    return { data: c, strides: view.strides };
  };
  const shared: AttentionDescriptor = { ...d };
  for (const n of names) {
    if (n === 'mask') shared.mask = copy(d.mask!, n);
    else shared[n] = copy(d[n]!, n);
  }
  return { d: shared, buffer };
}
