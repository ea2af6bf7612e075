/**
 * A task as it travels to a worker, and the conversions around it:
 * main thread: full descriptor + TaskRange → TaskInput (slices copied into fresh buffers that are transferred, or —
 * when the caller's data already lives in a SharedArrayBuffer — the shared view itself plus the slice origin);
 * worker: TaskInput → compact descriptor for its own wasm instance;
 * main thread: TaskOutput → scattered into the full result.
 */
import type { AttentionDescriptor, Strides, StridedView } from '../descriptor.js';
import type { TaskRange } from './split.js';
import { isShared, type SharedOutput } from './staging.js';

/** A strided block of an operand: element `offset` is the block's [0, 0, 0, 0]. */
export interface OperandBlock<T extends Float32Array | Uint8Array> {
  data: T;
  strides: Strides;
  offset: number;
}

/** The scalar fields a task carries over from the call's descriptor unchanged. */
type CarriedFields =
  | 'hq' | 'hkv' | 'nq' | 'nk' | 'dk' | 'dv' | 'scale' | 'softcap' | 'similarity' | 'align' | 'winLeft' | 'winRight'
  | 'qStart' | 'kStart' | 'nqFull' | 'nkFull' | 'returnLse' | 'returnWeights' | 'variant' | 'sparse';

/** One task: the problem of one batch entry's block of heads / rows / keys, operands as strided blocks. */
export interface TaskInput extends Pick<AttentionDescriptor, CarriedFields> {
  q: OperandBlock<Float32Array>;
  k: OperandBlock<Float32Array>;
  v: OperandBlock<Float32Array>;
  mask?: OperandBlock<Uint8Array>;
  bias?: OperandBlock<Float32Array>;
  queryLength?: number;
  keyLength?: number;
  /** ALiBi slopes of the task's query heads. */
  alibi?: Float32Array;
  /** The LSE less the ALiBi row shift (a key-range partial: mergeBlock adds it back after the merge). */
  alibiLseShifted?: boolean;
  /** Relative-position bias rows of the task's query heads. */
  relBias?: AttentionDescriptor['relBias'];
  /** Shared memory the worker writes its compact results into (then it answers null). */
  sharedOut?: SharedOutput;
  /** Run in row blocks claimed from a shared counter (with sharedOut): idle workers may claim blocks too. */
  claim?: RowClaim;
}

/** Blocks of `blockRows` query rows handed out by an atomic counter (block i = the counter's value before the add). */
export interface RowClaim {
  counter: Int32Array;
  blockRows: number;
}

/** Compact BHND results of one task: output [hq, nq, dv], lse [hq, nq], weights [hq, nq, nk]. */
export interface TaskOutput {
  output: Float32Array;
  lse?: Float32Array;
  weights?: Float32Array;
}

/** Strides of a gathered [heads, rows, cols] block: compact, except that broadcast (stride 0) dims stay size 1. */
function gatheredStrides(s: Strides, heads: number, rows: number, cols: number): Strides {
  const r = s.row === 0 ? 1 : rows;
  return { batch: 0, head: s.head === 0 ? 0 : r * cols, row: s.row === 0 ? 0 : cols };
}

/** Copies the [heads, rows, cols] block at `offset` of a strided view into a compact array. */
export function gatherBlock<T extends Float32Array | Uint8Array>(
  src: T, s: Strides, offset: number, heads: number, rows: number, cols: number,
): OperandBlock<T> {
  const h = s.head === 0 ? 1 : heads;
  const r = s.row === 0 ? 1 : rows;
  const out = new (src.constructor as { new (n: number): T })(h * r * cols);
  // Contiguous rows (BHND, or one head) are copied as one run per head, or one run in all: a set() per row of 64
  // floats costs more in call overhead than in copying.
  const rowsRun = r === 1 || s.row === cols;
  const headsRun = rowsRun && (h === 1 || s.head === r * cols);
  if (headsRun) {
    out.set(src.subarray(offset, offset + h * r * cols));
  } else {
    for (let hi = 0; hi < h; hi++) {
      const base = offset + hi * s.head;
      if (rowsRun) {
        out.set(src.subarray(base, base + r * cols), hi * r * cols);
        continue;
      }
      for (let ri = 0; ri < r; ri++) {
        const from = base + ri * s.row;
        out.set(src.subarray(from, from + cols), (hi * r + ri) * cols);
      }
    }
  }
  return { data: out, strides: gatheredStrides(s, heads, rows, cols), offset: 0 };
}

function block<T extends Float32Array | Uint8Array>(
  view: StridedView<T>, b: number, head0: number, row0: number, col0: number,
  heads: number, rows: number, cols: number, transfer: ArrayBuffer[] | undefined,
): OperandBlock<T> {
  const s = view.strides;
  const offset = b * s.batch + head0 * s.head + row0 * s.row + col0;
  if (!transfer || isShared(view.data)) return { data: view.data, strides: { ...s, batch: 0 }, offset };
  const g = gatherBlock(view.data, s, offset, heads, rows, cols);
  transfer.push(g.data.buffer as ArrayBuffer);
  return g;
}

/**
 * The TaskInput of range `t` of problem `d`, and the buffers to transfer with it. `inPlace`: the task runs on this
 * thread (attention()'s key ranges, ts/core/key-ranges.ts), so its operands stay views of the caller's arrays.
 */
