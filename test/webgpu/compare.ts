/** Max-abs-error comparison of a backend's f32 result against the float64 reference (−∞ must match exactly, NaN
 * never matches; LSE errors are relative to max(1, |want|), as in test/attention.test.ts). */
import type { AttentionResult, ReferenceResult } from '../../ts/index.js';

export interface Errors {
  output: number;
  lse: number;
  weights: number;
  /** The first element over the tolerance, described; '' when none. */
  first: string;
}

function maxErr(what: string, got: ArrayLike<number> | undefined, want: ArrayLike<number>, tol: number, logScale: boolean, e: Errors): number {
  if (!got || got.length !== want.length) {
    if (!e.first) e.first = `${what}: length ${got?.length} instead of ${want.length}`;
    return Infinity;
  }
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    let d: number;
    if (!Number.isFinite(w) || !Number.isFinite(g)) d = g === w ? 0 : Infinity;
    else d = Math.abs(g - w) / (logScale ? Math.max(1, Math.abs(w)) : 1);
    if (d > tol && !e.first) e.first = `${what}[${i}]: got ${g}, want ${w}`;
    if (!(d <= m)) m = d;
  }
  return m;
}

export function errorsVsReference(got: AttentionResult, ref: ReferenceResult, want: { lse?: boolean; weights?: boolean }, tol: number): Errors {
  const e: Errors = { output: 0, lse: 0, weights: 0, first: '' };
  e.output = maxErr('output', got.output, ref.output, tol, false, e);
  if (want.lse) e.lse = maxErr('lse', got.lse, ref.lse, tol, true, e);
  if (want.weights) e.weights = maxErr('weights', got.weights, ref.weights, tol, false, e);
  return e;
}
