/**
 * Structured sparsity (issue #4): the wasm kernel walking the compiled block mask (ts/sparse/compile.ts,
 * crate/src/sparse) against the float64 reference, which evaluates the pattern pair by pair (ts/sparse/predicate.ts)
 * with no blocks at all. Seeded inputs in [−1, 1]; max abs error ≤ 1e-5 on output and weights, LSE relative to
 * max(1, |lse|); rows with no allowed key must give 0 and LSE −∞. The pool must match too.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, buildDescriptor, createAttention, init, maskPattern, referenceAttention, AttentionError } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { runDescriptor } from '../ts/core/call.js';
import { SPARSE_BK, SPARSE_BQ, KIND_FULL } from '../ts/sparse/types.js';
import { sparseAllowed } from '../ts/sparse/predicate.js';
import { Rng, uniform } from './rng.js';
import { maxDiff } from './compare.js';

const TOL = 1e-5;

interface Problem {
  b: number; hq: number; hkv: number; nq: number; nk: number; d: number;
}

function inputs(p: Problem, seed: number) {
  return {
    q: { data: uniform(seed, p.b * p.hq * p.nq * p.d), shape: [p.b, p.hq, p.nq, p.d] },
    k: { data: uniform(seed + 1, p.b * p.hkv * p.nk * p.d), shape: [p.b, p.hkv, p.nk, p.d] },
    v: { data: uniform(seed + 2, p.b * p.hkv * p.nk * p.d), shape: [p.b, p.hkv, p.nk, p.d] },
  };
}

function randomCsr(rng: Rng, nq: number, nk: number, empty: number[]) {
  const rowPtr = [0];
  const colIdx: number[] = [];
  for (let i = 0; i < nq; i++) {
    if (!empty.includes(i)) for (let t = rng.int(0, 6); t > 0; t--) colIdx.push(rng.int(0, nk - 1));
    rowPtr.push(colIdx.length);
  }
  return { rowPtr, colIdx };
}

function randomLayout(rng: Rng, rows: number, cols: number): Uint8Array {
  return Uint8Array.from({ length: rows * cols }, () => (rng.chance(0.3) ? 1 : 0));
}

interface Case {
  name: string;
  p: Problem;
  options: AttentionOptions;
}

function cases(): Case[] {
  const rng = new Rng(404);
  const out: Case[] = [];
  const add = (name: string, p: Problem, options: AttentionOptions): void => { out.push({ name, p, options }); };
  const mha = (nq: number, nk: number, b = 1): Problem => ({ b, hq: 2, hkv: 2, nq, nk, d: 16 });
  const gqa = (nq: number, nk: number): Problem => ({ b: 2, hq: 4, hkv: 2, nq, nk, d: 8 });
  add('window 20', mha(300, 300), { sparsity: { window: 20 } });
  add('window 100 (full blocks)', mha(400, 400), { sparsity: { window: 100 } });
  add('window 20 + causal', mha(300, 300), { causal: true, sparsity: { window: 20 } });
  add('dilated window w 6 d 3, Nq < Nk bottom-right causal', mha(150, 420), { causal: 'bottom-right', sparsity: { window: 6, dilation: 3 } });
  add('dilated window w 5 d 4, Nq > Nk', gqa(260, 140), { sparsity: { window: 5, dilation: 4 } });
  add('Longformer: window + globals, GQA', gqa(290, 290), { sparsity: { window: 8, globalTokens: [0, 5, 130, 289] } });
  add('Longformer, causal', gqa(290, 290), { causal: true, sparsity: { window: 8, globalTokens: [0, 64] } });
  add('BigBird: window + globals + random blocks', mha(200, 520), { sparsity: { window: 4, globalTokens: [0, 1], randomBlocks: { count: 2, seed: 9 } } });
  add('BigBird, GQA, causal', gqa(300, 300), { causal: true, sparsity: { window: 3, globalTokens: [2], randomBlocks: { count: 1, seed: 3 } } });
  add('block layout [16, 48]', mha(100, 300), { sparsity: { blocks: { layout: randomLayout(rng, 7, 7), blockSize: [16, 48] } } });
  add('block layout [64, 256] (full kernel blocks) + random', mha(256, 600), {
    sparsity: { blocks: { layout: randomLayout(rng, 4, 3), blockSize: [64, 256] }, randomBlocks: { count: 1, seed: 1 } },
  });
  add('CSR graph with empty rows', mha(90, 333), { returnWeights: true, sparsity: { csr: randomCsr(rng, 90, 333, [0, 7, 50]) } });
  add('CSR, GQA, Nq > Nk', gqa(140, 70), { sparsity: { csr: randomCsr(rng, 140, 70, [3]) } });
  const mask = { data: Uint8Array.from({ length: 120 * 300 }, () => (rng.chance(0.8) ? 1 : 0)), shape: [120, 300] };
  add('window + mask + key lengths + bias', mha(120, 300, 2), {
    mask, keyLengths: [300, 170], queryLengths: [120, 77], bias: { data: uniform(77, 120 * 300), shape: [120, 300] },
    sparsity: { window: 30, globalTokens: [10] },
  });
  add('window + window option + weights', mha(200, 200), { window: { left: 40 }, returnWeights: true, sparsity: { window: 12, dilation: 2, globalTokens: [199] } });
  add('sparse window 0 (diagonal only), BNHD', { b: 1, hq: 3, hkv: 1, nq: 70, nk: 70, d: 5 }, { sparsity: { window: 0 } });
  return out;
}

beforeAll(async () => {
  await init();
});

describe('structured sparsity vs the float64 reference', () => {
  for (const c of cases()) {
    it(c.name, () => {
      const x = inputs(c.p, c.name.length * 31 + 1);
      const o: AttentionOptions = { ...c.options, returnLse: true };
      const got = attention(x.q, x.k, x.v, o);
      const want = referenceAttention(x.q, x.k, x.v, o);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
      expect(maxDiff(got.lse!, want.lse, true)).toBeLessThanOrEqual(TOL);
      if (o.returnWeights) expect(maxDiff(got.weights!, want.weights)).toBeLessThanOrEqual(TOL);
      // The pattern does constrain the result: it differs from the dense problem.
      const dense = referenceAttention(x.q, x.k, x.v, { ...o, sparsity: undefined });
      expect(maxDiff(dense.output, want.output)).toBeGreaterThan(TOL);
    });
  }

  it('rows with no allowed key give 0 and LSE −∞', () => {
    const p = { b: 1, hq: 1, hkv: 1, nq: 40, nk: 200, d: 8 };
    const x = inputs(p, 5);
    const csr = randomCsr(new Rng(2), 40, 200, [0, 33]);
    const got = attention(x.q, x.k, x.v, { returnLse: true, sparsity: { csr } });
    for (const i of [0, 33]) {
      expect(got.lse![i]).toBe(-Infinity);
      expect(Array.from(got.output.subarray(i * 8, i * 8 + 8)).every((v) => v === 0)).toBe(true);
    }
    expect(Number.isFinite(got.lse![1]) || csr.rowPtr[2] === csr.rowPtr[1]).toBe(true);
  });
});

describe('the block mask', () => {
  it('lists O(N·w) blocks for a window, and FULL blocks are fully allowed', () => {
    const n = 4096;
    const d = buildDescriptor(...Object.values(inputs({ b: 1, hq: 1, hkv: 1, nq: n, nk: n, d: 4 }, 1)) as [never, never, never],
      { sparsity: { window: 300, globalTokens: [7] } });
    const s = d.sparse!;
    expect(s.blockRows).toBe(n / SPARSE_BQ);
    // Per query block: the window reaches at most ceil((32 + 600) / 128) + 1 = 6 blocks, plus the global's block 0.
    // (Query block 0 holds the global token itself and lists every key block.)
    for (let r = 1; r < s.blockRows; r++) expect(s.rowPtr[r + 1]! - s.rowPtr[r]!).toBeLessThanOrEqual(7);
    expect(s.idx.length).toBeLessThan((n / SPARSE_BQ) * 8);
    // Query block 0 holds the global token 7: every key block listed, PARTIAL (not every row is global).
    expect(s.rowPtr[1]).toBe(n / SPARSE_BK);
    let full = 0;
    for (let r = 0; r < s.blockRows; r++) {
      for (let t = s.rowPtr[r]!; t < s.rowPtr[r + 1]!; t++) {
        if (s.kind[t] !== KIND_FULL) continue;
        full++;
        const c = s.idx[t]!;
        for (let gi = r * SPARSE_BQ; gi < (r + 1) * SPARSE_BQ; gi += 7) {
          for (let gj = c * SPARSE_BK; gj < (c + 1) * SPARSE_BK; gj += 5) expect(sparseAllowed(s, gi, gj)).toBe(true);
        }
      }
    }
    expect(full).toBeGreaterThan(0);
  });

  it('every allowed pair lies in a listed block', () => {
    const rng = new Rng(8);
    const nq = 97;
    const nk = 301;
    const x = inputs({ b: 1, hq: 1, hkv: 1, nq, nk, d: 4 }, 2);
    const d = buildDescriptor(x.q, x.k, x.v, {
      sparsity: { window: 3, dilation: 5, globalTokens: [50], randomBlocks: { count: 1, seed: 4 }, csr: randomCsr(rng, nq, nk, []) },
    });
    const s = d.sparse!;
    for (let gi = 0; gi < nq; gi++) {
      const r = Math.floor(gi / SPARSE_BQ);
      const listed = new Set(s.idx.subarray(s.rowPtr[r]!, s.rowPtr[r + 1]!));
      for (let gj = 0; gj < nk; gj++) if (sparseAllowed(s, gi, gj)) expect(listed.has(Math.floor(gj / SPARSE_BK))).toBe(true);
    }
  });

  it('the kernel rejects a corrupted block mask with a status, named sparsity', () => {
    const x = inputs({ b: 1, hq: 1, hkv: 1, nq: 64, nk: 256, d: 4 }, 3);
    const bad = (edit: (d: ReturnType<typeof buildDescriptor>) => void): unknown => {
      const d = buildDescriptor(x.q, x.k, x.v, { sparsity: { window: 2, csr: randomCsr(new Rng(1), 64, 256, []) } });
      edit(d);
      try {
        runDescriptor(d);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const edits: ((d: ReturnType<typeof buildDescriptor>) => void)[] = [
      (d) => { d.sparse!.kind[0] = 3; },
      (d) => { d.sparse!.idx[0] = 99; },
      (d) => { d.sparse!.rowPtr[1] = 1000; },
      (d) => { d.sparse!.dilation = 0; },
      (d) => { d.sparse!.csr!.colIdx[0] = 256; },
      (d) => { d.sparse!.blockRows = 3; },
      (d) => { d.kStart = 5; d.nkFull = 300; },
    ];
    for (const e of edits) {
      const err = bad(e);
      expect(err).toBeInstanceOf(AttentionError);
      expect((err as AttentionError).argument).toBe('sparsity');
    }
    expect(bad(() => undefined)).toBe(undefined);
  });
});

describe('maskPattern with sparsity', () => {
  const patterns: [string, AttentionOptions][] = [
    ['Longformer, causal', { causal: true, sparsity: { window: 3, globalTokens: [0, 40] } }],
    ['BigBird, bottom-right causal', { causal: 'bottom-right', sparsity: { window: 2, dilation: 2, globalTokens: [5], blocks: { layout: new Uint8Array(10 * 14), blockSize: [6, 11] }, randomBlocks: { count: 2, seed: 7 } } }],
    ['CSR + mask', { mask: { data: Uint8Array.from({ length: 60 * 150 }, (_, t) => (t % 7 === 0 ? 0 : 1)), shape: [60, 150] }, sparsity: { csr: randomCsr(new Rng(6), 60, 150, [4]) } }],
  ];
  for (const [name, options] of patterns) {
    it(`${name}: draws exactly the pairs the kernel gives weight to`, () => {
      const x = inputs({ b: 1, hq: 1, hkv: 1, nq: 60, nk: 150, d: 4 }, 21);
      const w = attention(x.q, x.k, x.v, { ...options, returnWeights: true }).weights!;
      const pattern = maskPattern({ rows: 60, cols: 150 }, options);
      let allowed = 0;
      for (let t = 0; t < pattern.length; t++) {
        expect(w[t]! > 0 ? 1 : 0).toBe(pattern[t]);
        allowed += pattern[t]!;
      }
      expect(allowed).toBeGreaterThan(60);
      expect(allowed).toBeLessThan(60 * 150 / 2);
    });
  }
});

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AttentionError);
    return e;
  }
  throw new Error('expected an AttentionError');
}

describe('sparsity option validation', () => {
  const x = inputs({ b: 1, hq: 1, hkv: 1, nq: 10, nk: 12, d: 4 }, 4);
  const cases: [unknown, string][] = [
    [{}, 'sparsity'],
    [{ windows: 3 }, 'sparsity.windows'],
    [{ window: -1 }, 'sparsity.window'],
    [{ window: 2, dilation: 0 }, 'sparsity.dilation'],
    [{ dilation: 2, globalTokens: [1] }, 'sparsity.dilation'],
    [{ globalTokens: [12] }, 'sparsity.globalTokens'],
    [{ randomBlocks: { count: -1, seed: 1 } }, 'sparsity.randomBlocks.count'],
    [{ blocks: { layout: new Uint8Array(3), blockSize: [4, 4] } }, 'sparsity.blocks.layout'],
    [{ blocks: { layout: new Uint8Array(9), blockSize: [4] } }, 'sparsity.blocks.blockSize'],
    [{ csr: { rowPtr: [0, 1], colIdx: [0] } }, 'sparsity.csr.rowPtr'],
    [{ csr: { rowPtr: new Array(11).fill(0), colIdx: [12] } }, 'sparsity.csr.colIdx'],
  ];
  for (const [sparsity, argument] of cases) {
    it(`names ${argument} for ${JSON.stringify(sparsity)}`, () => {
      expect(thrown(() => attention(x.q, x.k, x.v, { sparsity } as AttentionOptions))).toMatchObject({ argument });
    });
  }
  it('refuses sparsity with a variant', () => {
    expect(thrown(() => attention(x.q, x.k, x.v, { sparsity: { window: 1 }, variant: { kind: 'linear' } })))
      .toMatchObject({ argument: 'sparsity' });
  });
});

describe('structured sparsity on the pool', () => {
  it('row chunks and key-range tasks give the single-thread result', async () => {
    const pool = await createAttention({ threads: 2 });
    try {
      const shapes: [Problem, AttentionOptions][] = [
        [{ b: 1, hq: 1, hkv: 1, nq: 900, nk: 900, d: 16 }, { causal: true, sparsity: { window: 40, globalTokens: [3, 500], randomBlocks: { count: 1, seed: 5 } } }],
        [{ b: 1, hq: 2, hkv: 1, nq: 4, nk: 3000, d: 16 }, { sparsity: { window: 100, dilation: 2, globalTokens: [2999] } }],
      ];
      for (const [p, options] of shapes) {
        const x = inputs(p, 12);
        const o = { ...options, returnLse: true };
        const one = attention(x.q, x.k, x.v, o);
        const got = await pool.run(x.q, x.k, x.v, o);
        expect(maxDiff(got.output, one.output)).toBeLessThanOrEqual(TOL);
        expect(maxDiff(got.lse!, one.lse!, true)).toBeLessThanOrEqual(TOL);
        const want = referenceAttention(x.q, x.k, x.v, o);
        expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
      }
    } finally {
      pool.dispose();
    }
  });
});
