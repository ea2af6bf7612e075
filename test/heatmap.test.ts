import { describe, expect, it } from 'vitest';
import { heatmapSvg, scaleColor } from '../ts/viz/heatmap.js';
import type { ColorScale } from '../ts/viz/heatmap.js';
import { AttentionError } from '../ts/errors.js';
import { Rng } from './rng.js';
import { cellsIn, xmlProblem } from './xml.js';
import type { Cell } from './xml.js';

/** The cells drawn: every "M x y h…z" subpath of the paths inside <g class="cells">. */
function cells(svg: string): Cell[] {
  const group = /<g class="cells"[^>]*>([\s\S]*?)<\/g>/.exec(svg);
  expect(group).toBeTruthy();
  return cellsIn(group![1]!);
}

/** Relative luminance of #rrggbb (WCAG). */
function luminance(hex: string): number {
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const [r, g, b] = [1, 3, 5].map((k) => lin(parseInt(hex.slice(k, k + 2), 16) / 255));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** Cell colours in row-major order, from the drawn geometry. */
function fillsByIndex(svg: string, rows: number, cols: number): string[] {
  const cs = cells(svg);
  expect(cs.length).toBe(rows * cols);
  const x0 = Math.min(...cs.map((c) => c.x));
  const y0 = Math.min(...cs.map((c) => c.y));
  const xs = [...new Set(cs.map((c) => c.x))].sort((a, b) => a - b);
  const cell = xs.length > 1 ? xs[1]! - xs[0]! : 1;
  const fills = new Array<string>(rows * cols);
  for (const c of cs) fills[Math.round((c.y - y0) / cell) * cols + Math.round((c.x - x0) / cell)] = c.fill;
  expect(fills.every((f) => typeof f === 'string')).toBe(true);
  return fills;
}

describe('heatmapSvg', () => {
  const rows = 6;
  const cols = 9;
  const w = new Rng(7).fill(new Float32Array(rows * cols)).map(Math.abs);

  it('is well-formed standalone SVG with one cell per weight', () => {
    const svg = heatmapSvg(w, { rows, cols }, { title: 'head 0', rowLabels: ['a', 'b', 'c', 'd', 'e', 'f'] });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
    expect(xmlProblem(svg)).toBe('');
    expect(cells(svg).length).toBe(rows * cols);
    if (typeof DOMParser !== 'undefined') {
      const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
      expect(doc.getElementsByTagName('parsererror').length).toBe(0);
      expect(doc.documentElement.nodeName).toBe('svg');
    }
  });

  it('states its grid geometry, and it matches the cells drawn', () => {
    const svg = heatmapSvg(w, [rows, cols], { cellSize: 7, rowLabels: ['a', 'b', 'c', 'd', 'e', 'f'] });
    const [x0, y0, cell, r, c] = /<g class="cells"[^>]* data-grid="([^"]+)"/.exec(svg)![1]!.split(' ').map(Number);
    expect([cell, r, c]).toEqual([7, rows, cols]);
    const cs = cells(svg);
    expect(Math.min(...cs.map((q) => q.x))).toBe(x0);
    expect(Math.min(...cs.map((q) => q.y))).toBe(y0);
    expect(Math.max(...cs.map((q) => q.x))).toBe(x0! + (cols - 1) * 7);
    expect(Math.max(...cs.map((q) => q.y))).toBe(y0! + (rows - 1) * 7);
  });

  it('accepts [rows, cols] and picks one column per key', () => {
    const svg = heatmapSvg(w, [rows, cols]);
    expect(xmlProblem(svg)).toBe('');
    const xs = new Set(cells(svg).map((c) => c.x));
    expect(xs.size).toBe(cols);
  });

  for (const scale of ['viridis', 'greys', 'blues'] as ColorScale[]) {
    it(`colours are monotone in the weight (${scale})`, () => {
      const fills = fillsByIndex(heatmapSvg(w, [rows, cols], { colorScale: scale }), rows, cols);
      const order = Array.from(w.keys()).sort((a, b) => w[a]! - w[b]!);
      // viridis gets lighter with the weight, greys and blues darker; 8-bit channel rounding may wobble the
      // luminance by ~5e-4, a fraction of one colour level (~3e-3).
      const sign = scale === 'viridis' ? 1 : -1;
      for (let k = 1; k < order.length; k++) {
        const d = sign * (luminance(fills[order[k]!]!) - luminance(fills[order[k - 1]!]!));
        expect(d).toBeGreaterThanOrEqual(-1e-3);
      }
      const span = sign * (luminance(fills[order[order.length - 1]!]!) - luminance(fills[order[0]!]!));
      expect(span).toBeGreaterThan(0.5);
      // The extremes get the two ends of the scale.
      expect(fills[order[0]!]).toBe(scaleColor(scale, 0));
      expect(fills[order[order.length - 1]!]).toBe(scaleColor(scale, 1));
    });
  }

  it('escapes labels and the title', () => {
    const nasty = ['<b>', 'a&b', '"q"', "it's", 'x>y', '&amp;'];
    const svg = heatmapSvg(w, [rows, cols], { rowLabels: nasty, colLabels: Array.from({ length: cols }, (_, j) => `k<${j}>`), title: 'A & <B>' });
    expect(xmlProblem(svg)).toBe('');
    expect(svg).toMatch(/&lt;b&gt;/);
    expect(svg).toMatch(/a&amp;b/);
    expect(svg).toMatch(/&quot;q&quot;/);
    expect(svg).toMatch(/it&apos;s/);
    expect(svg).toMatch(/&amp;amp;/);
    expect(svg).toMatch(/A &amp; &lt;B&gt;/);
    expect(svg).not.toMatch(/<b>/);
  });

  it('has a legend with the min and max', () => {
    const v = new Float64Array([0.125, 0.5, 0.25, 0.75]);
    const svg = heatmapSvg(v, [2, 2], { colorScale: 'blues' });
    // The gradient's id names the scale, so pictures with different scales can share one HTML page.
    expect(svg).toMatch(/<linearGradient id="wa-legend-blues"/);
    expect(svg).toMatch(/fill="url\(#wa-legend-blues\)"/);
    expect(heatmapSvg(v, [2, 2])).toMatch(/<linearGradient id="wa-legend-viridis"[\s\S]*fill="url\(#wa-legend-viridis\)"/);
    expect(svg).toMatch(/class="legend-max">0\.75</);
    expect(svg).toMatch(/class="legend-min">0\.125</);
    const fixed = heatmapSvg(v, [2, 2], { range: [0, 1] });
    expect(fixed).toMatch(/class="legend-max">1</);
    expect(fixed).toMatch(/class="legend-min">0</);
  });

  it('thins labels of long axes so they do not overlap, and draws NaN with a pattern', () => {
    const n = 64;
    const v = new Float32Array(n * n).fill(0.5);
    v[3] = NaN;
    const labels = Array.from({ length: n }, (_, i) => String(i));
    const svg = heatmapSvg(v, [n, n], { rowLabels: labels, cellSize: 4 });
    const shown = /<g class="row-labels">([\s\S]*?)<\/g>/.exec(svg)![1]!.match(/<text /g)!.length;
    expect(shown).toBeLessThan(n);
    expect(shown).toBeGreaterThan(n / 8);
    expect(svg).toMatch(/fill="url\(#wa-nan\)"/);
    expect(xmlProblem(svg)).toBe('');
  });

  it('draws the chosen head of a [H, rows, cols] array, and asks for one when there are several', () => {
    const heads = 3;
    const all = new Rng(11).fill(new Float32Array(heads * rows * cols), 0, 1);
    for (let h = 0; h < heads; h++) {
      const one = heatmapSvg(all.subarray(h * rows * cols, (h + 1) * rows * cols), [rows, cols]);
      expect(heatmapSvg(all, [rows, cols], { head: h })).toBe(one);
    }
    expect(heatmapSvg(all, [rows, cols], { head: 1 })).not.toBe(heatmapSvg(all, [rows, cols], { head: 2 }));
    expect(() => heatmapSvg(all, [rows, cols])).toThrow(/head: expected a head index in \[0, 2\]/);
    expect(() => heatmapSvg(all, [rows, cols], { head: 3 })).toThrow(/head: expected an integer in \[0, 2\], got 3/);
  });

  it('rejects a shape that does not match the data, and wrong label counts', () => {
    expect(() => heatmapSvg(w, [rows, cols + 1])).toThrow(AttentionError);
    expect(() => heatmapSvg(w, [rows, cols + 1])).toThrow(/weights: expected 60 elements/);
    expect(() => heatmapSvg(w, { rows: 0, cols })).toThrow(/shape\.rows/);
    expect(() => heatmapSvg(w, [rows, cols], { rowLabels: ['a'] })).toThrow(/rowLabels/);
    expect(() => heatmapSvg(w, [rows, cols], { colorScale: 'jet' as ColorScale })).toThrow(/colorScale/);
  });
});
