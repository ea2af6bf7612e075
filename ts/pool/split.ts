/**
 * How the pool cuts one attention problem into independent tasks.
 *
 * Two kinds of task:
 * - a (batch, kv-head group, query-row range) block: all query heads that share the group's kv heads, all keys
 *   (rows are cut only when there are too few head groups to keep the pool's workers busy);
 * - a key range of one (batch, kv-head group) block, for decode-like shapes (few query rows, long keys): the partial
 *   outputs are merged afterwards by their log-sum-exp (flash-decoding).
 * Key ranges depend on the shape only, so every pool size merges the same partials. Row chunks depend on the pool
 * size too (fewer, larger tasks when there are enough head groups: each task costs a round trip), which changes
 * nothing in the result: a query row's computation does not depend on which other rows share its task.
 */
import { ALIGN_BOTTOM_RIGHT, type AttentionDescriptor } from '../descriptor.js';

export interface TaskRange {
  /** Batch index. */
  b: number;
  /** First kv head and count; the query heads are [kvHead0·r, (kvHead0 + kvHeads)·r), r = hq / hkv. */
  kvHead0: number;
  kvHeads: number;
  /** Query row range [row0, row0 + rows). */
  row0: number;
  rows: number;
  /** Key range [key0, key0 + keys). */
  key0: number;
  keys: number;
}

/** Query rows at or below this count make a problem decode-like (split over keys). */
export const DECODE_MAX_ROWS = 16;
/** Keys per key-range task of a decode-like problem. */
export const DECODE_KEYS_PER_TASK = 1024;
/** Target amount of work (multiply-adds) per head-group task; smaller groups are merged up to it. */
const TARGET_TASK_WORK = 1 << 22;
/** Head-group tasks wanted per worker; with fewer, long query ranges are cut into row chunks. */
const TASKS_PER_WORKER = 2;
/** Row chunks are multiples of this: a multiple of every kernel block height, so each row sees the same code path. */
const ROWS_PER_TASK = 256;

export function isDecodeLike(d: AttentionDescriptor): boolean {
  return d.nq <= DECODE_MAX_ROWS && d.nk > DECODE_KEYS_PER_TASK && !d.returnWeights && !d.variant;
}

/**
 * Local keys [lo, hi) of batch entry `b` that some query row may see by the causal / window / length rules (as the
 * reference applies them; masks and block masks may hide more), or [0, 0) when no row may see any.
 */
export function visibleKeys(d: AttentionDescriptor, b: number): [number, number] {
  const qLen = d.queryLengths ? d.queryLengths[b]! : d.nqFull;
  const kLen = d.keyLengths ? d.keyLengths[b]! : d.nkFull;
  const shift = d.align === ALIGN_BOTTOM_RIGHT ? kLen - qLen : 0;
  const first = d.qStart;
  const last = Math.min(d.qStart + d.nq, qLen) - 1;
  if (last < first) return [0, 0];
  const lo = d.winLeft < 0 ? 0 : first + shift - d.winLeft;
  const hi = Math.min(kLen, d.winRight < 0 ? Infinity : last + shift + d.winRight + 1);
  const a = Math.max(0, lo - d.kStart);
  const z = Math.min(d.nk, hi - d.kStart);
  return a < z ? [a, z] : [0, 0];
}

/** The tasks of one problem for a pool of `threads` workers, in output order. */
export function splitProblem(d: AttentionDescriptor, threads: number): TaskRange[] {
  const ratio = d.hq / d.hkv;
  const tasks: TaskRange[] = [];
  if (isDecodeLike(d)) {
    for (let b = 0; b < d.b; b++) {
      // Ranges no row may see are left out (their partial would be empty: output 0, LSE −∞, which the merge skips),
      // except that every block keeps one task, so that its rows are still written.
      const [lo, hi] = visibleKeys(d, b);
      for (let g = 0; g < d.hkv; g++) {
        const before = tasks.length;
        for (let key0 = 0; key0 < d.nk; key0 += DECODE_KEYS_PER_TASK) {
          const keys = Math.min(DECODE_KEYS_PER_TASK, d.nk - key0);
          const seen = key0 < hi && key0 + keys > lo;
          if (seen || (key0 + keys >= d.nk && tasks.length === before)) {
            tasks.push({ b, kvHead0: g, kvHeads: 1, row0: 0, rows: d.nq, key0, keys });
          }
        }
      }
    }
    return tasks;
  }
  const workPerKvHead = ratio * d.nq * d.nk * (d.dk + d.dv);
  const groupSize = Math.max(1, Math.min(d.hkv, Math.floor(TARGET_TASK_WORK / Math.max(1, workPerKvHead))));
  const groups = d.b * Math.ceil(d.hkv / groupSize);
  // Variants need every row and key of a head in one task (causal prefix sums, Linformer's projection over all keys).
  const wanted = TASKS_PER_WORKER * threads;
  const chunks = Math.ceil(wanted / groups);
  const rowChunk = !d.variant && groups < wanted && d.nq >= 2 * ROWS_PER_TASK
    ? ROWS_PER_TASK * Math.ceil(d.nq / chunks / ROWS_PER_TASK)
    : d.nq;
  for (let b = 0; b < d.b; b++) {
    for (let g = 0; g < d.hkv; g += groupSize) {
      const kvHeads = Math.min(groupSize, d.hkv - g);
      for (let row0 = 0; row0 < d.nq; row0 += rowChunk) {
        tasks.push({ b, kvHead0: g, kvHeads, row0, rows: Math.min(rowChunk, d.nq - row0), key0: 0, keys: d.nk });
      }
    }
  }
  return tasks;
}
