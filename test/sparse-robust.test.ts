/**
 * Structured sparsity at its edges, against an oracle that shares nothing with ts/sparse/: the pattern is evaluated
 * here from the raw `sparsity` option (the README's definitions, BigBird's draw redone with test/rng.ts), turned
 * into an explicit [B, Hq, Nq, Nk] mask ANDed with the caller's mask, and handed to the float64 reference without
 * `sparsity`. Cases: CSR rows empty, duplicated and unsorted; global tokens duplicated, empty, past Nq or past Nk;
 * window 0, dilation 1 and > N, window·dilation beyond 2³²; layouts whose blocks do not divide N or exceed it (were
 * refused: blockSize had to be ≤ Nq, Nk, though ⌈N / b⌉ = 1 is well defined); more random
 * blocks than key blocks; Nq ≠ Nk under both alignments; B > 1 with lengths; every other option at once (GQA,
 * BNHD, mask, bias, ALiBi, relative bias, softcap, weights, `out`). Rows with no allowed key give 0 and LSE −∞.
 * Then the pool (bitwise, row-split tasks) and the validation of nested option objects.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, attention, createAttention, init, referenceAttention } from '../ts/index.js';
import type { AttentionOptions, SparsityOption } from '../ts/index.js';
import { Rng, uniform } from './rng.js';
import { maxDiff } from './compare.js';
import { inputs, type Shape } from './shaped-inputs.js';

const TOL = 1e-5;


const mha = (nq: number, nk: number, b = 1): Shape => ({ b, hq: 2, hkv: 2, nq, nk, dk: 16, dv: 16, layout: 'BHND' });


/** The pattern of `sp` as an [Nq, Nk] 0/1 array, from the option itself. */
function patternOf(sp: SparsityOption, nq: number, nk: number, bottomRight: boolean): Uint8Array {
  const shift = bottomRight ? nk - nq : 0;
  const [bq, bk] = sp.blocks ? sp.blocks.blockSize : [32, 128];
  const rows = Math.ceil(nq / bq);
  const cols = Math.ceil(nk / bk);
  let layout = sp.blocks ? Uint8Array.from(sp.blocks.layout) : undefined;
  if (sp.randomBlocks) {
    layout ??= new Uint8Array(rows * cols);
    const rng = new Rng(sp.randomBlocks.seed);
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: cols }, (_, c) => c);
      for (let t = 0; t < Math.min(sp.randomBlocks.count, cols); t++) {
        const u = t + Math.floor(rng.next() * (cols - t));
        [order[t], order[u]] = [order[u]!, order[t]!];
        layout[r * cols + order[t]!] = 1;
      }
    }
  }
  const globals = new Set(Array.from(sp.globalTokens ?? []));
  const out = new Uint8Array(nq * nk);
  for (let i = 0; i < nq; i++) {
    const listed = new Set<number>();
    if (sp.csr) for (let t = sp.csr.rowPtr[i]!; t < sp.csr.rowPtr[i + 1]!; t++) listed.add(sp.csr.colIdx[t]!);
    for (let j = 0; j < nk; j++) {
      const dist = Math.abs(i + shift - j);
      const d = sp.dilation ?? 1;
      const ok = (sp.window !== undefined && dist <= sp.window * d && dist % d === 0) ||
        globals.has(i) || globals.has(j) ||
        (layout !== undefined && layout[Math.floor(i / bq) * cols + Math.floor(j / bk)] === 1) || listed.has(j);
      out[i * nk + j] = ok ? 1 : 0;
    }
  }
  return out;
}

/** The float64 reference with `sparsity` replaced by an explicit mask (ANDed with the caller's mask). */
function oracle(x: ReturnType<typeof inputs>, s: Shape, o: AttentionOptions) {
  const bottomRight = o.causal === 'bottom-right' || o.window?.align === 'bottom-right';
  const pattern = patternOf(o.sparsity!, s.nq, s.nk, bottomRight);
  const area = s.nq * s.nk;
  const mask = new Uint8Array(s.b * s.hq * area);
  const user = o.mask as { data: Uint8Array; shape: number[] } | undefined;
  const dims = user ? [1, 1, 1, 1].slice(user.shape.length).concat(user.shape) : [];
  for (let b = 0; b < s.b; b++) {
    for (let h = 0; h < s.hq; h++) {
      const from = user ? ((dims[0] === 1 ? 0 : b) * dims[1]! + (dims[1] === 1 ? 0 : h)) * area : 0;
      for (let t = 0; t < area; t++) mask[(b * s.hq + h) * area + t] = pattern[t]! && (!user || user.data[from + t] !== 0) ? 1 : 0;
    }
  }
  return referenceAttention(x.q, x.k, x.v, { ...o, sparsity: undefined, mask: { data: mask, shape: [s.b, s.hq, s.nq, s.nk] } });
}

