/**
 * BigBird's random blocks, seeded: mulberry32 (the generator of test/rng.ts, same seeding), so the SDK, the kernel
 * (which receives the drawn blocks) and the float64 reference all use the same blocks.
 */

/** Uniform numbers in [0, 1) from `seed` (identical to test/rng.ts `Rng.next`). */
export function mulberry32(seed: number): () => number {
  let state = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sets `count` distinct random key blocks per query block in `layout` [rows, cols] (partial Fisher–Yates per row;
 * count is capped at cols). */
export function addRandomBlocks(layout: Uint8Array, rows: number, cols: number, count: number, seed: number): void {
  const next = mulberry32(seed);
  const pick = Math.min(count, cols);
  const order = new Uint32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) order[c] = c;
    for (let t = 0; t < pick; t++) {
      const u = t + Math.floor(next() * (cols - t));
      const chosen = order[u]!;
      order[u] = order[t]!;
      order[t] = chosen;
      layout[r * cols + chosen] = 1;
    }
  }
}
