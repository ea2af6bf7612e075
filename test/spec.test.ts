/**
 * buildDescriptor: one test per validation error (class, code, argument, and a message naming the expected and the
 * actual value), then the normalised descriptor itself: strides per layout, broadcast strides, causal/window/scale
 * normalisation, defaults, and that inputs are neither copied nor mutated.
 */
import { describe, expect, it } from 'vitest';
import { AttentionError, statusError } from '../ts/errors.js';
import { buildDescriptor } from '../ts/spec.js';
import { attention } from '../ts/attention.js';
import { isInitialized } from '../ts/core/loader.js';
import type { AttentionErrorCode, AttentionInput, AttentionOptions } from '../ts/types.js';
import { STATUS } from '../ts/core/status.js';
import { ALIGN_BOTTOM_RIGHT, ALIGN_TOP_LEFT, SIM_COSINE, SIM_DOT, WINDOW_UNBOUNDED } from '../ts/descriptor.js';

const size = (shape: readonly number[]): number => shape.reduce((a, x) => a * x, 1);
/** A tensor whose element i is i/1000 (distinct values, so copies and reorders are visible). */
function t(shape: number[]): { data: Float32Array; shape: number[] } {
  const data = new Float32Array(size(shape));
  for (let i = 0; i < data.length; i++) data[i] = i / 1000;
  return { data, shape };
}

/** B=2, Hq=8, Hkv=4, Nq=3, Nk=5, Dk=4, Dv=6 in BHND. */
const Q = t([2, 8, 3, 4]);
const K = t([2, 4, 5, 4]);
const V = t([2, 4, 5, 6]);
const build = (options?: AttentionOptions, q: unknown = Q, k: unknown = K, v: unknown = V) =>
  buildDescriptor(q as AttentionInput, k as AttentionInput, v as AttentionInput, options);

/** Asserts an AttentionError with this code and argument whose message names both the expected and the actual value
 * (and contains every `parts` string). */
function rejects(fn: () => unknown, code: AttentionErrorCode, argument: string, ...parts: string[]): AttentionError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(AttentionError);
  const e = caught as AttentionError;
  expect({ code: e.code, argument: e.argument }).toEqual({ code, argument });
  expect(typeof e.expected).toBe('string');
  expect(typeof e.actual).toBe('string');
  expect(e.message).toMatch(`expected ${e.expected!}`);
  expect(e.message).toMatch(`got ${e.actual!}`);
  expect(e.message.startsWith(`${argument}: `)).toBe(true);
  for (const p of parts) expect(e.message).toMatch(p);
  return e;
}

