/**
 * MultiHeadAttention against the float64 reference of the whole layer (ts/reference/layer.ts) on seeded weights in
 * both layouts: self- and cross-attention, GQA/MQA, RoPE, masks, ALiBi, weights; fused projections bitwise equal to
 * unfused ones; a KV-cache decode equal to the full causal pass; errors that name the weight or input at fault.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, init } from '../ts/index.js';
import { MultiHeadAttention, type MhaConfig, type MhaForwardOptions, type SeparateMhaWeights, type TorchMhaWeights } from '../ts/layer/mha.js';
import { referenceMha } from '../ts/reference/layer.js';
import { maxDiff } from './layer-util.js';
import { Rng, uniform } from './rng.js';

beforeAll(async () => {
  await init();
});

/** A weight matrix [out, in] uniform in ±1/√in (PyTorch's Linear init range), seeded. */
const mat = (seed: number, out: number, inF: number): Float32Array => uniform(seed, out * inF, -1 / Math.sqrt(inF), 1 / Math.sqrt(inF));

function torchWeights(seed: number, E: number, bias = true): TorchMhaWeights {
  const w: TorchMhaWeights = { in_proj_weight: mat(seed, 3 * E, E), 'out_proj.weight': mat(seed + 1, E, E) };
  if (bias) {
    w.in_proj_bias = uniform(seed + 2, 3 * E, -0.1, 0.1);
    w['out_proj.bias'] = uniform(seed + 3, E, -0.1, 0.1);
  }
  return w;
}

function separateWeights(seed: number, c: Required<Omit<MhaConfig, 'rope' | 'residentWeights'>>): SeparateMhaWeights {
  const { embedDim: E, numHeads: hq, numKvHeads: hkv, headDim: D, valueHeadDim: Dv, kdim, vdim } = c;
  return {
    q: { weight: mat(seed, hq * D, E), bias: uniform(seed + 1, hq * D, -0.1, 0.1) },
    k: { weight: mat(seed + 2, hkv * D, kdim) },
    v: { weight: mat(seed + 3, hkv * Dv, vdim), bias: uniform(seed + 4, hkv * Dv, -0.1, 0.1) },
    o: { weight: mat(seed + 5, E, hq * Dv), bias: uniform(seed + 6, E, -0.1, 0.1) },
  };
}

const TOL = 2e-5;

