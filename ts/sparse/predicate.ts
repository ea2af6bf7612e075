/** The pattern's rule for one pair of global positions: the OR of its parts (crate/src/sparse/predicate.rs). */
import type { SparseSpec } from './types.js';

function has(sorted: Uint32Array, x: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === x;
}

/** Whether global query gi may attend global key gj under the pattern (before causal / window / mask / lengths). */
export function sparseAllowed(s: SparseSpec, gi: number, gj: number): boolean {
  if (s.window >= 0) {
    const dist = gi + s.shift - gj;
    if (Math.abs(dist) <= s.window * s.dilation && dist % s.dilation === 0) return true;
  }
  if (has(s.globals, gi) || has(s.globals, gj)) return true;
  const l = s.layout;
  if (l) {
    const r = Math.floor(gi / l.bq);
    const c = Math.floor(gj / l.bk);
    if (r < l.rows && c < l.cols && l.data[r * l.cols + c] !== 0) return true;
  }
  if (s.csr) {
    const { rowPtr, colIdx } = s.csr;
    for (let t = rowPtr[gi]!; t < rowPtr[gi + 1]!; t++) if (colIdx[t] === gj) return true;
  }
  return false;
}
