/**
 * Option combinations of exact attention() at their edges, against the float64 reference: Dk ≠ Dv, Nq = 1, Nk = 1,
 * huge logits (scale 1e4, softcap over logits of 1e30), cosine similarity with zero, tiny and huge vectors (the
 * norm of a row beyond ~1.8e19 overflowed f32's sum of squares, so every cosine read 0), `out` and `convert`; and the
 * float32 range of scale / softcap / temperature: a value the kernel's f32 word cannot hold is an AttentionError
 * naming the option the caller gave (a softcap that rounded to 0 silently switched softcap off; a tiny temperature
 * was reported as a bad `scale`); `convert` refuses arrays with holes or non-numbers, naming the operand; `out` may
 * not overlap any input the kernel reads as given (ALiBi slopes, relative-bias tables and projections were not checked).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, attention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { uniform } from './rng.js';
import { maxDiff } from './compare.js';

const TOL = 1e-5;

interface Shape { b: number; hq: number; hkv: number; nq: number; nk: number; dk: number; dv: number }

function inputs(seed: number, s: Shape) {
  return {
    q: { data: uniform(seed, s.b * s.hq * s.nq * s.dk), shape: [s.b, s.hq, s.nq, s.dk] },
    k: { data: uniform(seed + 1, s.b * s.hkv * s.nk * s.dk), shape: [s.b, s.hkv, s.nk, s.dk] },
    v: { data: uniform(seed + 2, s.b * s.hkv * s.nk * s.dv), shape: [s.b, s.hkv, s.nk, s.dv] },
  };
}

type Edit = (x: ReturnType<typeof inputs>) => void;
const times = (t: Float32Array, f: number): void => { for (let i = 0; i < t.length; i++) t[i] = t[i]! * f; };

const small: Shape = { b: 1, hq: 2, hkv: 1, nq: 30, nk: 40, dk: 8, dv: 8 };
const cases: [string, Shape, AttentionOptions, Edit?][] = [
  ['Dk ≠ Dv, GQA, weights', { b: 2, hq: 4, hkv: 2, nq: 50, nk: 70, dk: 13, dv: 3 }, { returnWeights: true }],
  ['Nq 1, bottom-right causal', { b: 2, hq: 8, hkv: 2, nq: 1, nk: 300, dk: 16, dv: 16 }, { causal: 'bottom-right' }],
  ['Nq 1, top-left causal (one key)', { b: 2, hq: 8, hkv: 2, nq: 1, nk: 300, dk: 16, dv: 16 }, { causal: true }],
  ['Nk 1', { b: 2, hq: 8, hkv: 2, nq: 300, nk: 1, dk: 16, dv: 16 }, { causal: 'bottom-right' }],
  ['Nq 1, Nk 1, weights', { b: 1, hq: 1, hkv: 1, nq: 1, nk: 1, dk: 5, dv: 5 }, { returnWeights: true }],
  ['scale 1e4', { ...small, nq: 100, nk: 200, dk: 16, dv: 16 }, { scale: 1e4, returnWeights: true }],
  ['scale 1e4, Nq 4 (decode route)', { b: 1, hq: 8, hkv: 1, nq: 4, nk: 2000, dk: 64, dv: 64 }, { scale: 1e4 }],
  ['softcap over logits of 1e30', { ...small, nq: 100, nk: 200, dk: 16, dv: 16 }, { scale: 1e30, softcap: 30, returnWeights: true }],
  ['softcap 1e-45 (smallest float32)', small, { softcap: 1e-45 }],
  ['cosine: a zero query row and a zero key', small, { similarity: 'cosine', returnWeights: true }, (x) => { x.q.data.fill(0, 0, 8); x.k.data.fill(0, 8, 16); }],
  ['cosine: every key zero', small, { similarity: 'cosine', temperature: 0.01 }, (x) => { x.k.data.fill(0); }],
  ['cosine: tiny vectors (below the 1e-12 norm floor)', small, { similarity: 'cosine', temperature: 0.05 }, (x) => { times(x.q.data, 1e-30); times(x.k.data, 1e-20); }],
  ['cosine: huge vectors (|q| ~ 1e25, |k| ~ 1e30)', small, { similarity: 'cosine', temperature: 0.1 }, (x) => { times(x.q.data, 1e25); times(x.k.data, 1e30); }],
  ['cosine: huge vectors, Nq 2', { b: 1, hq: 4, hkv: 1, nq: 2, nk: 2000, dk: 8, dv: 8 }, { similarity: 'cosine' }, (x) => { times(x.q.data, 3e37); times(x.k.data, 1e20); }],
  ['number[] inputs with convert', small, { convert: true }],
];

beforeAll(async () => {
  await init();
});

describe('option edges vs the float64 reference', () => {
  for (const [name, s, options, edit] of cases) {
    it(name, () => {
      const x = inputs(name.length, s);
      edit?.(x);
      const o: AttentionOptions = { ...options, returnLse: true };
      const args = o.convert
        ? [x.q, x.k, x.v].map((t) => ({ data: Array.from(t.data), shape: t.shape })) as unknown as [typeof x.q, typeof x.k, typeof x.v]
        : [x.q, x.k, x.v] as const;
      const got = attention(args[0], args[1], args[2], o);
      const want = referenceAttention(x.q, x.k, x.v, o);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
      expect(maxDiff(got.lse!, want.lse, true)).toBeLessThanOrEqual(TOL);
      if (o.returnWeights) expect(maxDiff(got.weights!, want.weights)).toBeLessThanOrEqual(TOL);
      expect(got.output.every((v) => !Number.isNaN(v))).toBe(true);
    });
  }
});

function errorOf(f: () => unknown): AttentionError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AttentionError);
    return e as AttentionError;
  }
  throw new Error('expected an AttentionError');
}

describe('invalid options name the argument', () => {
  const x = inputs(1, { b: 1, hq: 2, hkv: 1, nq: 6, nk: 7, dk: 4, dv: 4 });
  const bad: [string, AttentionOptions, string, string][] = [
    ['a softcap that rounds to 0 in float32 (it would switch softcap off)', { softcap: 1e-50 }, 'INVALID_OPTION', 'softcap'],
    ['a softcap beyond float32', { softcap: 1e39 }, 'INVALID_OPTION', 'softcap'],
    ['a scale beyond float32', { scale: -1e39 }, 'INVALID_OPTION', 'scale'],
    ['a temperature whose 1 / t is beyond float32', { similarity: 'cosine', temperature: 1e-40 }, 'INVALID_OPTION', 'temperature'],
    ['out one element short', { out: new Float32Array(47) }, 'INVALID_OUTPUT', 'out'],
    ['number[] without convert', {}, 'INVALID_TYPE', 'q'],
  ];
  for (const [name, options, code, argument] of bad) {
    it(name, () => {
      const q = name.includes('number[]') ? { data: Array.from(x.q.data), shape: x.q.shape } as unknown as typeof x.q : x.q;
      expect(errorOf(() => attention(q, x.k, x.v, options))).toMatchObject({ code, argument });
    });
  }
  it('convert: arrays with holes or non-numbers are refused, naming the operand (holes became NaN, or 0 = masked)', () => {
    const holes = { data: new Array<number>(48), shape: x.q.shape } as unknown as typeof x.q;
    expect(errorOf(() => attention(holes, x.k, x.v, { convert: true }))).toMatchObject({ code: 'INVALID_TYPE', argument: 'q' });
    const mixed = { data: [...Array.from(x.k.data).slice(0, 27), '1'], shape: x.k.shape } as unknown as typeof x.k;
    expect(errorOf(() => attention(x.q, mixed, x.v, { convert: true }))).toMatchObject({ code: 'INVALID_TYPE', argument: 'k' });
    const mask = { data: new Array<boolean>(42), shape: [6, 7] };
    expect(errorOf(() => attention(x.q, x.k, x.v, { convert: true, mask } as unknown as AttentionOptions))).toMatchObject({ code: 'INVALID_MASK', argument: 'mask' });
    const bias = { data: Object.assign(new Array<number>(42).fill(0), { 5: undefined }), shape: [6, 7] };
    expect(errorOf(() => attention(x.q, x.k, x.v, { convert: true, bias } as unknown as AttentionOptions))).toMatchObject({ code: 'INVALID_BIAS', argument: 'bias' });
    const flags = { data: Array.from({ length: 42 }, (_, t) => t % 3 !== 0), shape: [6, 7] };
    const got = attention(x.q, x.k, x.v, { convert: true, mask: flags } as unknown as AttentionOptions);
    const want = referenceAttention(x.q, x.k, x.v, { mask: { data: Uint8Array.from(flags.data, (f) => (f ? 1 : 0)), shape: [6, 7] } });
    expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
  });

  it('out overlapping alibi slopes, a relative-bias table or a Performer projection is refused (they were overwritten)', () => {
    const buf = new Float32Array(200);
    const slopes = buf.subarray(0, 2).fill(0.5);
    expect(errorOf(() => attention(x.q, x.k, x.v, { alibi: slopes, out: buf.subarray(1, 49) }))).toMatchObject({ code: 'INVALID_OUTPUT', argument: 'out' });
    expect(Array.from(slopes)).toEqual([0.5, 0.5]);
    const table = { data: buf.subarray(100, 110), shape: [2, 5] };
    expect(errorOf(() => attention(x.q, x.k, x.v, { relativeBias: { table, zero: 2 }, out: buf.subarray(60, 108) })))
      .toMatchObject({ code: 'INVALID_OUTPUT', argument: 'out' });
    const projection = { data: buf.subarray(120, 136), shape: [4, 4] };
    expect(errorOf(() => attention(x.q, x.k, x.v, { variant: { kind: 'performer', projection }, out: buf.subarray(130, 178) })))
      .toMatchObject({ code: 'INVALID_OUTPUT', argument: 'out' });
    expect(attention(x.q, x.k, x.v, { alibi: slopes, out: buf.subarray(2, 50) }).output.length).toBe(48);
  });

  it('out aliasing q is refused, a disjoint view of the same buffer is fine', () => {
    const buf = new Float32Array(48 + 48);
    buf.set(x.q.data);
    const q = { data: buf.subarray(0, 48), shape: x.q.shape };
    expect(errorOf(() => attention(q, x.k, x.v, { out: buf.subarray(40, 88) }))).toMatchObject({ code: 'INVALID_OUTPUT', argument: 'out' });
    const out = buf.subarray(48, 96);
    expect(attention(q, x.k, x.v, { out }).output).toBe(out);
    expect(maxDiff(out, referenceAttention(x.q, x.k, x.v).output)).toBeLessThanOrEqual(TOL);
  });
});
