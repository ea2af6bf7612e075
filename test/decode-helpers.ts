/** Shared helpers of the decode tests: seeded tensors, max-abs comparison, and catching an AttentionError. */
import { uniform } from './rng.js';

export const tensor = (data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } => ({ data, shape });

/** A BHND [1, h, n, d] tensor of values uniform in [−1, 1). */
export function randomTensor(seed: number, h: number, n: number, d: number): { data: Float32Array; shape: number[] } {
  return tensor(uniform(seed, h * n * d), [1, h, n, d]);
}

/** Rows [from, to) of a BHND [1, h, n, d] tensor (a copy). */
export function sliceRows(t: { data: Float32Array; shape: number[] }, from: number, to: number): { data: Float32Array; shape: number[] } {
  const [, h, n, d] = t.shape as [number, number, number, number];
  const out = new Float32Array(h * (to - from) * d);
  for (let x = 0; x < h; x++) out.set(t.data.subarray((x * n + from) * d, (x * n + to) * d), x * (to - from) * d);
  return tensor(out, [1, h, to - from, d]);
}

/** Max |a − b|; Infinity when lengths differ or a NaN / infinity does not match exactly. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (x !== y) return Infinity;
      continue;
    }
    m = Math.max(m, Math.abs(x - y));
  }
  return m;
}

/** The error `fn` throws (fails the test if it returns). */
export function thrown(fn: () => unknown): { code?: string; argument?: string; message: string; name: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; argument?: string; message: string; name: string };
  }
  throw new Error('expected an error, none was thrown');
}
