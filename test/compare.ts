/** Comparisons shared by the test files: largest differences between results and their references. */
import { expect } from 'vitest';
import { AttentionError } from '../ts/index.js';

/** The AttentionError code `call` throws (undefined when it returns; any other error is rethrown). */
export function codeOf(call: () => unknown): string | undefined {
  try {
    call();
  } catch (e) {
    if (e instanceof AttentionError) return e.code;
    throw e;
  }
  return undefined;
}

/** What `p` rejects with (the Deno shim of vitest has no `.rejects`); fails when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

/**
 * Largest |got − want| (divided by max(1, |want|) with `logScale`, for log-sum-exps); a non-finite value on either
 * side must be the same on the other (else Infinity). The lengths must match.
 */
export function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>, logScale = false): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (g !== w) return Infinity;
      continue;
    }
    m = Math.max(m, Math.abs(g - w) / (logScale ? Math.max(1, Math.abs(w)) : 1));
  }
  return m;
}

/** Largest |a − b| over finite values; a NaN difference (NaN on a side, or ∞ − ∞) counts as Infinity. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}