describe('buildDescriptor rejects bad q, k, v', () => {
  it('a value that is not a tensor', () => {
    rejects(() => build({}, new Float32Array(96)), 'INVALID_TYPE', 'q', 'a tensor { data, shape }', 'got Float32Array');
  });
  it('a tensor without a shape', () => {
    rejects(() => build({}, Q, { data: K.data }), 'INVALID_SHAPE', 'k', 'shape (or dims)', 'no shape');
  });
  it('shape and dims that disagree', () => {
    rejects(() => build({}, { data: Q.data, shape: [2, 8, 3, 4], dims: [2, 8, 4, 3] }), 'INVALID_SHAPE', 'q', '[2, 8, 4, 3]');
  });
  it('dimensions that are not positive integers', () => {
    rejects(() => build({}, Q, { data: new Float32Array(0), shape: [2, 4, 0, 4] }), 'INVALID_DIM', 'k', '[2, 4, 0, 4]');
    rejects(() => build({}, Q, K, { data: V.data, shape: [2, 4, 5, 6.5] }), 'INVALID_DIM', 'v', '6.5');
    rejects(() => build({}, { data: Q.data, shape: [2, 8, NaN, 4] }), 'INVALID_DIM', 'q', 'NaN');
  });
  it('more elements than an operand may hold', () => {
    rejects(() => build({}, { data: Q.data, shape: [65536, 32768, 1, 1] }), 'INVALID_DIM', 'q', '2147483648 elements');
  });
  it('data that is not a Float32Array, with a hint to convert when it can be', () => {
    const e = rejects(() => build({}, { data: new Float64Array(96), shape: [2, 8, 3, 4] }), 'INVALID_TYPE', 'q');
    expect(e.message).toBe('q: expected Float32Array, got Float64Array (pass { convert: true } to convert)');
    rejects(() => build({}, Q, { data: Array.from(K.data), shape: K.shape }), 'INVALID_TYPE', 'k', 'got number[]', 'convert: true');
    const big = rejects(() => build({}, Q, K, { data: new BigInt64Array(60), shape: [2, 4, 5, 6] }), 'INVALID_TYPE', 'v', 'BigInt64Array');
    expect(big.message).not.toMatch('convert');
    rejects(() => build({ convert: true }, Q, K, { data: 'abc', shape: [2, 4, 5, 6] }), 'INVALID_TYPE', 'v', 'got string');
  });
  it('a rank other than 3 or 4', () => {
    rejects(() => build({}, { data: Q.data, shape: [48, 2] }), 'INVALID_SHAPE', 'q', '4-D [B, Hq, Nq, Dk] or 3-D [Hq, Nq, Dk]', '2-D [48, 2]');
    rejects(() => build({ layout: 'BNHD' }, Q, { data: K.data, shape: [1, 2, 4, 5, 4] }), 'INVALID_SHAPE', 'k', '[B, Nk, Hkv, Dk]');
  });
  it('data whose length is not the product of the shape', () => {
    rejects(() => build({}, { data: Q.data.subarray(1), shape: Q.shape }), 'INVALID_SHAPE', 'q', '192 elements', 'got 191 elements');
  });
  it('k with another batch size or head dim than q', () => {
    rejects(() => build({}, Q, t([1, 4, 5, 4])), 'INVALID_SHAPE', 'k', 'shape [2, 4, 5, 4]', 'got [1, 4, 5, 4]');
    rejects(() => build({}, Q, t([2, 4, 5, 8])), 'INVALID_SHAPE', 'k', 'shape [2, 4, 5, 4]', 'got [2, 4, 5, 8]');
  });
  it('query heads that are not a multiple of the kv heads', () => {
    const e = rejects(() => build({}, t([2, 8, 128, 64]), t([2, 3, 128, 64]), t([2, 3, 128, 64])), 'INVALID_HEADS', 'k');
    expect(e.message).toBe(
      'k: expected shape [2, 1|2|4|8, 128, 64] (B, Hkv, Nk, Dk with B = 2 and Dk = 64 as in q, and Hq = 8 a multiple of Hkv), ' +
        'got [2, 3, 128, 64]',
    );
  });
  it('v that disagrees with k in B, Hkv or Nk', () => {
    rejects(() => build({}, Q, K, t([2, 4, 6, 6])), 'INVALID_SHAPE', 'v', 'shape [2, 4, 5, 6]', 'got [2, 4, 6, 6]');
    rejects(() => build({}, Q, K, t([2, 2, 5, 6])), 'INVALID_SHAPE', 'v', 'got [2, 2, 5, 6]');
    rejects(() => build({}, Q, K, t([1, 4, 5, 6])), 'INVALID_SHAPE', 'v', 'got [1, 4, 5, 6]');
    // BNHD: expected shape written in that order.
    rejects(() => build({ layout: 'BNHD' }, t([2, 3, 8, 4]), t([2, 5, 4, 4]), t([2, 5, 2, 6])), 'INVALID_SHAPE', 'v', 'shape [2, 5, 4, 6]');
  });
  it('an output larger than an operand may hold', () => {
    rejects(() => build({}, t([1, 1, 65536, 1]), t([1, 1, 1, 1]), t([1, 1, 1, 65536])), 'INVALID_DIM', 'v', '4294967296');
  });
});