describe('MultiHeadAttention vs the float64 layer reference', () => {
  it('PyTorch layout, self-attention, causal, batch 2', () => {
    const config = { embedDim: 32, numHeads: 4 };
    const w = torchWeights(1, 32);
    const x = { data: uniform(2, 2 * 13 * 32), shape: [2, 13, 32] };
    const mha = new MultiHeadAttention(config, w);
    const r = mha.forward(x, undefined, undefined, { causal: true, returnWeights: true });
    expect(r.shape).toEqual([2, 13, 32]);
    const want = referenceMha(config, w, x, undefined, undefined, { causal: true });
    expect(maxDiff(r.output, want.output)).toBeLessThanOrEqual(TOL);
    expect(maxDiff(r.weights!, want.weights)).toBeLessThanOrEqual(1e-5);
    // PyTorch's default average_attn_weights=True: the mean over heads, [B, Nq, Nk].
    const avg = mha.forward(x, undefined, undefined, { causal: true, returnWeights: true, averageWeights: true }).weights!;
    expect(avg.length).toBe(2 * 13 * 13);
    const mean = new Float64Array(2 * 13 * 13);
    for (let b = 0; b < 2; b++) {
      for (let h = 0; h < 4; h++) for (let x = 0; x < 169; x++) mean[b * 169 + x]! += want.weights[(b * 4 + h) * 169 + x]! / 4;
    }
    expect(maxDiff(avg, mean)).toBeLessThanOrEqual(1e-5);
  });

  it('PyTorch layout without biases, 2-D input, key padding mask', () => {
    const config = { embedDim: 24, numHeads: 3 };
    const w = torchWeights(3, 24, false);
    const x = { data: uniform(4, 9 * 24), shape: [9, 24] };
    const mask = { data: Uint8Array.from({ length: 9 }, (_, j) => (j < 7 ? 1 : 0)), shape: [1, 9] };
    const options: MhaForwardOptions = { mask };
    const r = new MultiHeadAttention(config, w).forward(x, x, x, options);
    expect(r.shape).toEqual([9, 24]);
    expect(maxDiff(r.output, referenceMha(config, w, x, x, x, options).output)).toBeLessThanOrEqual(TOL);
  });

  it('PyTorch layout with kdim / vdim (q_proj_weight, k_proj_weight, v_proj_weight): cross-attention', () => {
    const config = { embedDim: 16, numHeads: 2, kdim: 10, vdim: 6 };
    const w: TorchMhaWeights = {
      q_proj_weight: mat(5, 16, 16), k_proj_weight: mat(6, 16, 10), v_proj_weight: mat(7, 16, 6),
      in_proj_bias: uniform(8, 48, -0.1, 0.1), 'out_proj.weight': mat(9, 16, 16), 'out_proj.bias': uniform(10, 16),
    };
    const x = { data: uniform(11, 2 * 5 * 16), shape: [2, 5, 16] };
    const key = { data: uniform(12, 2 * 21 * 10), shape: [2, 21, 10] };
    const value = { data: uniform(13, 2 * 21 * 6), shape: [2, 21, 6] };
    const options: MhaForwardOptions = { keyLengths: [21, 15] };
    const r = new MultiHeadAttention(config, w).forward(x, key, value, options);
    expect(maxDiff(r.output, referenceMha(config, w, x, key, value, options).output)).toBeLessThanOrEqual(TOL);
  });

  const rng = new Rng(77);
  const gqaCases: { name: string; config: MhaConfig; options: MhaForwardOptions; cross: boolean }[] = [
    { name: 'GQA 8/2, RoPE half, causal + ALiBi', config: { embedDim: 48, numHeads: 8, numKvHeads: 2, headDim: 8, rope: true },
      options: { causal: true, alibi: true }, cross: false },
    { name: 'MQA, RoPE interleaved partial, window, position offset', config: { embedDim: 40, numHeads: 4, numKvHeads: 1, headDim: 12,
      rope: { style: 'interleaved', rotaryDim: 8, base: 1000 } }, options: { window: { left: 5, right: 0 }, positionOffset: 17 }, cross: false },
    { name: 'cross-attention, Dv ≠ D, memory as key and value, bias + softcap', config: { embedDim: 20, numHeads: 4, numKvHeads: 2,
      headDim: 6, valueHeadDim: 10, kdim: 14, vdim: 14 }, options: { softcap: 3 }, cross: true },
  ];
  for (const c of gqaCases) {
    it(`separate layout: ${c.name}`, () => {
      const cfg = c.config;
      const full = {
        embedDim: cfg.embedDim, numHeads: cfg.numHeads, numKvHeads: cfg.numKvHeads ?? cfg.numHeads, headDim: cfg.headDim!,
        valueHeadDim: cfg.valueHeadDim ?? cfg.headDim!, kdim: cfg.kdim ?? cfg.embedDim, vdim: cfg.vdim ?? cfg.embedDim,
      };
      const seed = rng.int(1, 1e9);
      const w = separateWeights(seed, full);
      const [B, N, M] = [2, 19, 11];
      const x = { data: uniform(seed + 10, B * N * cfg.embedDim), shape: [B, N, cfg.embedDim] };
      const mem = { data: uniform(seed + 11, B * M * full.kdim), shape: [B, M, full.kdim] };
      const options = { ...c.options };
      if (c.cross) options.bias = { data: uniform(seed + 12, N * M), shape: [N, M] };
      const mha = new MultiHeadAttention(cfg, w);
      const got = c.cross ? mha.forward(x, mem, undefined, options) : mha.forward(x, undefined, undefined, options);
      const want = c.cross ? referenceMha(cfg, w, x, mem, undefined, options) : referenceMha(cfg, w, x, undefined, undefined, options);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
    });
  }
});