function csr(rng: Rng, nq: number, nk: number, empty: number[]): { rowPtr: number[]; colIdx: number[] } {
  const rowPtr = [0];
  const colIdx: number[] = [];
  for (let i = 0; i < nq; i++) {
    if (!empty.includes(i)) {
      for (let t = rng.int(0, 6); t > 0; t--) {
        const c = rng.int(0, nk - 1);
        colIdx.push(c);
        if (rng.chance(0.3)) colIdx.push(c); // duplicates, in no particular order
      }
    }
    rowPtr.push(colIdx.length);
  }
  return { rowPtr, colIdx };
}

function cases(): [string, Shape, AttentionOptions][] {
  const rng = new Rng(77);
  const layout = (r: number, c: number): Uint8Array => Uint8Array.from({ length: r * c }, () => (rng.chance(0.3) ? 1 : 0));
  const mask = { data: Uint8Array.from({ length: 2 * 120 * 300 }, () => (rng.chance(0.7) ? 1 : 0)), shape: [2, 1, 120, 300] };
  return [
    ['CSR: empty, duplicated, unsorted rows', mha(90, 333), { sparsity: { csr: csr(rng, 90, 333, [0, 5, 89]) } }],
    ['CSR: every row empty', mha(40, 50), { sparsity: { csr: { rowPtr: new Array<number>(41).fill(0), colIdx: [] } } }],
    ['global tokens duplicated and unsorted', mha(100, 200), { sparsity: { globalTokens: [5, 5, 3, 150, 3] } }],
    ['global tokens empty (nothing allowed)', mha(50, 70), { sparsity: { globalTokens: [] } }],
    ['global tokens past Nq', mha(50, 300), { sparsity: { globalTokens: [200, 299] } }],
    ['global tokens past Nk', mha(300, 50), { sparsity: { globalTokens: [10, 200, 299] } }],
    ['window 0 (the diagonal)', mha(150, 150), { sparsity: { window: 0 } }],
    ['dilation 1', mha(150, 150), { sparsity: { window: 5, dilation: 1 } }],
    ['dilation > N', mha(150, 150), { sparsity: { window: 5, dilation: 1000 } }],
    ['window · dilation beyond 2³²', mha(150, 150), { sparsity: { window: 2 ** 31 - 1, dilation: 2 ** 31 - 1 } }],
    ['layout of 7 × 33 blocks (not dividing N)', mha(100, 300), { sparsity: { blocks: { layout: layout(15, 10), blockSize: [7, 33] } } }],
    ['layout of 1 × 1 blocks', mha(40, 70), { sparsity: { blocks: { layout: layout(40, 70), blockSize: [1, 1] } } }],
    ['blocks larger than the sequence (a model block size on a short input)', mha(50, 70), { sparsity: { window: 1, blocks: { layout: Uint8Array.of(0), blockSize: [64, 128] } } }],
    ['random blocks of a layout whose blocks exceed Nq', mha(50, 300), { sparsity: { randomBlocks: { count: 1, seed: 6 }, blocks: { layout: new Uint8Array(3), blockSize: [64, 128] } } }],
    ['more random blocks than key blocks', mha(100, 300), { sparsity: { randomBlocks: { count: 50, seed: 3 } } }],
    ['random blocks merged into a layout', mha(100, 300), { sparsity: { randomBlocks: { count: 1, seed: -5 }, blocks: { layout: layout(10, 10), blockSize: [10, 30] } } }],
    ['Nq < Nk, bottom-right causal, dilated', mha(70, 400), { causal: 'bottom-right', sparsity: { window: 4, dilation: 3, globalTokens: [1, 399] } }],
    ['Nq > Nk, bottom-right causal', mha(400, 70), { causal: 'bottom-right', sparsity: { window: 4, dilation: 3, globalTokens: [1, 399] } }],
    ['Nq > Nk, bottom-right window option', mha(300, 170), { window: { left: 10, align: 'bottom-right' }, sparsity: { window: 7, globalTokens: [250] } }],
    ['B 2, lengths, bottom-right causal, CSR', mha(160, 260, 2), {
      causal: 'bottom-right', queryLengths: [100, 160], keyLengths: [260, 170], sparsity: { window: 9, globalTokens: [2], csr: csr(rng, 160, 260, [1]) },
    }],
    ['every option: GQA 4:1, BNHD, Dk ≠ Dv, mask, bias, ALiBi, relative bias, softcap, lengths, weights', { b: 2, hq: 8, hkv: 2, nq: 120, nk: 300, dk: 12, dv: 20, layout: 'BNHD' }, {
      layout: 'BNHD', causal: 'bottom-right', window: { left: 150 }, mask, bias: { data: uniform(9, 8 * 120 * 300), shape: [8, 120, 300] },
      alibi: true, relativeBias: { table: { data: uniform(3, 8 * 20), shape: [8, 20] }, zero: 10 }, softcap: 3, returnWeights: true,
      queryLengths: [120, 90], keyLengths: [300, 250],
      sparsity: { window: 5, dilation: 2, globalTokens: [0, 119, 299], randomBlocks: { count: 1, seed: 2 }, csr: csr(rng, 120, 300, [4]) },
    }],
    ['cosine, GQA 4:1, Dk 7', { b: 1, hq: 8, hkv: 2, nq: 200, nk: 200, dk: 7, dv: 7, layout: 'BHND' }, { similarity: 'cosine', temperature: 0.1, sparsity: { window: 3, globalTokens: [7] } }],
    ['scale 1e4 (no NaN, no overflow)', mha(100, 300), { scale: 1e4, softcap: 5, sparsity: { window: 3, globalTokens: [7] } }],
    ['Nq 1', mha(1, 500), { causal: 'bottom-right', sparsity: { window: 3, globalTokens: [400] } }],
    ['Nk 1', mha(500, 1), { sparsity: { window: 3, globalTokens: [400] } }],
  ];
}