describe('buildDescriptor rejects bad options', () => {
  it('options that are not an object', () => {
    rejects(() => build('causal' as unknown as AttentionOptions), 'INVALID_OPTION', 'options', "got 'causal'");
  });
  it('an unknown option, suggesting the closest name', () => {
    const e = rejects(() => build({ casual: true } as AttentionOptions), 'INVALID_OPTION', 'casual', "unknown option 'casual'");
    expect(e.message).toMatch("did you mean 'causal'?");
    rejects(() => build({ zzz: 1 } as AttentionOptions), 'INVALID_OPTION', 'zzz', 'one of the options layout');
  });
  it('an unknown layout', () => {
    rejects(() => build({ layout: 'BSHD' as 'BHND' }), 'INVALID_OPTION', 'layout', "'BHND' or 'BNHD'", "got 'BSHD'");
  });
  it('a scale that is not finite', () => {
    rejects(() => build({ scale: NaN }), 'INVALID_OPTION', 'scale', 'a finite number', 'got NaN');
    rejects(() => build({ scale: Infinity }), 'INVALID_OPTION', 'scale', 'got Infinity');
    rejects(() => build({ scale: '0.5' as unknown as number }), 'INVALID_OPTION', 'scale', "got '0.5'");
  });
  it('an unknown similarity', () => {
    rejects(() => build({ similarity: 'cos' as 'cosine' }), 'INVALID_OPTION', 'similarity', "'dot' or 'cosine'", "got 'cos'");
  });
  it('temperature with dot-product similarity', () => {
    rejects(() => build({ temperature: 0.5 }), 'INVALID_OPTION', 'temperature', "similarity 'dot'");
  });
  it('temperature together with scale', () => {
    rejects(() => build({ similarity: 'cosine', temperature: 0.5, scale: 2 }), 'INVALID_OPTION', 'temperature', 'either scale or temperature');
  });
  it('a temperature that is not a finite positive number', () => {
    rejects(() => build({ similarity: 'cosine', temperature: 0 }), 'INVALID_OPTION', 'temperature', 'a finite number > 0', 'got 0');
    rejects(() => build({ similarity: 'cosine', temperature: Infinity }), 'INVALID_OPTION', 'temperature', 'got Infinity');
  });
  it('a softcap that is negative or not finite', () => {
    rejects(() => build({ softcap: -1 }), 'INVALID_OPTION', 'softcap', 'got -1');
    rejects(() => build({ softcap: NaN }), 'INVALID_OPTION', 'softcap', 'got NaN');
  });
  it('an unknown causal value', () => {
    rejects(() => build({ causal: 'bottom_right' as 'bottom-right' }), 'INVALID_OPTION', 'causal', "'top-left' or 'bottom-right'", "got 'bottom_right'");
    rejects(() => build({ causal: 1 as unknown as boolean }), 'INVALID_OPTION', 'causal', 'got 1');
  });
  it('a window that is not an object', () => {
    rejects(() => build({ window: 4 as unknown as object }), 'INVALID_OPTION', 'window', '{ left?, right?, align? }', 'got 4');
  });
  it('a window with an unknown key', () => {
    rejects(() => build({ window: { size: 4 } as object }), 'INVALID_OPTION', 'window.size', "unknown key 'size'");
  });
  it('window bounds that are not non-negative integers or Infinity', () => {
    rejects(() => build({ window: { left: -1 } }), 'INVALID_OPTION', 'window.left', 'a non-negative integer or Infinity', 'got -1');
    rejects(() => build({ window: { right: 1.5 } }), 'INVALID_OPTION', 'window.right', 'got 1.5');
    rejects(() => build({ window: { left: NaN } }), 'INVALID_OPTION', 'window.left', 'got NaN');
  });
  it('an unknown window alignment', () => {
    rejects(() => build({ window: { left: 2, align: 'center' as 'top-left' } }), 'INVALID_OPTION', 'window.align', "got 'center'");
  });
  it('causal and window with different alignments', () => {
    rejects(() => build({ causal: true, window: { left: 2, align: 'bottom-right' } }), 'INVALID_OPTION', 'window.align',
      "'top-left' (the alignment of causal: true)", "got 'bottom-right'");
    rejects(() => build({ causal: 'bottom-right', window: { align: 'top-left' } }), 'INVALID_OPTION', 'window.align', "'bottom-right'");
  });
  it('flags that are not booleans', () => {
    rejects(() => build({ returnLse: 1 as unknown as boolean }), 'INVALID_OPTION', 'returnLse', 'true or false', 'got 1');
    rejects(() => build({ returnWeights: 'yes' as unknown as boolean }), 'INVALID_OPTION', 'returnWeights', "got 'yes'");
    rejects(() => build({ convert: null as unknown as boolean }), 'INVALID_OPTION', 'convert', 'got null');
  });
  it('weights larger than an array may hold', () => {
    rejects(() => build({ returnWeights: true }, t([1, 1, 65536, 1]), t([1, 1, 65536, 1]), t([1, 1, 65536, 1])),
      'INVALID_OPTION', 'returnWeights', '4294967296');
  });
});