export function makeTaskInput(
  d: AttentionDescriptor, t: TaskRange, forceLse: boolean, inPlace = false,
): { input: TaskInput; transfer: ArrayBuffer[] } {
  const ratio = d.hq / d.hkv;
  const hq0 = t.kvHead0 * ratio;
  const hq = t.kvHeads * ratio;
  const transfer: ArrayBuffer[] = [];
  const into = inPlace ? undefined : transfer;
  const input: TaskInput = {
    hq, hkv: t.kvHeads, nq: t.rows, nk: t.keys, dk: d.dk, dv: d.dv,
    q: block(d.q, t.b, hq0, t.row0, 0, hq, t.rows, d.dk, into),
    k: block(d.k, t.b, t.kvHead0, t.key0, 0, t.kvHeads, t.keys, d.dk, into),
    v: block(d.v, t.b, t.kvHead0, t.key0, 0, t.kvHeads, t.keys, d.dv, into),
    scale: d.scale, softcap: d.softcap, similarity: d.similarity, align: d.align,
    winLeft: d.winLeft, winRight: d.winRight,
    qStart: d.qStart + t.row0, kStart: d.kStart + t.key0, nqFull: d.nqFull, nkFull: d.nkFull,
    returnLse: d.returnLse || forceLse, returnWeights: d.returnWeights,
  };
  if (d.mask) input.mask = block(d.mask, t.b, hq0, t.row0, t.key0, hq, t.rows, t.keys, into);
  if (d.bias) input.bias = block(d.bias, t.b, hq0, t.row0, t.key0, hq, t.rows, t.keys, into);
  if (d.queryLengths) input.queryLength = d.queryLengths[t.b];
  if (d.keyLengths) input.keyLength = d.keyLengths[t.b];
  if (d.variant) input.variant = d.variant;
  // The block mask is global (indexed by qStart / kStart): every task gets it whole; row chunks are BQ-aligned.
  if (d.sparse) input.sparse = d.sparse;
  if (d.alibi) input.alibi = d.alibi.slice(hq0, hq0 + hq);
  // Key-range partials are merged by their LSEs: of magnitude alibi·kLen without a causal mask, they would carry
  // f32 rounding into the merge weights; shifted they stay small and the shift is added once, after the merge.
  if (d.alibi && forceLse) input.alibiLseShifted = true;
  if (d.relBias) input.relBias = { ...d.relBias, table: d.relBias.table.slice(hq0 * d.relBias.len, (hq0 + hq) * d.relBias.len) };
  return { input, transfer };
}

const compact = (heads: number, rows: number, cols: number): Strides => ({ batch: heads * rows * cols, head: rows * cols, row: cols });

/** The block as a view this worker may hand to its kernel: as is when already gathered, else gathered here. */
function ownBlock<T extends Float32Array | Uint8Array>(o: OperandBlock<T>, heads: number, rows: number, cols: number): StridedView<T> {
  const g = gatheredStrides(o.strides, heads, rows, cols);
  const size = (g.head === 0 ? 1 : heads) * (g.row === 0 ? 1 : rows) * cols;
  // Already compact (a gathered block, or a contiguous run of a shared operand): a view, no copy. The stride of a
  // dim of size 1 is never used (one head of a shared operand, e.g. a key range, has the whole operand's head stride).
  const compactHeads = o.strides.head === g.head || heads === 1;
  const compactRows = o.strides.row === g.row || rows === 1;
  if (compactHeads && compactRows) return { data: o.data.subarray(o.offset, o.offset + size) as T, strides: g };
  const view = gatherBlock(o.data, o.strides, o.offset, heads, rows, cols);
  return { data: view.data, strides: view.strides };
}

/** Worker side: the descriptor of a task, every operand compact (a view of shared memory or a local copy). */
export function taskDescriptor(t: TaskInput): AttentionDescriptor {
  const d: AttentionDescriptor = {
    b: 1, hq: t.hq, hkv: t.hkv, nq: t.nq, nk: t.nk, dk: t.dk, dv: t.dv, layout: 'BHND',
    q: ownBlock(t.q, t.hq, t.nq, t.dk),
    k: ownBlock(t.k, t.hkv, t.nk, t.dk),
    v: ownBlock(t.v, t.hkv, t.nk, t.dv),
    o: compact(t.hq, t.nq, t.dv),
    scale: t.scale, softcap: t.softcap, similarity: t.similarity, align: t.align,
    winLeft: t.winLeft, winRight: t.winRight,
    returnLse: t.returnLse, returnWeights: t.returnWeights,
    qStart: t.qStart, kStart: t.kStart, nqFull: t.nqFull, nkFull: t.nkFull,
  };
  if (t.mask) d.mask = ownBlock(t.mask, t.hq, t.nq, t.nk);
  if (t.bias) d.bias = ownBlock(t.bias, t.hq, t.nq, t.nk);
  if (t.queryLength !== undefined) d.queryLengths = Uint32Array.of(t.queryLength);
  if (t.keyLength !== undefined) d.keyLengths = Uint32Array.of(t.keyLength);
  if (t.variant) d.variant = t.variant;
  if (t.sparse) d.sparse = t.sparse;
  if (t.alibi) d.alibi = t.alibi;
  if (t.alibiLseShifted) d.alibiLseShifted = true;
  if (t.relBias) d.relBias = t.relBias;
  return d;
}
