/**
 * Compiles a normalised pattern into the block mask the exact kernel walks: per query block of BQ global positions,
 * the key blocks of BK keys, sorted, each FULL (the pattern allows every pair of the block) or PARTIAL (some pairs:
 * the kernel evaluates the per-element rule). Blocks no part touches are not listed (skipped). Cost O(query blocks ×
 * key blocks + window reach + globals + CSR entries); nothing per pair.
 */
import { KIND_FULL, KIND_PARTIAL, SPARSE_BK, SPARSE_BQ, type SparseSpec } from './types.js';

export type SparsePattern = Omit<SparseSpec, 'blockRows' | 'rowPtr' | 'idx' | 'kind'>;

export function compileBlockMask(p: SparsePattern, nqFull: number, nkFull: number): SparseSpec {
  const rows = Math.ceil(nqFull / SPARSE_BQ);
  const cols = Math.ceil(nkFull / SPARSE_BK);
  const state = new Uint8Array(cols);
  const mark = (c: number, kind: number): void => {
    if (kind > 0 && (state[c] === 0 || kind === KIND_FULL)) state[c] = kind;
  };
  const rowPtr = new Uint32Array(rows + 1);
  const idx: number[] = [];
  const kind: number[] = [];
  const globalKeyBlocks = [...new Set(Array.from(p.globals, (g) => Math.floor(g / SPARSE_BK)).filter((c) => c < cols))];

  for (let r = 0; r < rows; r++) {
    state.fill(0);
    const q0 = r * SPARSE_BQ;
    const q1 = Math.min(q0 + SPARSE_BQ, nqFull);
    // Global query rows: all of them global → every block FULL; some → every block PARTIAL.
    const globalRows = lowerBound(p.globals, q1) - lowerBound(p.globals, q0);
    if (globalRows > 0) {
      for (let c = 0; c < cols; c++) mark(c, globalRows === q1 - q0 ? KIND_FULL : KIND_PARTIAL);
    }
    for (const c of globalKeyBlocks) mark(c, KIND_PARTIAL);
    if (p.window >= 0) {
      const reach = p.window * p.dilation;
      const lo = Math.max(0, q0 + p.shift - reach);
      const hi = Math.min(nkFull - 1, q1 - 1 + p.shift + reach);
      for (let c = Math.floor(lo / SPARSE_BK); lo <= hi && c <= Math.floor(hi / SPARSE_BK); c++) {
        const k0 = c * SPARSE_BK;
        const k1 = Math.min(k0 + SPARSE_BK, nkFull) - 1;
        // With dilation 1, the block is inside every row's window when the last row's reach starts before it and
        // the first row's reach ends after it.
        const full = p.dilation === 1 && q1 - 1 + p.shift - reach <= k0 && q0 + p.shift + reach >= k1;
        mark(c, full ? KIND_FULL : KIND_PARTIAL);
      }
    }
    const l = p.layout;
    if (l) {
      const lr0 = Math.floor(q0 / l.bq);
      const lr1 = Math.floor((q1 - 1) / l.bq);
      for (let c = 0; c < cols; c++) {
        const lc0 = Math.floor((c * SPARSE_BK) / l.bk);
        const lc1 = Math.floor((Math.min((c + 1) * SPARSE_BK, nkFull) - 1) / l.bk);
        let set = 0;
        for (let lr = lr0; lr <= lr1; lr++) for (let lc = lc0; lc <= lc1; lc++) if (l.data[lr * l.cols + lc] !== 0) set++;
        if (set > 0) mark(c, set === (lr1 - lr0 + 1) * (lc1 - lc0 + 1) ? KIND_FULL : KIND_PARTIAL);
      }
    }
    if (p.csr) {
      const { rowPtr: rp, colIdx } = p.csr;
      for (let t = rp[q0]!; t < rp[q1]!; t++) mark(Math.floor(colIdx[t]! / SPARSE_BK), KIND_PARTIAL);
    }
    for (let c = 0; c < cols; c++) {
      if (state[c] !== 0) { idx.push(c); kind.push(state[c]!); }
    }
    rowPtr[r + 1] = idx.length;
  }
  return { ...p, blockRows: rows, rowPtr, idx: Uint32Array.from(idx), kind: Uint8Array.from(kind) };
}

/** The first index of sorted `a` whose value is ≥ x. */
function lowerBound(a: Uint32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
