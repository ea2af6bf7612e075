/**
 * Puts task results back together: head/row blocks are scattered into the full output; key-range partials of the
 * same block are merged by their log-sum-exp first (o = Σ e^(lseᵢ−M) oᵢ / Σ e^(lseᵢ−M), lse = M + ln Σ e^(lseᵢ−M)),
 * always in key order, in float64, so the result does not depend on which worker finished first.
 */
import { alibiRowShift, type AttentionDescriptor } from '../descriptor.js';
import type { AttentionResult } from '../types.js';
import type { TaskRange } from './split.js';
import type { TaskOutput } from './task.js';

/** Merges the key-range partials of one block (all with the same heads and rows) into one TaskOutput. */
export function mergeKeyPartials(parts: readonly TaskOutput[], hq: number, rows: number, dv: number): TaskOutput {
  if (parts.length === 1) return parts[0]!;
  const output = new Float32Array(hq * rows * dv);
  const lse = new Float32Array(hq * rows);
  const acc = new Float64Array(dv);
  for (let r = 0; r < hq * rows; r++) {
    let m = -Infinity;
    for (const p of parts) m = Math.max(m, p.lse![r]!);
    if (m === -Infinity) {
      lse[r] = -Infinity;
      continue;
    }
    acc.fill(0);
    let sum = 0;
    for (const p of parts) {
      const w = Math.exp(p.lse![r]! - m);
      if (w === 0) continue;
      sum += w;
      for (let c = 0; c < dv; c++) acc[c]! += w * p.output[r * dv + c]!;
    }
    for (let c = 0; c < dv; c++) output[r * dv + c] = acc[c]! / sum;
    lse[r] = m + Math.log(sum);
  }
  return { output, lse };
}

/**
 * The key-range partials of block `t` of `d` merged. `shifted`: their LSEs leave out the ALiBi row shift
 * (alibiRowShift, the tasks' alibiLseShifted), which is added to the merged LSE here, once.
 */
export function mergeBlock(d: AttentionDescriptor, t: TaskRange, parts: readonly TaskOutput[], shifted: boolean): TaskOutput {
  const ratio = d.hq / d.hkv;
  const hq = t.kvHeads * ratio;
  const merged = mergeKeyPartials(parts, hq, t.rows, d.dv);
  if (!shifted || !d.alibi || !merged.lse) return merged;
  const lse = new Float32Array(merged.lse.length);
  const hq0 = t.kvHead0 * ratio;
  for (let h = 0; h < hq; h++) {
    const slope = d.alibi[hq0 + h]!;
    for (let r = 0; r < t.rows; r++) {
      lse[h * t.rows + r] = merged.lse[h * t.rows + r]! + slope * alibiRowShift(d, t.b, d.qStart + t.row0 + r);
    }
  }
  return { ...merged, lse };
}

/** Allocates the full result of `d` (or uses the caller's `out`). */
export function allocateResult(d: AttentionDescriptor): AttentionResult {
  const output = d.out ?? new Float32Array(d.b * d.hq * d.nq * d.dv);
  const shape: [number, number, number, number] = d.layout === 'BHND' ? [d.b, d.hq, d.nq, d.dv] : [d.b, d.nq, d.hq, d.dv];
  const result: AttentionResult = { output, shape };
  if (d.returnLse) result.lse = new Float32Array(d.b * d.hq * d.nq);
  if (d.returnWeights) result.weights = new Float32Array(d.b * d.hq * d.nq * d.nk);
  return result;
}

/** Writes one block's output (all keys covered) into the full result. */
export function scatterBlock(d: AttentionDescriptor, t: TaskRange, part: TaskOutput, into: AttentionResult): void {
  const ratio = d.hq / d.hkv;
  const hq0 = t.kvHead0 * ratio;
  const hq = t.kvHeads * ratio;
  const s = d.o;
  for (let h = 0; h < hq; h++) {
    const row0 = h * t.rows; // first row of this head in the part
    const flat0 = (t.b * d.hq + hq0 + h) * d.nq + t.row0; // and in the [B, Hq, Nq] order of lse / weights
    const dst0 = t.b * s.batch + (hq0 + h) * s.head + t.row0 * s.row;
    if (s.row === d.dv) {
      // Contiguous output rows (BHND): one copy per head instead of one per row.
      into.output.set(part.output.subarray(row0 * d.dv, (row0 + t.rows) * d.dv), dst0);
    } else {
      for (let r = 0; r < t.rows; r++) {
        into.output.set(part.output.subarray((row0 + r) * d.dv, (row0 + r + 1) * d.dv), dst0 + r * s.row);
      }
    }
    if (into.lse) into.lse.set(part.lse!.subarray(row0, row0 + t.rows), flat0);
    if (into.weights) into.weights.set(part.weights!.subarray(row0 * d.nk, (row0 + t.rows) * d.nk), flat0 * d.nk);
  }
}
