/**
 * The pieces of Reformer LSH attention the SDK owns: the seeded random rotations (drawn here and passed to the kernel,
 * so the float64 reference hashes with exactly the same ones), the bucket of a row (shared by the reference: the
 * definition fixes the f32 order of the sums, so kernel and reference agree bit for bit on every bucket), and the
 * check that `k` is `q` (shared-QK: the keys are the normalised queries).
 */
import type { AttentionDescriptor, StridedView } from '../descriptor.js';
import { fail } from '../validate/tensor.js';
import { SeededRandom } from './random.js';

/** Default chunk length (Reformer's). */
export const DEFAULT_LSH_CHUNK = 64;
/** Largest number of hash rounds (crate/src/variants/check.rs MAX_ROUNDS). */
export const MAX_LSH_ROUNDS = 64;

/**
 * The rotations of `rounds` hash rounds, [rounds, dk, buckets / 2] row-major, entries N(0, 1) from `seed` (the
 * generator of `performerProjection`; round 0 first). `buckets` must be even.
 */
export function lshRotations(rounds: number, dk: number, buckets: number, seed = 0): Float32Array {
  const out = new Float32Array(rounds * dk * (buckets / 2));
  new SeededRandom(seed).fillGaussian(out);
  return out;
}

/**
 * Bucket of row `x` (Dk values, f32) in round `r`: u_a = Σ_c x_c·R_r[c, a] summed in f32 over c = 0, 1, … (each
 * product and each partial sum rounded to f32, as the kernel's SIMD lanes do), then the index of the first maximum
 * of [u; −u].
 */
export function lshBucket(x: ArrayLike<number>, rotations: Float32Array, dk: number, buckets: number, r: number): number {
  const half = buckets / 2;
  const base = r * dk * half;
  const f = Math.fround;
  const u = new Float32Array(half);
  for (let a = 0; a < half; a++) {
    let acc = 0;
    for (let c = 0; c < dk; c++) acc = f(acc + f(x[c]! * rotations[base + c * half + a]!));
    u[a] = acc;
  }
  let best = 0;
  let bv = u[0]!;
  for (let a = 1; a < half; a++) if (u[a]! > bv) { best = a; bv = u[a]!; }
  for (let a = 0; a < half; a++) if (-u[a]! > bv) { best = half + a; bv = -u[a]!; }
  return best;
}

function sameValues(a: StridedView<Float32Array>, b: StridedView<Float32Array>, d: AttentionDescriptor): boolean {
  const same = a.data === b.data && a.strides.batch === b.strides.batch && a.strides.head === b.strides.head && a.strides.row === b.strides.row;
  if (same) return true;
  for (let bi = 0; bi < d.b; bi++) {
    for (let h = 0; h < d.hq; h++) {
      for (let i = 0; i < d.nq; i++) {
        const x = bi * a.strides.batch + h * a.strides.head + i * a.strides.row;
        const y = bi * b.strides.batch + h * b.strides.head + i * b.strides.row;
        for (let c = 0; c < d.dk; c++) {
          const s = a.data[x + c]!;
          const t = b.data[y + c]!;
          if (s !== t && !(Number.isNaN(s) && Number.isNaN(t))) return false;
        }
      }
    }
  }
  return true;
}

/** Shared-QK: `k` must be `q` (same shape and values; the kernel reads only q). */
export function checkSharedQK(d: AttentionDescriptor): void {
  const expected = "k equal to q (variant 'lsh' shares queries and keys: the keys are the normalised queries)";
  if (d.nk !== d.nq || d.hkv !== d.hq) {
    fail('INVALID_OPTION', 'k', expected, `k with ${d.hkv} heads × ${d.nk} rows, q with ${d.hq} heads × ${d.nq} rows`);
  }
  if (!sameValues(d.q, d.k, d)) fail('INVALID_OPTION', 'k', expected, 'k with other values than q');
}