describe('buildDescriptor rejects bad lengths, masks, biases and outputs', () => {
  it('lengths of the wrong type', () => {
    rejects(() => build({ queryLengths: new Float32Array([1, 2]) as unknown as number[] }), 'INVALID_LENGTHS', 'queryLengths', 'got Float32Array');
  });
  it('lengths not one per batch entry', () => {
    rejects(() => build({ keyLengths: [1, 2, 3] }), 'INVALID_LENGTHS', 'keyLengths', '2 lengths (one per batch entry, B = 2)', 'got 3 lengths');
  });
  it('lengths outside [0, N]', () => {
    rejects(() => build({ queryLengths: [3, 4] }), 'INVALID_LENGTHS', 'queryLengths', 'integers in [0, 3] (Nq = 3)', 'got 4 at index 1');
    rejects(() => build({ keyLengths: new Int32Array([-1, 2]) }), 'INVALID_LENGTHS', 'keyLengths', '(Nk = 5)', 'got -1 at index 0');
    rejects(() => build({ keyLengths: [2.5, 2] }), 'INVALID_LENGTHS', 'keyLengths', 'got 2.5 at index 0');
  });
  it('a mask that is not a tensor', () => {
    rejects(() => build({ mask: new Uint8Array(15) as never }), 'INVALID_MASK', 'mask', 'a tensor { data, shape }');
  });
  it('a mask that is not a Uint8Array', () => {
    const bools = { data: Array.from({ length: 15 }, () => true), shape: [3, 5] };
    rejects(() => build({ mask: bools as never }), 'INVALID_MASK', 'mask', 'Uint8Array', 'got boolean[]', 'convert: true');
    rejects(() => build({ mask: { data: new Int8Array(15), shape: [3, 5] } as never }), 'INVALID_MASK', 'mask', 'got Int8Array');
  });
  it('a mask whose shape does not broadcast to [B, Hq, Nq, Nk]', () => {
    rejects(() => build({ mask: { data: new Uint8Array(60), shape: [4, 3, 5] } }), 'INVALID_MASK', 'mask',
      '[2|1, 8|1, 3|1, 5]', 'got [4, 3, 5]');
    rejects(() => build({ mask: { data: new Uint8Array(18), shape: [3, 6] } }), 'INVALID_MASK', 'mask', 'got [3, 6]');
    rejects(() => build({ mask: { data: new Uint8Array(5), shape: [5] } }), 'INVALID_MASK', 'mask', 'got [5]');
    rejects(() => build({ mask: { data: new Uint8Array(15), shape: [1, 1, 1, 3, 5] } }), 'INVALID_MASK', 'mask', 'got [1, 1, 1, 3, 5]');
  });
  it('a mask whose data length is not the product of its shape', () => {
    rejects(() => build({ mask: { data: new Uint8Array(14), shape: [3, 5] } }), 'INVALID_MASK', 'mask', '15 elements', 'got 14 elements');
  });
  it('a bias that is not a Float32Array', () => {
    rejects(() => build({ bias: { data: new Float64Array(15), shape: [3, 5] } as never }), 'INVALID_BIAS', 'bias', 'Float32Array', 'got Float64Array');
  });
  it('a bias of the wrong shape', () => {
    rejects(() => build({ bias: { data: new Float32Array(30), shape: [2, 3, 5] } }), 'INVALID_BIAS', 'bias', '[2|1, 8|1, 3|1, 5]', 'got [2, 3, 5]');
    rejects(() => build({ bias: { data: new Float32Array(15), shape: [3, 0, 5] } }), 'INVALID_BIAS', 'bias', 'positive integers');
  });
  it('an output that is not a Float32Array', () => {
    rejects(() => build({ out: new Float64Array(288) as unknown as Float32Array }), 'INVALID_OUTPUT', 'out', 'Float32Array', 'got Float64Array');
  });
  it('an output of the wrong length', () => {
    rejects(() => build({ out: new Float32Array(287) }), 'INVALID_OUTPUT', 'out', '288 elements (B·Hq·Nq·Dv = 2·8·3·6)', 'got 287 elements');
  });
  it('an output that overlaps an input', () => {
    const buf = new Float32Array(192 + 288);
    const q = { data: buf.subarray(0, 192), shape: [2, 8, 3, 4] };
    rejects(() => build({ out: buf.subarray(191, 191 + 288) }, q), 'INVALID_OUTPUT', 'out', 'shares no memory', 'overlapping q');
    const vBuf = new Float32Array(400);
    rejects(() => build({ out: vBuf.subarray(0, 288) }, Q, K, { data: vBuf.subarray(100, 340), shape: [2, 4, 5, 6] }),
      'INVALID_OUTPUT', 'out', 'overlapping v');
    // Adjacent but disjoint views of one buffer are fine.
    const disjoint = buf.subarray(192);
    expect(build({ out: disjoint }, q).out).toBe(disjoint);
  });
});

