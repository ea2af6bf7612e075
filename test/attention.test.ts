/**
 * The wasm kernel (through the public `attention()`) against the float64 reference on seeded cases covering every
 * option, plus the named edge cases. Budget: max abs error ≤ 1e-5 on output and weights, and on lse relative to
 * max(1, |lse|) (DESIGN.md).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { edgeCases, generateCases } from './cases.js';
import { uniform } from './rng.js';
import type { AttentionCase } from './cases.js';

const TOL = 1e-5;

interface Mismatch {
  max: number;
  /** First index over the tolerance (or with a wrong NaN / infinity), −1 if none. */
  first: number;
  got?: number;
  want?: number;
}

/**
 * Max abs difference; −∞ must match −∞ exactly, NaN never matches, and `tol` decides what is "bad". With `logScale`
 * the difference is divided by max(1, |want|): an f32 log-sum-exp of 200 cannot be closer than its half-ulp (7.6e-6).
 */
function compare(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, logScale = false): Mismatch {
  const r: Mismatch = { max: 0, first: -1 };
  const bad = (i: number, d: number): void => {
    r.max = Math.max(r.max, d);
    if (r.first < 0) Object.assign(r, { first: i, got: got[i], want: want[i] });
  };
  if (got.length !== want.length) {
    bad(0, Infinity);
    return r;
  }
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (g !== w) bad(i, Infinity);
      continue;
    }
    const d = Math.abs(g - w) / (logScale ? Math.max(1, Math.abs(w)) : 1);
    if (d > tol) bad(i, d);
    else r.max = Math.max(r.max, d);
  }
  return r;
}

/** "[b,h,i,c]" of a flat index into an array of the given 4-D (or 3-D) shape. */
function where(index: number, shape: readonly number[]): string {
  const out: number[] = [];
  for (let a = shape.length - 1; a >= 0; a--) {
    out.unshift(index % shape[a]!);
    index = Math.floor(index / shape[a]!);
  }
  return `[${out.join(',')}]`;
}

function describeMismatch(what: string, m: Mismatch, shape: readonly number[]): string {
  return `${what}: max err ${m.max.toExponential(3)}, first bad at ${where(m.first, shape)} got ${m.got} want ${m.want}`;
}

/** Byte copies of every typed array the case passes in (whole underlying buffers, to catch writes past a view). */
function snapshot(c: AttentionCase): { view: ArrayBufferView; bytes: Uint8Array }[] {
  const views: ArrayBufferView[] = [c.q.data, c.k.data, c.v.data];
  const o = c.options;
  if (o.mask) views.push(o.mask.data);
  if (o.bias) views.push(o.bias.data);
  for (const l of [o.queryLengths, o.keyLengths]) if (l && ArrayBuffer.isView(l)) views.push(l);
  return views.map((view) => ({ view, bytes: new Uint8Array(view.buffer.slice(0)) }));
}

function unchanged(snap: { view: ArrayBufferView; bytes: Uint8Array }[]): boolean {
  return snap.every(({ view, bytes }) => {
    const now = new Uint8Array(view.buffer);
    return now.length === bytes.length && now.every((x, i) => x === bytes[i]);
  });
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((bits, i) => bits === y[i]);
}

const cases = [...generateCases(20250101, 300), ...edgeCases()];
const worst = { output: 0, lse: 0, weights: 0, outputCase: '', lseCase: '', weightsCase: '' };

