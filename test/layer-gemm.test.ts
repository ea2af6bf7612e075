/**
 * matmul (the wasm SIMD128 GEMM) against a float64 matmul on seeded shapes: block edges, both B layouts, bias,
 * leading batch dims, decode rows (M ≤ 2); plus the errors that name their argument.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, init } from '../ts/index.js';
import { gemmInto, matmul } from '../ts/layer/gemm.js';
import { WasmMatrix } from '../ts/layer/resident.js';
import { referenceMatmul } from '../ts/reference/layer-ops.js';
import { Rng, uniform } from './rng.js';

beforeAll(async () => {
  await init();
});

function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = got.length === want.length ? 0 : Infinity;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}

describe('matmul vs float64', () => {
  const rng = new Rng(7);
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 33, 7], [2, 9, 17], [3, 8, 8], [4, 8, 16], [5, 13, 300], [17, 31, 64], [64, 64, 64],
    [65, 1030, 9], [70, 24, 257], [129, 40, 33],
  ];
  for (const [m, n, k] of shapes) {
    for (const transposeB of [false, true]) {
      const withBias = rng.chance(0.5);
      it(`[${m}, ${k}]·${transposeB ? `[${n}, ${k}]ᵀ` : `[${k}, ${n}]`}${withBias ? ' + bias' : ''}`, () => {
        const seed = rng.int(1, 1e9);
        const a = uniform(seed, m * k);
        const b = uniform(seed + 1, n * k);
        const bias = withBias ? uniform(seed + 2, n) : undefined;
        const r = matmul({ data: a, shape: [m, k] }, { data: b, shape: transposeB ? [n, k] : [k, n] }, { bias, transposeB });
        expect(r.shape).toEqual([m, n]);
        const want = referenceMatmul(a, b, m, k, n, { transB: transposeB, bias });
        expect(maxDiff(r.output, want)).toBeLessThanOrEqual(2e-6 * Math.sqrt(k));
      });
    }
  }

  it('flattens leading dims of a and writes into out', () => {
    const a = uniform(11, 2 * 3 * 24);
    const w = uniform(12, 40 * 24);
    const bias = uniform(13, 40);
    const out = new Float32Array(2 * 3 * 40);
    const r = matmul({ data: a, shape: [2, 3, 24] }, { data: w, shape: [40, 24] }, { bias, transposeB: true, out });
    expect(r.output).toBe(out);
    expect(r.shape).toEqual([2, 3, 40]);
    expect(maxDiff(out, referenceMatmul(a, w, 6, 24, 40, { transB: true, bias }))).toBeLessThanOrEqual(1e-5);
  });

  it('propagates NaN to the rows and columns it touches only', () => {
    const a = uniform(21, 6 * 8);
    const b = uniform(22, 8 * 10);
    a[2 * 8 + 3] = NaN;
    const r = matmul({ data: a, shape: [6, 8] }, { data: b, shape: [8, 10] });
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 10; j++) expect(Number.isNaN(r.output[i * 10 + j]!)).toBe(i === 2);
    }
  });
});

describe('matrices resident in wasm memory', () => {
  it('give bitwise the copied operand, views included; disposed ones are refused', () => {
    const [m, n, k] = [9, 20, 33];
    const a = uniform(31, m * k);
    const w = uniform(32, 2 * n * k); // two stacked [n, k] matrices
    const bias = uniform(33, n);
    const resident = WasmMatrix.upload(w, 2 * n, k);
    const copied = new Float32Array(m * n);
    const fromWasm = new Float32Array(m * n);
    gemmInto({ m, n, k, a, b: w.subarray(n * k), transB: true, bias, out: copied });
    gemmInto({ m, n, k, a, b: resident.view(n, n), transB: true, bias, out: fromWasm });
    expect(fromWasm).toEqual(copied);
    expect(maxDiff(copied, referenceMatmul(a, w.subarray(n * k), m, k, n, { transB: true, bias }))).toBeLessThanOrEqual(1e-5);
    expect(() => gemmInto({ m, n, k, a, b: resident, transB: true, out: fromWasm })).toThrow(/b: expected \[20, 33\]/);
    resident.dispose();
    expect(resident.disposed).toBe(true);
    expect(() => gemmInto({ m, n, k, a, b: resident.view(0, n), transB: true, out: fromWasm })).toThrow(/disposed/);
  });
});

describe('matmul errors', () => {
  const a = { data: new Float32Array(6), shape: [2, 3] };
  const b = { data: new Float32Array(12), shape: [3, 4] };
  const cases: [string, () => unknown, string, string][] = [
    ['K mismatch', () => matmul(a, { data: new Float32Array(12), shape: [4, 3] }), 'b', 'INVALID_SHAPE'],
    ['K mismatch transposed', () => matmul(a, b, { transposeB: true }), 'b', 'INVALID_SHAPE'],
    ['type', () => matmul({ data: new Float64Array(6) as unknown as Float32Array, shape: [2, 3] }, b), 'a', 'INVALID_TYPE'],
    ['length', () => matmul({ data: new Float32Array(5), shape: [2, 3] }, b), 'a', 'INVALID_SHAPE'],
    ['1-D a', () => matmul({ data: new Float32Array(3), shape: [3] }, b), 'a', 'INVALID_SHAPE'],
    ['bias length', () => matmul(a, b, { bias: new Float32Array(3) }), 'bias', 'INVALID_BIAS'],
    ['out length', () => matmul(a, b, { out: new Float32Array(7) }), 'out', 'INVALID_OUTPUT'],
    ['unknown option', () => matmul(a, b, { transpose: true } as never), 'transpose', 'INVALID_OPTION'],
  ];
  for (const [name, call, argument, code] of cases) {
    it(name, () => {
      let err: unknown;
      try { call(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(AttentionError);
      expect((err as AttentionError).argument).toBe(argument);
      expect((err as AttentionError).code).toBe(code);
    });
  }
  it('out overlapping an input', () => {
    const buf = new Float32Array(20);
    const x = { data: buf.subarray(0, 6), shape: [2, 3] };
    expect(() => matmul(x, b, { out: buf.subarray(4, 12) })).toThrow(/out: expected a buffer sharing no memory/);
  });
});
