/** Helpers shared by the layer tests: max abs difference (NaN and mismatched infinities count as Infinity). */
export function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (g === w) continue;
    const d = Math.abs(g - w);
    if (!(d <= m)) m = d;
  }
  return m;
}