describe('MultiHeadAttention on seeded random configurations', () => {
  const rng = new Rng(2026);
  for (let t = 0; t < 12; t++) {
    const hkv = rng.pick([1, 2, 3]);
    const hq = hkv * rng.pick([1, 2, 4]);
    const D = 2 * rng.int(1, 12);
    const full = {
      embedDim: rng.int(4, 40), numHeads: hq, numKvHeads: hkv, headDim: D, valueHeadDim: rng.chance(0.5) ? D : rng.int(1, 20),
      kdim: 0, vdim: 0,
    };
    const cross = rng.chance(0.4);
    full.kdim = cross && rng.chance(0.5) ? rng.int(3, 30) : full.embedDim;
    full.vdim = cross && rng.chance(0.5) ? rng.int(3, 30) : full.kdim;
    const rope = !cross && rng.chance(0.6) ? { style: rng.pick(['half', 'interleaved'] as const), rotaryDim: 2 * rng.int(1, D / 2) } : undefined;
    const [B, N, M] = [rng.int(1, 3), rng.int(1, 40), rng.int(1, 40)];
    const options: MhaForwardOptions = {};
    if (rng.chance(0.5)) options.causal = rng.pick([true, 'bottom-right'] as const);
    if (rng.chance(0.3)) options.alibi = true;
    if (rng.chance(0.3)) options.window = { left: rng.int(0, 8) };
    if (rng.chance(0.3)) options.keyLengths = Array.from({ length: B }, () => rng.int(0, cross ? M : N));
    if (rope && rng.chance(0.5)) options.positionOffset = rng.int(0, 50);
    const seed = rng.int(1, 1e9);
    const separateValue = full.vdim !== full.kdim || rng.chance(0.5);
    const config: MhaConfig = { ...full, ...(rope ? { rope } : {}) };
    it(`#${t}: E ${full.embedDim}, Hq ${hq}/Hkv ${hkv}, D ${D}/${full.valueHeadDim}, ${cross ? `cross kdim ${full.kdim} vdim ${full.vdim}` : 'self'}` +
      `${rope ? `, rope ${rope.style}/${rope.rotaryDim}` : ''}, B ${B} N ${N}${cross ? ` M ${M}` : ''}, ${JSON.stringify(options)}`, () => {
      const w = separateWeights(seed, full);
      const x = { data: uniform(seed + 20, B * N * full.embedDim), shape: [B, N, full.embedDim] };
      const key = { data: uniform(seed + 21, B * M * full.kdim), shape: [B, M, full.kdim] };
      const value = separateValue ? { data: uniform(seed + 22, B * M * full.vdim), shape: [B, M, full.vdim] } : undefined;
      const mha = new MultiHeadAttention(config, w);
      const got = cross ? mha.forward(x, key, value, options) : mha.forward(x, undefined, undefined, options);
      const want = cross ? referenceMha(config, w, x, key, value, options) : referenceMha(config, w, x, undefined, undefined, options);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
      mha.dispose();
    });
  }
});

