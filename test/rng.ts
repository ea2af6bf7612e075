/**
 * A small seeded PRNG for the tests (mulberry32: 32-bit state, one add and a few xorshift-multiplies per draw).
 * Not for cryptography; only for reproducible inputs.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed once so that nearby seeds (1, 2, 3…) start far apart.
    this.state = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of randomness. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  float(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Fills `out` with values uniform in [lo, hi) and returns it. */
  fill<T extends Float32Array | Float64Array>(out: T, lo = -1, hi = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = this.float(lo, hi);
    return out;
  }
}

/** `n` float32 values uniform in [lo, hi), deterministic for `seed`. */
export function uniform(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  return new Rng(seed).fill(new Float32Array(n), lo, hi);
}
