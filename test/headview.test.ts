/** headViewSvg: one panel per head on a shared colour scale, checked by parsing the SVG. */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, init } from '../ts/index.js';
import { headViewSvg } from '../ts/viz/headview.js';
import { scaleColor } from '../ts/viz/svg.js';
import { AttentionError } from '../ts/errors.js';
import { Rng } from './rng.js';
import { cellsIn, expectValidSvg, gridFills } from './xml.js';

/** The <g class="head"> groups of a head view: index, title, cells. */
function panels(svg: string): { head: number; title: string; cells: ReturnType<typeof cellsIn> }[] {
  return [...svg.matchAll(/<g class="head" data-head="(\d+)">([\s\S]*?)<\/g><rect/g)].map((m) => ({
    head: Number(m[1]),
    title: /<text class="head-title"[^>]*>([^<]*)<\/text>/.exec(m[2]!)![1]!,
    cells: cellsIn(m[2]!),
  }));
}

describe('headViewSvg', () => {
  const [heads, rows, cols] = [6, 5, 7];
  const w = new Rng(3).fill(new Float32Array(heads * rows * cols), 0, 1);

  it('draws every head as its own panel with a title, one cell per weight', () => {
    const svg = headViewSvg(w, { heads, rows, cols }, { title: 'layer 0 <all heads>' });
    expectValidSvg(svg);
    const ps = panels(svg);
    expect(ps.map((p) => p.head)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ps.map((p) => p.title)).toEqual(['head 0', 'head 1', 'head 2', 'head 3', 'head 4', 'head 5']);
    for (const p of ps) expect(p.cells.length).toBe(rows * cols);
    expect(svg).toMatch(/layer 0 &lt;all heads&gt;/);
    expect(svg).toMatch(/^<svg [^>]* role="img"[^>]*><title>layer 0 &lt;all heads&gt;<\/title>/);
    // Panels do not overlap: their top-left corners are at least a panel apart.
    const corners = ps.map((p) => [Math.min(...p.cells.map((c) => c.x)), Math.min(...p.cells.map((c) => c.y))] as const);
    const cell = 12; // the default cell side for a 5×7 panel (capped at 12)
    for (let a = 0; a < heads; a++) {
      for (let b = a + 1; b < heads; b++) {
        const dx = Math.abs(corners[a]![0] - corners[b]![0]);
        const dy = Math.abs(corners[a]![1] - corners[b]![1]);
        expect(dx >= cols * cell || dy >= rows * cell).toBe(true);
      }
    }
    // Default: 4 panels per grid row.
    expect(new Set(corners.map((c) => c[1])).size).toBe(2);
    expect(new Set(corners.map((c) => c[0])).size).toBe(4);
  });

  it('shares one colour scale and one legend across heads; each cell has the colour of its weight', () => {
    const svg = headViewSvg(w, { heads, rows, cols }, { columns: 3, colorScale: 'blues' });
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of w) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    expect(svg.match(/class="legend"/g)!.length).toBe(1);
    expect(svg).toMatch(new RegExp(`class="legend-max">${Number(hi.toPrecision(3))}<`));
    expect(svg).toMatch(new RegExp(`class="legend-min">${Number(lo.toPrecision(3))}<`));
    for (const p of panels(svg)) {
      const fills = gridFills(p.cells, rows, cols);
      fills.forEach((f, x) => {
        const v = w[p.head * rows * cols + x]!;
        expect(f).toBe(scaleColor('blues', Math.round(((v - lo) / (hi - lo)) * 255) / 255));
      });
    }
  });

  it('uses given head titles and token labels, and picks a batch entry', () => {
    const titles = ['prev', 'self', 'first', 'a&b', 'e', 'f'];
    const tokens = ['The', 'cat', 'sat', 'on', 'the', 'mat', '.'];
    const two = new Float32Array(2 * w.length);
    two.set(w, w.length);
    const svg = headViewSvg(two, { heads, rows, cols }, { headTitles: titles, rowLabels: tokens.slice(0, rows), colLabels: tokens, batch: 1 });
    expectValidSvg(svg);
    expect(panels(svg).map((p) => p.title)).toEqual(['prev', 'self', 'first', 'a&amp;b', 'e', 'f']);
    for (const t of tokens) expect(svg.includes(`>${t}</text>`)).toBe(true);
    expect(svg).toBe(headViewSvg(w, { heads, rows, cols }, { headTitles: titles, rowLabels: tokens.slice(0, rows), colLabels: tokens }));
  });

  it('rejects a shape that does not match and bad options, naming them', () => {
    expect(() => headViewSvg(w, { heads: 4, rows, cols })).toThrow(AttentionError);
    expect(() => headViewSvg(w, { heads: 4, rows, cols })).toThrow(/^weights: expected 140 elements/);
    expect(() => headViewSvg(w, { heads, rows, cols }, { headTitles: ['x'] })).toThrow(/headTitles/);
    expect(() => headViewSvg(w, { heads, rows, cols }, { columns: 0 })).toThrow(/columns/);
    expect(() => headViewSvg(w, { heads, rows, cols }, { batch: 1 })).toThrow(/batch: expected an integer in \[0, 0\]/);
  });

  describe('on real attention weights', () => {
    beforeAll(async () => {
      await init();
    });

    it('a causal head view leaves every future key at the minimum colour', () => {
      const [h, n, d] = [4, 9, 8];
      const rng = new Rng(5);
      const t = () => ({ data: rng.fill(new Float32Array(h * n * d)), shape: [1, h, n, d] });
      const { weights } = attention(t(), t(), t(), { causal: true, returnWeights: true });
      const svg = headViewSvg(weights!, { heads: h, rows: n, cols: n }, { range: [0, 1] });
      expectValidSvg(svg);
      for (const p of panels(svg)) {
        const fills = gridFills(p.cells, n, n);
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) expect(fills[i * n + j]).toBe(scaleColor('viridis', 0));
          // Row 0 sees only key 0: weight 1, the top of the scale.
          if (i === 0) expect(fills[0]).toBe(scaleColor('viridis', 1));
        }
      }
    });
  });
});
