/**
 * The seeded random projections of the approximate variants, drawn in TypeScript and passed to the kernel, so the
 * float64 reference uses exactly the same features.
 *
 * Generator: mulberry32 (32-bit state; the seed is mixed once with a multiply so nearby seeds differ), uniform
 * u = next / 2³², Gaussians by Box–Muller: two uniforms u1, u2 give r·cos θ then r·sin θ, r = √(−2 ln(u1 + 2⁻³³)),
 * θ = 2π·u2. Its output for a seed is part of the API: a seed gives the same projection in every runtime.
 */

export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private spare = NaN;

  /** Standard normal. */
  gaussian(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = NaN;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform() + 2 ** -33));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Fills `out` with standard normals times `sd`. */
  fillGaussian(out: Float32Array | Float64Array, sd = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = this.gaussian() * sd;
  }
}

/**
 * Positive orthogonal random features' projection [features, dk] (row a = ω_a): blocks of dk rows, each block the
 * Gram–Schmidt orthonormalisation of a dk × dk Gaussian matrix, each row then scaled by the norm of an independent
 * dk-dimensional Gaussian vector (so every row is marginally N(0, I) while rows of a block stay orthogonal);
 * the last block is cut to the remaining rows.
 */
export function performerProjection(features: number, dk: number, seed = 0): Float32Array {
  const rng = new SeededRandom(seed);
  const out = new Float32Array(features * dk);
  for (let a0 = 0; a0 < features; a0 += dk) {
    const block: Float64Array[] = [];
    for (let r = 0; r < dk; r++) {
      const x = new Float64Array(dk);
      rng.fillGaussian(x);
      for (const y of block) {
        let p = 0;
        for (let c = 0; c < dk; c++) p += x[c]! * y[c]!;
        for (let c = 0; c < dk; c++) x[c]! -= p * y[c]!;
      }
      let n = 0;
      for (let c = 0; c < dk; c++) n += x[c]! * x[c]!;
      n = Math.sqrt(n);
      for (let c = 0; c < dk; c++) x[c]! /= n;
      block.push(x);
    }
    for (let r = 0; r < dk && a0 + r < features; r++) {
      let n = 0;
      for (let c = 0; c < dk; c++) n += rng.gaussian() ** 2;
      const len = Math.sqrt(n);
      for (let c = 0; c < dk; c++) out[(a0 + r) * dk + c] = block[r]![c]! * len;
    }
  }
  return out;
}

/** Linformer's E and F, [rows, nk] each, entries N(0, 1/rows) (E drawn first, then F). */
export function linformerProjection(rows: number, nk: number, seed = 0): { e: Float32Array; f: Float32Array } {
  const rng = new SeededRandom(seed);
  const sd = 1 / Math.sqrt(rows);
  const e = new Float32Array(rows * nk);
  const f = new Float32Array(rows * nk);
  rng.fillGaussian(e, sd);
  rng.fillGaussian(f, sd);
  return { e, f };
}