beforeAll(async () => {
  await init();
});

describe('sparsity edges vs an explicit-mask oracle', () => {
  for (const [name, s, options] of cases()) {
    it(name, () => {
      const x = inputs(name.length * 7 + 3, s);
      const o: AttentionOptions = { ...options, returnLse: true };
      const got = attention(x.q, x.k, x.v, o);
      const want = oracle(x, s, o);
      expect(maxDiff(got.output, want.output)).toBeLessThanOrEqual(TOL);
      expect(maxDiff(got.lse!, want.lse, true)).toBeLessThanOrEqual(TOL);
      if (o.returnWeights) expect(maxDiff(got.weights!, want.weights)).toBeLessThanOrEqual(TOL);
      // Rows with no allowed key: zeros and LSE −∞ (maxDiff above already demands −∞ where the oracle has it).
      for (let r = 0; r < want.lse.length; r++) {
        if (want.lse[r] !== -Infinity) continue;
        const b = Math.floor(r / (s.hq * s.nq));
        const h = Math.floor(r / s.nq) % s.hq;
        const i = r % s.nq;
        const at = s.layout === 'BHND' ? ((b * s.hq + h) * s.nq + i) * s.dv : ((b * s.nq + i) * s.hq + h) * s.dv;
        expect(Array.from(got.output.subarray(at, at + s.dv)).every((v) => v === 0)).toBe(true);
      }
      const out = new Float32Array(got.output.length).fill(7);
      expect(attention(x.q, x.k, x.v, { ...o, out }).output).toBe(out);
      expect(Array.from(out)).toEqual(Array.from(got.output));
    });
  }
});

describe('sparsity on the pool', () => {
  it('row-split tasks give bitwise the single-thread result', async () => {
    const rng = new Rng(9);
    const pool = await createAttention({ threads: 2 });
    try {
      const list: [Shape, AttentionOptions][] = [
        [{ b: 2, hq: 8, hkv: 2, nq: 333, nk: 517, dk: 12, dv: 20, layout: 'BNHD' }, { layout: 'BNHD', returnWeights: true, sparsity: { csr: csr(rng, 333, 517, [3]), window: 2 } }],
        [{ b: 1, hq: 1, hkv: 1, nq: 777, nk: 300, dk: 8, dv: 8, layout: 'BHND' }, { causal: 'bottom-right', alibi: true, sparsity: { window: 3, globalTokens: [776, 1] } }],
        [{ b: 1, hq: 1, hkv: 1, nq: 1000, nk: 1000, dk: 16, dv: 16, layout: 'BHND' }, { causal: true, sparsity: { window: 40, globalTokens: [3, 500], randomBlocks: { count: 1, seed: 5 } } }],
      ];
      for (const [s, options] of list) {
        const x = inputs(31, s);
        const o = { ...options, returnLse: true };
        const one = attention(x.q, x.k, x.v, o);
        const got = await pool.run(x.q, x.k, x.v, o);
        expect(Array.from(got.output)).toEqual(Array.from(one.output));
        expect(Array.from(got.lse!)).toEqual(Array.from(one.lse!));
        if (o.returnWeights) expect(Array.from(got.weights!)).toEqual(Array.from(one.weights!));
      }
    } finally {
      pool.dispose();
    }
  });
});

describe('nested sparsity objects', () => {
  const x = inputs(4, { b: 1, hq: 1, hkv: 1, nq: 10, nk: 12, dk: 4, dv: 4, layout: 'BHND' });
  const bad: [string, unknown][] = [
    ['sparsity.randomBlocks.seeds', { randomBlocks: { count: 1, seed: 1, seeds: 2 } }],
    ['sparsity.blocks.block_size', { blocks: { layout: new Uint8Array(1), blockSize: [10, 12], block_size: [5, 5] } }],
    ['sparsity.csr.colidx', { csr: { rowPtr: new Array<number>(11).fill(0), colIdx: [], colidx: [3] } }],
  ];
  for (const [argument, sparsity] of bad) {
    it(`an unknown key is an error naming ${argument}, not ignored`, () => {
      let error: unknown;
      try {
        attention(x.q, x.k, x.v, { sparsity } as AttentionOptions);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AttentionError);
      expect(error).toMatchObject({ code: 'INVALID_OPTION', argument });
    });
  }
  it('undefined entries are fine, as at the top level', () => {
    const sparsity = { randomBlocks: { count: 1, seed: 1, extra: undefined }, window: 1 } as SparsityOption;
    expect(attention(x.q, x.k, x.v, { sparsity }).output.length).toBe(40);
  });
});