describe('MultiHeadAttention projections and cache', () => {
  const config: MhaConfig = { embedDim: 32, numHeads: 4, numKvHeads: 2, rope: true };
  const full = { embedDim: 32, numHeads: 4, numKvHeads: 2, headDim: 8, valueHeadDim: 8, kdim: 32, vdim: 32 };
  const w = separateWeights(99, full);
  const mha = new MultiHeadAttention(config, w);

  it('the fused q/k/v product gives bitwise the separate products', () => {
    const x = uniform(1, 2 * 10 * 32);
    const fused = mha.forward({ data: x, shape: [2, 10, 32] }, undefined, undefined, { causal: true });
    // Copies of x are different arrays, so each projection runs on its own (with the self-attention RoPE positions).
    const split = mha.forward({ data: x.slice(), shape: [2, 10, 32] }, { data: x.slice(), shape: [2, 10, 32] },
      { data: x.slice(), shape: [2, 10, 32] }, { causal: true, keyPositionOffset: 0 });
    expect(split.output).toEqual(fused.output);
  });

  it('weights resident in wasm give bitwise the weights copied per call; dispose() frees, the next call re-uploads', () => {
    const copied = new MultiHeadAttention({ ...config, residentWeights: false }, w);
    const resident = new MultiHeadAttention(config, w);
    for (const n of [7, 1]) { // the GEMM and the matrix-vector path
      const x = { data: uniform(30 + n, 2 * n * 32), shape: [2, n, 32] };
      const mem = { data: uniform(40 + n, 2 * 5 * 32), shape: [2, 5, 32] };
      expect(resident.forward(x).output).toEqual(copied.forward(x).output);
      expect(resident.forward(x, mem).output).toEqual(copied.forward(x, mem).output);
      resident.dispose();
      expect(resident.forward(x, mem, mem).output).toEqual(copied.forward(x, mem, mem).output);
    }
    resident.dispose();
    resident.dispose(); // idempotent
  });

  it('decoding with a KV cache equals the full causal pass, batch 2', () => {
    const [B, N, P] = [2, 12, 5];
    const x = uniform(2, B * N * 32);
    const whole = mha.forward({ data: x, shape: [B, N, 32] }, undefined, undefined, { causal: true }).output;
    const cache = mha.createCache(B, 2); // small capacity: exercises growth
    const rows = (t0: number, t1: number): Float32Array => {
      const out = new Float32Array(B * (t1 - t0) * 32);
      for (let b = 0; b < B; b++) out.set(x.subarray((b * N + t0) * 32, (b * N + t1) * 32), b * (t1 - t0) * 32);
      return out;
    };
    const prefill = mha.forward({ data: rows(0, P), shape: [B, P, 32] }, undefined, undefined, { causal: true, cache });
    expect(cache.length).toBe(P);
    for (let b = 0; b < B; b++) {
      expect(maxDiff(prefill.output.subarray(b * P * 32, (b + 1) * P * 32), whole.subarray(b * N * 32, (b * N + P) * 32))).toBeLessThanOrEqual(1e-6);
    }
    for (let t = P; t < N; t++) {
      const step = mha.forward({ data: rows(t, t + 1), shape: [B, 1, 32] }, undefined, undefined, { causal: true, cache });
      for (let b = 0; b < B; b++) {
        expect(maxDiff(step.output.subarray(b * 32, (b + 1) * 32), whole.subarray((b * N + t) * 32, (b * N + t + 1) * 32))).toBeLessThanOrEqual(1e-5);
      }
    }
    expect(cache.length).toBe(N);
  });
});

describe('MultiHeadAttention errors', () => {
  const w = torchWeights(5, 16);
  const cases: [string, () => unknown, string, string][] = [
    ['in_proj_weight length', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, { ...w, in_proj_weight: new Float32Array(10) }),
      'weights.in_proj_weight', 'INVALID_SHAPE'],
    ['out_proj.bias type', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, { ...w, 'out_proj.bias': [1] as never }),
      'weights.out_proj.bias', 'INVALID_TYPE'],
    ['rope style', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2, rope: { style: 'neox' as never } }, w), 'config.rope.style', 'INVALID_OPTION'],
    ['rope rotaryDim', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2, rope: { rotaryDim: 9 } }, w), 'config.rope.rotaryDim', 'INVALID_OPTION'],
    ['heads not dividing', () => new MultiHeadAttention({ embedDim: 16, numHeads: 4, numKvHeads: 3 }, w), 'config.numKvHeads', 'INVALID_HEADS'],
    ['torch dict with GQA', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2, numKvHeads: 1 }, w), 'weights', 'INVALID_OPTION'],
    ['missing o', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, { q: { weight: mat(1, 16, 16) } } as never), 'weights.k', 'INVALID_TYPE'],
    ['query width', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, w).forward({ data: new Float32Array(30), shape: [2, 15] }),
      'query', 'INVALID_SHAPE'],
    ['value rows', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, w).forward({ data: new Float32Array(32), shape: [2, 16] },
      { data: new Float32Array(48), shape: [3, 16] }, { data: new Float32Array(64), shape: [4, 16] }), 'value', 'INVALID_SHAPE'],
    ['foreign cache', () => new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, w).forward({ data: new Float32Array(32), shape: [2, 16] },
      undefined, undefined, { cache: new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, w).createCache(3) }), 'cache', 'INVALID_OPTION'],
    ['cache with cross-attention', () => {
      const layer = new MultiHeadAttention({ embedDim: 16, numHeads: 2 }, w);
      return layer.forward({ data: new Float32Array(32), shape: [2, 16] }, { data: new Float32Array(48), shape: [3, 16] }, undefined,
        { cache: layer.createCache(1) });
    }, 'cache', 'INVALID_OPTION'],
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
});
