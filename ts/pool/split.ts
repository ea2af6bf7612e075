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
import type { AttentionDescriptor } from '../descriptor.js';

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

/** The tasks of one problem for a pool of `threads` workers, in output order. */
export function splitProblem(d: AttentionDescriptor, threads: number): TaskRange[] {
  const ratio = d.hq / d.hkv;
  const tasks: TaskRange[] = [];
  if (isDecodeLike(d)) {
    for (let b = 0; b < d.b; b++) {
      for (let g = 0; g < d.hkv; g++) {
        for (let key0 = 0; key0 < d.nk; key0 += DECODE_KEYS_PER_TASK) {
          const keys = Math.min(DECODE_KEYS_PER_TASK, d.nk - key0);
          tasks.push({ b, kvHead0: g, kvHeads: 1, row0: 0, rows: d.nq, key0, keys });
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
