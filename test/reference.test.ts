/**
 * Checks the float64 reference against facts computed here by hand, so that the oracle of the other suites is not
 * trusted blindly. Problems are tiny and written out explicitly.
 */
import { describe, expect, it } from 'vitest';
import { referenceAttention, referenceFromDescriptor, REFERENCE_MAX_WEIGHTS } from '../ts/reference/attention.js';
import { buildDescriptor } from '../ts/spec.js';
import type { AttentionOptions } from '../ts/types.js';
import { generateCases } from './cases.js';
import { Rng } from './rng.js';

const T = (data: Float32Array, shape: number[]) => ({ data, shape });

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue; // also equal infinities
    const d = Math.abs(a[i]! - b[i]!);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

/** Random BHND tensor with f32 values in [−1, 1]. */
function rand(rng: Rng, shape: number[]) {
  return T(rng.fill(new Float32Array(shape.reduce((a, x) => a * x, 1))), shape);
}

const dot = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, n: number): number => {
  let s = 0;
  for (let c = 0; c < n; c++) s += a[ao + c]! * b[bo + c]!;
  return s;
};

/** Softmax of `s` over the indices where `keep` is true, written the naive way (small logits only). */
function naiveSoftmax(s: number[], keep: boolean[]): number[] {
  const e = s.map((x, j) => (keep[j] ? Math.exp(x) : 0));
  const z = e.reduce((a, x) => a + x, 0);
  return e.map((x) => x / z);
}

/** Copies a [B, H, N, D] tensor into [B, N, H, D]. */
function toBNHD(x: ArrayLike<number>, b: number, h: number, n: number, d: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let bi = 0; bi < b; bi++)
    for (let hi = 0; hi < h; hi++)
      for (let i = 0; i < n; i++)
        for (let c = 0; c < d; c++) y[((bi * n + i) * h + hi) * d + c] = x[((bi * h + hi) * n + i) * d + c]!;
  return y;
}

