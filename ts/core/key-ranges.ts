/**
 * attention() on decode-like problems (few query rows, long keys: pool/split.ts isDecodeLike) runs the worker pool's
 * own key-range tasks one after the other on this thread, and merges their partials with the pool's merge. A pool
 * splits such problems over key ranges whatever its size; computing them the same way here makes its result bitwise
 * attention()'s (issue #3: the same bits for every split), instead of within rounding of one unsplit pass.
 * Each task's operands stay views of the caller's arrays; its kernel (the decode kernel where decode-route.ts
 * accepts the range, else the flash kernel) copies them into wasm memory as any call does.
 */
import type { AttentionDescriptor } from '../descriptor.js';
import type { AttentionResult } from '../types.js';
import { mergeBlock, scatterBlock } from '../pool/merge.js';
import { splitProblem, type TaskRange } from '../pool/split.js';
import { makeTaskInput, taskDescriptor, type TaskOutput } from '../pool/task.js';

/** Runs `d` (decode-like) as its key-range tasks through `run` (runDescriptor), writing into `output`. */
export function runKeyRanges(d: AttentionDescriptor, output: Float32Array, run: (task: AttentionDescriptor) => AttentionResult): AttentionResult {
  const result: AttentionResult = { output, shape: d.layout === 'BNHD' ? [d.b, d.nq, d.hq, d.dv] : [d.b, d.hq, d.nq, d.dv] };
  if (d.returnLse) result.lse = new Float32Array(d.b * d.hq * d.nq);
  let block: { t: TaskRange; parts: TaskOutput[] } | undefined;
  const flush = (): void => {
    if (!block) return;
    const t = { ...block.t, key0: 0, keys: d.nk };
    scatterBlock(d, t, mergeBlock(d, t, block.parts, true), result);
  };
  // Tasks come block by block (batch, kv heads, rows), each block's key ranges in key order.
  for (const t of splitProblem(d, 1)) {
    if (!block || block.t.b !== t.b || block.t.kvHead0 !== t.kvHead0 || block.t.row0 !== t.row0) {
      flush();
      block = { t, parts: [] };
    }
    const r = run(taskDescriptor(makeTaskInput(d, t, true, true).input));
    block.parts.push({ output: r.output, lse: r.lse });
  }
  flush();
  return result;
}