describe('AttentionError from ABI status codes', () => {
  it('names the argument of the status and keeps its code', () => {
    const e = statusError(STATUS.BAD_Q);
    expect(e).toBeInstanceOf(AttentionError);
    expect({ code: e.code, argument: e.argument }).toEqual({ code: 'INVALID_SHAPE', argument: 'q' });
    expect(e.message).toMatch('status 4 (BAD_Q');
    expect(statusError(STATUS.OUT_OF_MEMORY).code).toBe('OUT_OF_MEMORY');
    expect(statusError(STATUS.BAD_MASK).argument).toBe('mask');
    expect(statusError(STATUS.BAD_Q_LENS).code).toBe('INVALID_LENGTHS');
    expect(statusError(999).code).toBe('KERNEL_ERROR');
  });
});

describe('the descriptor', () => {
  it('BHND: sizes, strides and defaults', () => {
    const d = build();
    expect({ b: d.b, hq: d.hq, hkv: d.hkv, nq: d.nq, nk: d.nk, dk: d.dk, dv: d.dv, layout: d.layout })
      .toEqual({ b: 2, hq: 8, hkv: 4, nq: 3, nk: 5, dk: 4, dv: 6, layout: 'BHND' });
    expect(d.q.strides).toEqual({ batch: 96, head: 12, row: 4 });
    expect(d.k.strides).toEqual({ batch: 80, head: 20, row: 4 });
    expect(d.v.strides).toEqual({ batch: 120, head: 30, row: 6 });
    expect(d.o).toEqual({ batch: 144, head: 18, row: 6 });
    expect(d.scale).toBe(0.5);
    expect({ softcap: d.softcap, similarity: d.similarity, align: d.align, winLeft: d.winLeft, winRight: d.winRight })
      .toEqual({ softcap: 0, similarity: SIM_DOT, align: ALIGN_TOP_LEFT, winLeft: WINDOW_UNBOUNDED, winRight: WINDOW_UNBOUNDED });
    expect({ qStart: d.qStart, kStart: d.kStart, nqFull: d.nqFull, nkFull: d.nkFull }).toEqual({ qStart: 0, kStart: 0, nqFull: 3, nkFull: 5 });
    expect([d.returnLse, d.returnWeights]).toEqual([false, false]);
    expect([d.mask, d.bias, d.queryLengths, d.keyLengths, d.out]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
  it('BNHD: the same sizes from [B, N, H, D], as strides', () => {
    const d = build({ layout: 'BNHD' }, t([2, 3, 8, 4]), t([2, 5, 4, 4]), t([2, 5, 4, 6]));
    expect([d.b, d.hq, d.hkv, d.nq, d.nk, d.dk, d.dv]).toEqual([2, 8, 4, 3, 5, 4, 6]);
    expect(d.q.strides).toEqual({ batch: 96, head: 4, row: 32 });
    expect(d.k.strides).toEqual({ batch: 80, head: 4, row: 16 });
    expect(d.v.strides).toEqual({ batch: 120, head: 6, row: 24 });
    expect(d.o).toEqual({ batch: 144, head: 6, row: 48 });
  });
  it('3-D inputs have B = 1; `dims` is read like `shape`', () => {
    const d = build({}, { data: t([8, 3, 4]).data, dims: [8, 3, 4] }, t([2, 5, 4]), t([1, 2, 5, 6]));
    expect([d.b, d.hq, d.hkv, d.nq, d.nk, d.dk, d.dv]).toEqual([1, 8, 2, 3, 5, 4, 6]);
    expect(d.q.strides).toEqual({ batch: 96, head: 12, row: 4 });
  });
  it('inputs are used in place: not copied, not mutated', () => {
    const before = [Q.data.slice(), K.data.slice(), V.data.slice()];
    const view = { data: new Float32Array(300).subarray(10, 202), shape: [2, 8, 3, 4] };
    const mask = { data: new Uint8Array(15).fill(1), shape: [3, 5] };
    const bias = { data: new Float32Array(15), shape: [3, 5] };
    const d = build({ mask, bias }, view);
    expect(d.q.data).toBe(view.data);
    expect(build().k.data).toBe(K.data);
    expect(build().v.data).toBe(V.data);
    expect(d.mask!.data).toBe(mask.data);
    expect(d.bias!.data).toBe(bias.data);
    expect([Q.data, K.data, V.data]).toEqual(before);
  });
  it('a Uint8ClampedArray mask is viewed as bytes, not copied', () => {
    const data = new Uint8ClampedArray(30).fill(1);
    const d = build({ mask: { data: data as unknown as Uint8Array, shape: [2, 1, 3, 5] } });
    expect(d.mask!.data).toBeInstanceOf(Uint8Array);
    expect(d.mask!.data.buffer).toBe(data.buffer);
  });
  it('convert: Float64Array, number[] and boolean masks become the kernel types', () => {
    const q64 = Float64Array.from(Q.data);
    const maskBools = Array.from({ length: 15 }, (_, i) => i % 2 === 0);
    const d = build({ convert: true, mask: { data: maskBools, shape: [3, 5] } as never },
      { data: q64, shape: Q.shape }, { data: Array.from(K.data), shape: K.shape });
    expect(d.q.data).toBeInstanceOf(Float32Array);
    expect(d.q.data).toEqual(Q.data);
    expect(d.k.data).toEqual(K.data);
    expect(d.v.data).toBe(V.data);
    expect(Array.from(d.mask!.data)).toEqual(maskBools.map((x) => (x ? 1 : 0)));
  });
  it('masks and biases broadcast with zero strides over size-1 and omitted dims', () => {
    const mask = (shape: number[]) => build({ mask: { data: new Uint8Array(size(shape)), shape } }).mask!.strides;
    expect(mask([3, 5])).toEqual({ batch: 0, head: 0, row: 5 });
    expect(mask([8, 3, 5])).toEqual({ batch: 0, head: 15, row: 5 });
    expect(mask([1, 3, 5])).toEqual({ batch: 0, head: 0, row: 5 });
    expect(mask([2, 1, 3, 5])).toEqual({ batch: 15, head: 0, row: 5 });
    expect(mask([1, 8, 3, 5])).toEqual({ batch: 0, head: 15, row: 5 });
    expect(mask([2, 8, 3, 5])).toEqual({ batch: 120, head: 15, row: 5 });
    expect(mask([2, 1, 1, 5])).toEqual({ batch: 5, head: 0, row: 0 });
    const bias = build({ bias: { data: new Float32Array(40), shape: [8, 1, 5] } }).bias!;
    expect(bias.strides).toEqual({ batch: 0, head: 5, row: 0 });
  });
  it('causal is a window with right = 0, top-left unless told otherwise', () => {
    const c = build({ causal: true });
    expect([c.winLeft, c.winRight, c.align]).toEqual([WINDOW_UNBOUNDED, 0, ALIGN_TOP_LEFT]);
    const br = build({ causal: 'bottom-right' });
    expect([br.winLeft, br.winRight, br.align]).toEqual([WINDOW_UNBOUNDED, 0, ALIGN_BOTTOM_RIGHT]);
    const off = build({ causal: false });
    expect([off.winLeft, off.winRight]).toEqual([WINDOW_UNBOUNDED, WINDOW_UNBOUNDED]);
  });
  it('window: bounds as given, Infinity or huge as unbounded, causal forcing right = 0, alignment inherited', () => {
    const w = build({ window: { left: 2, right: 1 } });
    expect([w.winLeft, w.winRight, w.align]).toEqual([2, 1, ALIGN_TOP_LEFT]);
    const wc = build({ causal: 'bottom-right', window: { left: 2, right: 4 } });
    expect([wc.winLeft, wc.winRight, wc.align]).toEqual([2, 0, ALIGN_BOTTOM_RIGHT]);
    const same = build({ causal: 'bottom-right', window: { left: 1, align: 'bottom-right' } });
    expect([same.winLeft, same.winRight, same.align]).toEqual([1, 0, ALIGN_BOTTOM_RIGHT]);
    const wa = build({ window: { right: 0, align: 'bottom-right' } });
    expect([wa.winLeft, wa.winRight, wa.align]).toEqual([WINDOW_UNBOUNDED, 0, ALIGN_BOTTOM_RIGHT]);
    const inf = build({ window: { left: Infinity, right: 7 } });
    expect([inf.winLeft, inf.winRight]).toEqual([WINDOW_UNBOUNDED, 7]); // 7 < Nq + Nk = 8
    const huge = build({ window: { left: 8, right: 2 ** 40 } });
    expect([huge.winLeft, huge.winRight]).toEqual([WINDOW_UNBOUNDED, WINDOW_UNBOUNDED]);
    const zero = build({ window: { left: 0, right: 0 } });
    expect([zero.winLeft, zero.winRight]).toEqual([0, 0]);
  });
  it('scale: 1/√Dk by default, as given, 1/temperature for cosine', () => {
    expect(build({ scale: -0.25 }).scale).toBe(-0.25);
    expect(build({ scale: 0 }).scale).toBe(0);
    const cos = build({ similarity: 'cosine' });
    expect([cos.similarity, cos.scale]).toEqual([SIM_COSINE, 1]);
    expect(build({ similarity: 'cosine', temperature: 0.05 }).scale).toBe(1 / 0.05);
    expect(build({ similarity: 'cosine', scale: 3 }).scale).toBe(3);
    expect(build({}, t([1, 1, 2, 9]), t([1, 1, 2, 9]), t([1, 1, 2, 1])).scale).toBe(1 / 3);
    expect(build({ softcap: 30 }).softcap).toBe(30);
  });
  it('lengths become Uint32Array; flags and out pass through; undefined options are ignored', () => {
    const out = new Float32Array(288);
    const d = build({ queryLengths: new Int32Array([3, 0]), keyLengths: [5, 1], returnLse: true, returnWeights: true, out, causal: undefined });
    expect(d.queryLengths).toEqual(Uint32Array.of(3, 0));
    expect(d.keyLengths).toEqual(Uint32Array.of(5, 1));
    expect([d.returnLse, d.returnWeights]).toEqual([true, true]);
    expect(d.out).toBe(out);
  });
});

describe('attention() before init()', () => {
  it('throws NOT_INITIALIZED (when this runtime has not loaded the wasm yet)', () => {
    if (isInitialized()) return; // another suite in this runtime already called init()
    const e = (() => {
      try {
        attention(Q, K, V);
      } catch (err) {
        return err;
      }
      return undefined;
    })() as AttentionError;
    expect(e).toBeInstanceOf(AttentionError);
    expect(e.code).toBe('NOT_INITIALIZED');
    expect(e.message).toMatch('await init()');
  });
});
