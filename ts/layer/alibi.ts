/**
 * ALiBi slopes (Press et al., "Train Short, Test Long", reference implementation `get_slopes`): for H a power of
 * two, slope_h = 2^(−8(h+1)/H); otherwise the slopes of the nearest lower power of two P, then every other slope of
 * 2P for the remaining H − P heads. The kernel adds slope_h·(j − diag) to the logits (see `alibi` in attention()).
 */
export function alibiSlopes(heads: number): Float32Array {
  if (!Number.isInteger(heads) || heads < 1) throw new RangeError(`alibiSlopes: heads must be a positive integer, got ${heads}`);
  return Float32Array.from(slopes(heads));
}

function powerOfTwoSlopes(n: number): number[] {
  const start = 2 ** (-8 / n);
  return Array.from({ length: n }, (_, i) => start ** (i + 1));
}

function slopes(n: number): number[] {
  const p = 2 ** Math.floor(Math.log2(n));
  if (p === n) return powerOfTwoSlopes(n);
  return [...powerOfTwoSlopes(p), ...slopes(2 * p).filter((_, i) => i % 2 === 0).slice(0, n - p)];
}