describe('wasm attention vs the float64 reference', () => {
  beforeAll(async () => {
    await init();
  });

  for (const c of cases) {
    it(c.name, () => {
      const before = snapshot(c);
      const got = attention(c.q, c.k, c.v, c.options);
      const ref = referenceAttention(c.q, c.k, c.v, c.options);
      expect(unchanged(before)).toBe(true);
      expect(got.shape).toEqual(ref.shape);
      const shape = ref.shape;

      const o = compare(got.output, ref.output, TOL);
      if (o.max > worst.output) Object.assign(worst, { output: o.max, outputCase: c.name });
      expect(o.first < 0 ? '' : describeMismatch('output', o, shape)).toBe('');

      if (c.options.returnLse) {
        expect(got.lse).toBeInstanceOf(Float32Array);
        const l = compare(got.lse!, ref.lse, TOL, true);
        if (l.max > worst.lse) Object.assign(worst, { lse: l.max, lseCase: c.name });
        expect(l.first < 0 ? '' : describeMismatch('lse', l, [ref.lse.length])).toBe('');
      }
      if (c.options.returnWeights) {
        expect(got.weights).toBeInstanceOf(Float32Array);
        const w = compare(got.weights!, ref.weights, TOL);
        if (w.max > worst.weights) Object.assign(worst, { weights: w.max, weightsCase: c.name });
        const nk = ref.weights.length / ref.lse.length;
        expect(w.first < 0 ? '' : describeMismatch('weights', w, [ref.lse.length, nk])).toBe('');
      }
    });
  }

  it('stays within the error budget over all cases (worst errors reported)', () => {
    console.log(
      `worst abs error vs float64 over ${cases.length} cases: ` +
        `output ${worst.output.toExponential(3)} (${worst.outputCase}); ` +
        `lse ${worst.lse.toExponential(3)} (${worst.lseCase}); ` +
        `weights ${worst.weights.toExponential(3)} (${worst.weightsCase})`,
    );
    expect(worst.output).toBeLessThanOrEqual(TOL);
    expect(worst.lse).toBeLessThanOrEqual(TOL);
    expect(worst.weights).toBeLessThanOrEqual(TOL);
  });

  it('writes into the `out` buffer, overwriting every element (padding rows included) and nothing else', () => {
    for (const c of cases.filter((_, i) => i % 9 === 0)) {
      const plain = attention(c.q, c.k, c.v, c.options);
      const n = plain.output.length;
      const backing = new Float32Array(n + 8).fill(12345);
      const out = backing.subarray(3, 3 + n);
      const opts: AttentionOptions = { ...c.options, out };
      const got = attention(c.q, c.k, c.v, opts);
      expect(got.output).toBe(out);
      expect(sameBits(out, plain.output)).toBe(true);
      expect(Array.from(backing.subarray(0, 3))).toEqual([12345, 12345, 12345]);
      expect(Array.from(backing.subarray(3 + n))).toEqual([12345, 12345, 12345, 12345, 12345]);
    }
  });

  it('gives bit-identical results on repeated calls', () => {
    for (const c of cases.filter((_, i) => i % 7 === 0)) {
      const opts: AttentionOptions = { ...c.options, returnLse: true };
      const a = attention(c.q, c.k, c.v, opts);
      const b = attention(c.q, c.k, c.v, opts);
      expect(sameBits(a.output, b.output)).toBe(true);
      expect(sameBits(a.lse!, b.lse!)).toBe(true);
    }
  });

  it('NaN in one query row makes that row NaN and leaves the other rows as they were', () => {
    const dims = (x: AttentionCase['q']): readonly number[] => ('shape' in x ? x.shape : x.dims);
    const o = (x: AttentionCase) => x.options;
    // A case where every row sees some key: no mask, bias, lengths, causal or window; BHND; at least two q rows.
    const c = cases.find((x) => !o(x).mask && !o(x).bias && !o(x).queryLengths && !o(x).keyLengths && !o(x).causal &&
      !o(x).window && o(x).layout !== 'BNHD' && x.q.data.length >= 2 * dims(x.q).at(-1)!)!;
    const clean = attention(c.q, c.k, c.v, c.options);
    const dk = dims(c.q).at(-1)!;
    const dv = clean.shape[3];
    const poisoned = c.q.data.slice();
    poisoned[dk] = NaN; // first element of q row 1 (BHND rows are ordered like output rows)
    const q = 'shape' in c.q ? { data: poisoned, shape: c.q.shape } : { data: poisoned, dims: c.q.dims };
    const r = attention(q, c.k, c.v, { ...c.options, returnLse: true });
    for (let x = 0; x < clean.output.length; x++) {
      const row = Math.floor(x / dv);
      if (row === 1) expect(r.output[x]).toBeNaN();
      else expect(r.output[x]).toBe(clean.output[x]);
    }
  });

  it('runs N = 65 536 (Nq·Nk = 2^32) with a causal window, the last rows matching the reference on their keys', () => {
    const n = 65536;
    const d = 8;
    const w = 16;
    const [q, k, v] = [77, 78, 79].map((seed) => ({ data: uniform(seed, n * d), shape: [1, 1, n, d] }));
    const got = attention(q!, k!, v!, { causal: true, window: { left: w } });
    // The last 8 rows see only keys [n − 8 − w, n): a small problem with the same rows, aligned bottom-right.
    const rows = 8;
    const keys = rows + w;
    const slice = (x: { data: Float32Array }, from: number, count: number) =>
      ({ data: x.data.slice(from * d, (from + count) * d), shape: [1, 1, count, d] });
    const ref = referenceAttention(slice(q!, n - rows, rows), slice(k!, n - keys, keys), slice(v!, n - keys, keys), {
      causal: 'bottom-right', window: { left: w },
    });
    const tail = got.output.subarray((n - rows) * d);
    let err = 0;
    for (let i = 0; i < tail.length; i++) err = Math.max(err, Math.abs(tail[i]! - ref.output[i]!));
    expect(err).toBeLessThanOrEqual(TOL);
  });
});