describe('float64 reference attention', () => {
  it('with one query and one key returns v, weight 1 and lse = q·k·scale', () => {
    const q = T(Float32Array.of(0.5, -0.25, 1), [1, 1, 1, 3]);
    const k = T(Float32Array.of(0.75, 0.5, -1), [1, 1, 1, 3]);
    const v = T(Float32Array.of(0.3, -0.7), [1, 1, 1, 2]);
    const r = referenceAttention(q, k, v);
    expect(Array.from(r.output)).toEqual([Math.fround(0.3), Math.fround(-0.7)]);
    expect(Array.from(r.weights)).toEqual([1]);
    expect(Math.abs(r.lse[0]! - (0.375 - 0.125 - 1) / Math.sqrt(3))).toBeLessThan(1e-15);
    expect(r.shape).toEqual([1, 1, 1, 2]);
  });

  it('with identical keys averages v uniformly and lse = s + ln Nk', () => {
    const rng = new Rng(3);
    const nk = 5, d = 4;
    const q = rand(rng, [1, 1, 2, d]);
    const key = rng.fill(new Float32Array(d));
    const k = T(new Float32Array(nk * d), [1, 1, nk, d]);
    for (let j = 0; j < nk; j++) k.data.set(key, j * d);
    const v = rand(rng, [1, 1, nk, 3]);
    const r = referenceAttention(q, k, v, { scale: 0.7 });
    for (let i = 0; i < 2; i++) {
      for (let c = 0; c < 3; c++) {
        let mean = 0;
        for (let j = 0; j < nk; j++) mean += v.data[j * 3 + c]! / nk;
        expect(Math.abs(r.output[i * 3 + c]! - mean)).toBeLessThan(1e-15);
      }
      const s = 0.7 * dot(q.data, i * d, key, 0, d);
      expect(Math.abs(r.lse[i]! - (s + Math.log(nk)))).toBeLessThan(1e-14);
      for (let j = 0; j < nk; j++) expect(Math.abs(r.weights[i * nk + j]! - 1 / nk)).toBeLessThan(1e-15);
    }
  });

  it('causal top-left: row 0 of every head is v[0] of its kv head', () => {
    const rng = new Rng(4);
    const [b, h, n, d] = [2, 3, 6, 5];
    const q = rand(rng, [b, h, n, d]);
    const k = rand(rng, [b, h, n, d]);
    const v = rand(rng, [b, h, n, d]);
    for (const causal of [true, 'top-left'] as const) {
      const r = referenceAttention(q, k, v, { causal });
      for (let bh = 0; bh < b * h; bh++) {
        for (let c = 0; c < d; c++) expect(r.output[bh * n * d + c]).toBe(v.data[bh * n * d + c]);
      }
    }
  });

  it('aligns the causal diagonal top-left or bottom-right when Nq = 2, Nk = 4', () => {
    const rng = new Rng(5);
    const d = 3;
    const q = rand(rng, [1, 1, 2, d]);
    const k = rand(rng, [1, 1, 4, d]);
    const v = rand(rng, [1, 1, 4, 2]);
    const scale = 1 / Math.sqrt(d);
    // top-left: row 0 sees key 0, row 1 keys 0–1. bottom-right: row 0 sees keys 0–2, row 1 keys 0–3.
    const expectedKeys = { 'top-left': [1, 2], 'bottom-right': [3, 4] } as const;
    for (const align of ['top-left', 'bottom-right'] as const) {
      const r = referenceAttention(q, k, v, { causal: align });
      for (let i = 0; i < 2; i++) {
        const s = [0, 1, 2, 3].map((j) => scale * dot(q.data, i * d, k.data, j * d, d));
        const w = naiveSoftmax(s, [0, 1, 2, 3].map((j) => j < expectedKeys[align][i]!));
        for (let j = 0; j < 4; j++) expect(Math.abs(r.weights[i * 4 + j]! - w[j]!)).toBeLessThan(1e-15);
        for (let c = 0; c < 2; c++) {
          const o = w.reduce((a, wj, j) => a + wj * v.data[j * 2 + c]!, 0);
          expect(Math.abs(r.output[i * 2 + c]! - o)).toBeLessThan(1e-15);
        }
      }
    }
  });

  it('a window [diag − 1, diag + 1] keeps a band of three keys', () => {
    const rng = new Rng(6);
    const n = 6, d = 4;
    const q = rand(rng, [1, 1, n, d]);
    const k = rand(rng, [1, 1, n, d]);
    const v = rand(rng, [1, 1, n, d]);
    const r = referenceAttention(q, k, v, { window: { left: 1, right: 1 } });
    const band = new Uint8Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) band[i * n + j] = Math.abs(i - j) <= 1 ? 1 : 0;
    const m = referenceAttention(q, k, v, { mask: { data: band, shape: [n, n] } });
    expect(maxDiff(r.output, m.output)).toBe(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (Math.abs(i - j) > 1) expect(r.weights[i * n + j]).toBe(0);
  });

  it('softcap applies c·tanh(s/c) before the bias', () => {
    const rng = new Rng(7);
    const d = 4, nk = 3, c = 1.5;
    const q = rand(rng, [1, 1, 1, d]);
    const k = rand(rng, [1, 1, nk, d]);
    const v = rand(rng, [1, 1, nk, 1]);
    const bias = T(Float32Array.of(0.5, -1, 2), [1, nk]);
    const r = referenceAttention(q, k, v, { scale: 3, softcap: c, bias });
    const s = [0, 1, 2].map((j) => c * Math.tanh((3 * dot(q.data, 0, k.data, j * d, d)) / c) + bias.data[j]!);
    const w = naiveSoftmax(s, [true, true, true]);
    for (let j = 0; j < nk; j++) expect(Math.abs(r.weights[j]! - w[j]!)).toBeLessThan(1e-15);
    expect(Math.abs(r.lse[0]! - Math.log(s.reduce((a, x) => a + Math.exp(x), 0)))).toBeLessThan(1e-14);
  });

  it('cosine similarity ignores the lengths of q and k and divides by the temperature', () => {
    const rng = new Rng(8);
    const [n, d] = [4, 6];
    const q = rand(rng, [1, 2, n, d]);
    const k = rand(rng, [1, 2, n, d]);
    const v = rand(rng, [1, 2, n, d]);
    const unit = (x: Float32Array): Float32Array => {
      const y = new Float32Array(x.length);
      for (let r = 0; r < x.length / d; r++) {
        const norm = Math.sqrt(dot(x, r * d, x, r * d, d));
        for (let c = 0; c < d; c++) y[r * d + c] = x[r * d + c]! / norm;
      }
      return y;
    };
    const cos = referenceAttention(q, k, v, { similarity: 'cosine', temperature: 0.25 });
    // Unit rows rounded to f32 are unit only to ~1e-7, hence the tolerance.
    const viaDot = referenceAttention(T(unit(q.data), q.shape), T(unit(k.data), k.shape), v, { scale: 4 });
    expect(maxDiff(cos.output, viaDot.output)).toBeLessThan(1e-6);
    const scaled = T(q.data.map((x) => x * 8), q.shape);
    const cos2 = referenceAttention(scaled, k, v, { similarity: 'cosine', temperature: 0.25 });
    expect(maxDiff(cos.output, cos2.output)).toBeLessThan(1e-12);
    // A zero query row has similarity 0 with every key: uniform weights, no NaN.
    const zero = T(new Float32Array(q.data.length), q.shape);
    const z = referenceAttention(zero, k, v, { similarity: 'cosine' });
    for (const w of z.weights) expect(Math.abs(w - 1 / n)).toBeLessThan(1e-15);
  });

  it('weights rows sum to 1, lse is ln Σ exp of the allowed logits, and empty rows are zero', () => {
    let worstSum = 0;
    let emptyRowMass = 0;
    let nonFinite = 0;
    for (const c of generateCases(11, 60)) {
      const r = referenceAttention(c.q, c.k, c.v, c.options);
      const nk = buildDescriptor(c.q, c.k, c.v, c.options).nk;
      for (let row = 0; row < r.lse.length; row++) {
        let sum = 0;
        for (let j = 0; j < nk; j++) sum += r.weights[row * nk + j]!;
        if (r.lse[row] === -Infinity) emptyRowMass = Math.max(emptyRowMass, sum);
        else if (!Number.isFinite(r.lse[row]!)) nonFinite++;
        else worstSum = Math.max(worstSum, Math.abs(sum - 1));
      }
      for (const x of r.output) if (!Number.isFinite(x)) nonFinite++;
    }
    expect(worstSum).toBeLessThan(1e-12);
    expect(emptyRowMass).toBe(0);
    expect(nonFinite).toBe(0);
  });

  it('lse equals log Σ exp computed directly from the logits', () => {
    const rng = new Rng(12);
    const [h, nq, nk, d] = [2, 3, 7, 5];
    const q = rand(rng, [1, h, nq, d]);
    const k = rand(rng, [1, h, nk, d]);
    const v = rand(rng, [1, h, nk, d]);
    const r = referenceAttention(q, k, v, { scale: 0.9 });
    for (let hi = 0; hi < h; hi++) {
      for (let i = 0; i < nq; i++) {
        let z = 0;
        for (let j = 0; j < nk; j++) z += Math.exp(0.9 * dot(q.data, (hi * nq + i) * d, k.data, (hi * nk + j) * d, d));
        expect(Math.abs(r.lse[hi * nq + i]! - Math.log(z))).toBeLessThan(1e-14);
      }
    }
  });

  it('GQA equals MHA with the kv heads repeated explicitly', () => {
    const rng = new Rng(13);
    const [b, hq, hkv, nq, nk, d] = [2, 6, 2, 5, 9, 4];
    const q = rand(rng, [b, hq, nq, d]);
    const k = rand(rng, [b, hkv, nk, d]);
    const v = rand(rng, [b, hkv, nk, d]);
    const repeat = (x: Float32Array): Float32Array => {
      const y = new Float32Array(b * hq * nk * d);
      for (let bi = 0; bi < b; bi++)
        for (let h = 0; h < hq; h++) y.set(x.subarray((bi * hkv + Math.floor(h / 3)) * nk * d, (bi * hkv + Math.floor(h / 3) + 1) * nk * d), (bi * hq + h) * nk * d);
      return y;
    };
    const opts: AttentionOptions = { causal: 'bottom-right', returnLse: true };
    const gqa = referenceAttention(q, k, v, opts);
    const mha = referenceAttention(q, T(repeat(k.data), [b, hq, nk, d]), T(repeat(v.data), [b, hq, nk, d]), opts);
    expect(maxDiff(gqa.output, mha.output)).toBe(0);
    expect(maxDiff(gqa.lse, mha.lse)).toBe(0);
  });

  it('BNHD gives the BHND result transposed', () => {
    const rng = new Rng(14);
    const [b, hq, hkv, nq, nk, dk, dv] = [2, 4, 2, 3, 5, 6, 7];
    const q = rand(rng, [b, hq, nq, dk]);
    const k = rand(rng, [b, hkv, nk, dk]);
    const v = rand(rng, [b, hkv, nk, dv]);
    const opts: AttentionOptions = { causal: 'bottom-right', window: { left: 2 } };
    const a = referenceAttention(q, k, v, opts);
    const t = referenceAttention(
      T(Float32Array.from(toBNHD(q.data, b, hq, nq, dk)), [b, nq, hq, dk]),
      T(Float32Array.from(toBNHD(k.data, b, hkv, nk, dk)), [b, nk, hkv, dk]),
      T(Float32Array.from(toBNHD(v.data, b, hkv, nk, dv)), [b, nk, hkv, dv]),
      { ...opts, layout: 'BNHD' },
    );
    expect(t.shape).toEqual([b, nq, hq, dv]);
    // Same float64 sums in the same order: bit-identical.
    expect(maxDiff(t.output, toBNHD(a.output, b, hq, nq, dv))).toBe(0);
    expect(maxDiff(t.lse, a.lse)).toBe(0);
    expect(maxDiff(t.weights, a.weights)).toBe(0);
  });

  it('a mask equals a bias of −∞ on the masked keys, and broadcast shapes equal the tiled mask', () => {
    const rng = new Rng(15);
    const [b, h, nq, nk, d] = [2, 3, 4, 6, 5];
    const q = rand(rng, [b, h, nq, d]);
    const k = rand(rng, [b, h, nk, d]);
    const v = rand(rng, [b, h, nk, d]);
    const small = new Uint8Array(h * nq * nk).map(() => (rng.chance(0.6) ? 1 : 0));
    const tiled = new Uint8Array(b * h * nq * nk);
    for (let bi = 0; bi < b; bi++) tiled.set(small, bi * small.length);
    const bias = new Float32Array(tiled.length).map((_, i) => (tiled[i] ? 0 : -Infinity));
    const viaMask = referenceAttention(q, k, v, { mask: { data: small, shape: [h, nq, nk] }, returnLse: true });
    const viaTiled = referenceAttention(q, k, v, { mask: { data: tiled, shape: [b, h, nq, nk] }, returnLse: true });
    const viaBias = referenceAttention(q, k, v, { bias: T(bias, [b, h, nq, nk]), returnLse: true });
    expect(maxDiff(viaMask.output, viaTiled.output)).toBe(0);
    expect(maxDiff(viaMask.output, viaBias.output)).toBe(0);
    expect(maxDiff(viaMask.lse, viaBias.lse)).toBe(0);
    // keyLengths equals a mask that drops the tail keys.
    const kl = [4, 1];
    const tail = new Uint8Array(b * nq * nk).map((_, i) => (i % nk < kl[Math.floor(i / (nq * nk))]! ? 1 : 0));
    const viaLengths = referenceAttention(q, k, v, { keyLengths: kl });
    const viaTail = referenceAttention(q, k, v, { mask: { data: tail, shape: [b, 1, nq, nk] } });
    expect(maxDiff(viaLengths.output, viaTail.output)).toBe(0);
  });

  it('query padding rows give 0 and lse −∞; the valid rows are unchanged', () => {
    const rng = new Rng(16);
    const [b, h, n, d] = [2, 2, 5, 3];
    const q = rand(rng, [b, h, n, d]);
    const k = rand(rng, [b, h, n, d]);
    const v = rand(rng, [b, h, n, d]);
    const full = referenceAttention(q, k, v, { causal: true, returnLse: true });
    const padded = referenceAttention(q, k, v, { causal: true, queryLengths: [3, 0], returnLse: true });
    for (let bi = 0; bi < b; bi++)
      for (let hi = 0; hi < h; hi++)
        for (let i = 0; i < n; i++) {
          const row = (bi * h + hi) * n + i;
          const valid = i < [3, 0][bi]!;
          expect(padded.lse[row]).toBe(valid ? full.lse[row] : -Infinity);
          for (let c = 0; c < d; c++) expect(padded.output[row * d + c]).toBe(valid ? full.output[row * d + c] : 0);
        }
  });

  it('an allowed key with a −∞ bias on every key gives an empty row, not NaN', () => {
    const q = T(Float32Array.of(1, 0, 0, 1), [1, 1, 2, 2]);
    const bias = T(Float32Array.of(-Infinity, -Infinity, 0, -Infinity), [2, 2]);
    const r = referenceAttention(q, q, q, { bias });
    expect(Array.from(r.output)).toEqual([0, 0, 1, 0]);
    expect(r.lse[0]).toBe(-Infinity);
  });

  it('row and key splits (qStart/kStart/nqFull/nkFull) reproduce the whole problem', () => {
    const rng = new Rng(17);
    const [nq, nk, d] = [7, 11, 4];
    const q = rand(rng, [1, 1, nq, d]);
    const k = rand(rng, [1, 1, nk, d]);
    const v = rand(rng, [1, 1, nk, d]);
    const opts: AttentionOptions = { causal: 'bottom-right', window: { left: 5 }, returnLse: true };
    const whole = referenceAttention(q, k, v, opts);
    const base = buildDescriptor(q, k, v, opts);
    // Rows 3..6 alone.
    const rows = referenceFromDescriptor({
      ...base, nq: 4, qStart: 3, nqFull: nq,
      q: { data: q.data.subarray(3 * d), strides: base.q.strides },
      o: { batch: 4 * d, head: 4 * d, row: d },
    });
    expect(maxDiff(rows.output, whole.output.subarray(3 * d))).toBe(0);
    // Keys 0..5 and 6..10 separately, merged by log-sum-exp.
    const part = (k0: number, n: number) => referenceFromDescriptor({
      ...base, nk: n, kStart: k0, nkFull: nk,
      k: { data: k.data.subarray(k0 * d), strides: base.k.strides },
      v: { data: v.data.subarray(k0 * d), strides: base.v.strides },
    });
    const [a, c] = [part(0, 6), part(6, 5)];
    for (let i = 0; i < nq; i++) {
      const l = Math.log(Math.exp(a.lse[i]!) + Math.exp(c.lse[i]!));
      expect(Math.abs(l - whole.lse[i]!)).toBeLessThan(1e-14);
      for (let x = 0; x < d; x++) {
        const o = Math.exp(a.lse[i]! - l) * a.output[i * d + x]! + Math.exp(c.lse[i]! - l) * c.output[i * d + x]!;
        expect(Math.abs(o - whole.output[i * d + x]!)).toBeLessThan(1e-14);
      }
    }
  });

  it('refuses problems whose weights would not fit', () => {
    const one = (n: number) => T(new Float32Array(n), [1, 1, n, 1]);
    const n = Math.ceil(Math.sqrt(REFERENCE_MAX_WEIGHTS)) + 1;
    expect(() => referenceAttention(one(n), one(n), one(n))).toThrow(/reference limit/);
  });
});
