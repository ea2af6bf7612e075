/**
 * maskPattern against the float64 reference: with all-zero queries every allowed key gets the same positive weight
 * and every other key weight 0, so the reference's nonzero weights are exactly the pairs it computes. Plus the SVG
 * view of the pattern, checked by parsing it.
 */
import { describe, expect, it } from 'vitest';
import { buildDescriptor, referenceAttention } from '../ts/index.js';
import type { AttentionOptions } from '../ts/index.js';
import { AttentionError } from '../ts/errors.js';
import { maskPattern } from '../ts/viz/pattern.js';
import { maskPatternSvg } from '../ts/viz/maskview.js';
import { edgeCases, generateCases } from './cases.js';
import { cellsIn, expectValidSvg, gridFills } from './xml.js';

/** Rows as strings of 0/1, for readable failures. */
const show = (p: Uint8Array, cols: number): string[] =>
  Array.from({ length: p.length / cols }, (_, i) => Array.from(p.subarray(i * cols, (i + 1) * cols)).join(''));

describe('maskPattern', () => {
  it('causal, window and their alignments on small hand-checked grids', () => {
    expect(show(maskPattern({ rows: 4, cols: 4 }, { causal: true }), 4)).toEqual(['1000', '1100', '1110', '1111']);
    expect(show(maskPattern({ rows: 2, cols: 5 }, { causal: 'bottom-right' }), 5)).toEqual(['11110', '11111']);
    expect(show(maskPattern({ rows: 2, cols: 5 }, { causal: true }), 5)).toEqual(['10000', '11000']);
    expect(show(maskPattern({ rows: 5, cols: 5 }, { window: { left: 1, right: 1 } }), 5))
      .toEqual(['11000', '11100', '01110', '00111', '00011']);
    expect(show(maskPattern({ rows: 3, cols: 6 }, { causal: 'bottom-right', window: { left: 1 } }), 6))
      .toEqual(['001100', '000110', '000011']);
    expect(show(maskPattern({ rows: 3, cols: 3 }), 3)).toEqual(['111', '111', '111']);
  });

  it('lengths and a broadcast mask pick the batch entry and head', () => {
    const shape = { batch: 2, heads: 2, rows: 3, cols: 4 };
    const opts: AttentionOptions = { queryLengths: [3, 2], keyLengths: [4, 3] };
    expect(show(maskPattern(shape, opts, { batch: 1 }), 4)).toEqual(['1110', '1110', '0000']);
    // Mask [H, Nq, Nk]: head 1 masks the first key; bottom-right diagonal uses the per-batch lengths.
    const mask = new Uint8Array(2 * 3 * 4).fill(1);
    for (let i = 0; i < 3; i++) mask[12 + i * 4] = 0;
    const m = { ...opts, causal: 'bottom-right' as const, mask: { data: mask, shape: [2, 3, 4] } };
    expect(show(maskPattern(shape, m, { batch: 1, head: 0 }), 4)).toEqual(['1100', '1110', '0000']);
    expect(show(maskPattern(shape, m, { batch: 1, head: 1 }), 4)).toEqual(['0100', '0110', '0000']);
    expect(show(maskPattern(shape, m, { batch: 0, head: 1 }), 4)).toEqual(['0100', '0110', '0111']);
  });

  it('agrees with the reference on every seeded case (structure, lengths, masks, alignment, GQA, layouts)', () => {
    const cases = [...generateCases(808, 56, { maxWork: 4e5 }), ...edgeCases(3)];
    let checked = 0;
    let skippedPairs = 0;
    for (const c of cases) {
      // Zero queries make every allowed logit equal (0) for dot and cosine alike; a bias is data, not structure.
      const options: AttentionOptions = { ...c.options, bias: undefined, returnWeights: undefined, out: undefined };
      const q = { data: new Float32Array(c.q.data.length), shape: 'shape' in c.q ? c.q.shape : c.q.dims };
      const d = buildDescriptor(q, c.k, c.v, options);
      const ref = referenceAttention(q, c.k, c.v, options).weights;
      for (let b = 0; b < d.b; b++) {
        for (let h = 0; h < d.hq; h++) {
          const p = maskPattern({ batch: d.b, heads: d.hq, rows: d.nq, cols: d.nk }, options, { batch: b, head: h });
          const base = (b * d.hq + h) * d.nq * d.nk;
          const want = Uint8Array.from(ref.subarray(base, base + d.nq * d.nk), (w) => (w > 0 ? 1 : 0));
          const where = `${c.name} b${b} h${h}:\n`;
          expect(where + show(p, d.nk).join('\n')).toBe(where + show(want, d.nk).join('\n'));
          checked++;
          skippedPairs += p.length - p.reduce((s, x) => s + x, 0);
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(skippedPairs).toBeGreaterThan(1000); // the cases do mask something
  });

  it('rejects what attention() rejects, naming the argument', () => {
    const shape = { rows: 4, cols: 4 };
    const err = (f: () => unknown): AttentionError => {
      try { f(); } catch (e) { if (e instanceof AttentionError) return e; throw e; }
      throw new Error('no error');
    };
    expect(err(() => maskPattern(shape, { window: { left: -1 } })).argument).toBe('window.left');
    expect(err(() => maskPattern(shape, { casual: true } as AttentionOptions)).message).toMatch(/did you mean 'causal'/);
    expect(err(() => maskPattern(shape, { keyLengths: [5] })).argument).toBe('keyLengths');
    expect(err(() => maskPattern(shape, { mask: { data: new Uint8Array(3), shape: [1, 3] } })).argument).toBe('mask');
    expect(err(() => maskPattern(shape, {}, { head: 1 })).argument).toBe('head');
    expect(err(() => maskPattern({ rows: 0, cols: 4 })).argument).toBe('shape.rows');
  });
});

describe('maskPatternSvg', () => {
  it('draws computed and skipped pairs in two colours with counts in the legend', () => {
    const n = 8;
    const svg = maskPatternSvg({ rows: n, cols: n }, { causal: true, window: { left: 2 } }, {
      title: 'causal, window 2', computedColor: '#000000', skippedColor: '#ffffff',
      rowLabels: Array.from({ length: n }, (_, i) => `q${i}`), colLabels: Array.from({ length: n }, (_, j) => `k${j}`),
    });
    expectValidSvg(svg);
    const fills = gridFills(cellsIn(/<g class="cells"[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1]!), n, n);
    const p = maskPattern({ rows: n, cols: n }, { causal: true, window: { left: 2 } });
    fills.forEach((f, x) => expect(f).toBe(p[x] ? '#000000' : '#ffffff'));
    expect(fills[0]).toBe('#000000');
    expect(fills[1]).toBe('#ffffff'); // (0, 1): the future
    expect(fills[7 * n + 4]).toBe('#ffffff'); // (7, 4): beyond the window
    expect(fills[7 * n + 5]).toBe('#000000');
    const computed = 1 + 2 + 3 * 6;
    expect(svg).toMatch(`>computed ${computed} (${Number(((100 * computed) / 64).toPrecision(3))}%)<`);
    expect(svg).toMatch(`>skipped ${64 - computed}<`);
    expect(svg).toMatch('>q7</text>');
    expect(svg).toMatch('>k0</text>');
  });

  it('draws equal neighbours in a row as one run: a causal pattern costs two runs per row, not N', () => {
    const n = 64;
    const svg = maskPatternSvg({ rows: n, cols: n }, { causal: true }, { cellSize: 2 });
    const group = /<g class="cells"[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1]!;
    expect(group.match(/M/g)!.length).toBe(2 * n - 1); // the last row has no skipped run
    const fills = gridFills(cellsIn(group), n, n);
    const on = fills[0]!;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(fills[i * n + j] === on).toBe(j <= i);
  });

  it('outlines kernel blocks as skipped, full or partial', () => {
    const svg = maskPatternSvg({ rows: 8, cols: 8 }, { causal: true }, { blockSize: 4 });
    expectValidSvg(svg);
    const kinds = [...svg.matchAll(/class="block block-(\w+)"/g)].map((m) => m[1]);
    expect(kinds).toEqual(['skip', 'partial', 'partial', 'full']); // drawn skipped first, full last
    expect(svg).toMatch('>4×4 blocks full: 1<');
    expect(svg).toMatch('>4×4 blocks partial: 2<');
    expect(svg).toMatch('>4×4 blocks skip: 1<');
    // Ragged edge blocks: 5 × 3 in blocks of 2 × 2 gives 3 × 2 tiles.
    const ragged = maskPatternSvg({ rows: 5, cols: 3 }, {}, { blockSize: [2, 2] });
    expect(ragged.match(/class="block block-full"/g)!.length).toBe(6);
  });

  it('rejects bad colours, block sizes and labels', () => {
    expect(() => maskPatternSvg({ rows: 2, cols: 2 }, {}, { computedColor: 'red"/><script>' })).toThrow(/computedColor/);
    expect(() => maskPatternSvg({ rows: 2, cols: 2 }, {}, { blockSize: 0 })).toThrow(/blockSize/);
    expect(() => maskPatternSvg({ rows: 2, cols: 2 }, {}, { rowLabels: ['a'] })).toThrow(/rowLabels/);
  });
});
