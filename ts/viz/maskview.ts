/**
 * Mask pattern view: which (query, key) pairs an option set computes (`maskPattern`), as a two-colour grid with a
 * legend that counts both kinds and gives the density. Optionally the kernel's tiling on top: blocks of
 * `blockSize` rows × cols outlined by kind — skipped whole, computed whole, or partial (needs the per-pair test).
 */
import { AttentionError } from '../errors.js';
import type { AttentionOptions } from '../types.js';
import { maskPattern } from './pattern.js';
import type { PatternSelection, PatternShape } from './pattern.js';
import { FONT, cellSide, checkLabels, colLabelsSvg, escapeXml, fmt, levelPaths, rowLabelsSvg, svgOpen, textWidth } from './svg.js';

export interface MaskPatternOptions extends PatternSelection {
  title?: string;
  rowLabels?: readonly string[];
  colLabels?: readonly string[];
  /** Side of one cell in px. Default: fits in about 512 px, between 1 and 24. */
  cellSize?: number;
  /** Fill of computed pairs. Default '#3e4989'. */
  computedColor?: string;
  /** Fill of skipped pairs. Default '#eeeeee'. */
  skippedColor?: string;
  /** Outline tiles of this many rows × cols (a number: square) and mark each skipped / full / partial. */
  blockSize?: number | readonly [number, number];
}

const COLOR = /^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$/;
const BLOCK_STROKE = { full: '#1a9850', partial: '#fdae61', skip: '#bbbbbb' } as const;

function color(v: string | undefined, fallback: string, name: string): string {
  const c = v ?? fallback;
  if (!COLOR.test(c)) throw new AttentionError('INVALID_OPTION', name, 'a colour #rgb or #rrggbb', c);
  return c;
}

export function maskPatternSvg(shape: PatternShape, options: AttentionOptions = {}, opts: MaskPatternOptions = {}): string {
  const pattern = maskPattern(shape, options, opts);
  const rows = shape.rows;
  const cols = shape.cols;
  checkLabels(opts.rowLabels, rows, 'rowLabels');
  checkLabels(opts.colLabels, cols, 'colLabels');
  const on = color(opts.computedColor, '#3e4989', 'computedColor');
  const off = color(opts.skippedColor, '#eeeeee', 'skippedColor');
  const cell = cellSide(opts.cellSize, rows, cols);
  let block: [number, number] | undefined;
  if (opts.blockSize !== undefined) {
    const bs = typeof opts.blockSize === 'number' ? [opts.blockSize, opts.blockSize] : opts.blockSize;
    if (!bs.every((x) => Number.isInteger(x) && x >= 1)) {
      throw new AttentionError('INVALID_OPTION', 'blockSize', 'a positive integer or [rows, cols]', String(opts.blockSize));
    }
    block = [bs[0]!, bs[1]!];
  }

  const pad = 8;
  const titleH = opts.title ? FONT + 10 : 0;
  const colLabelH = opts.colLabels ? textWidth(opts.colLabels) + 6 : 0;
  const rowLabelW = opts.rowLabels ? textWidth(opts.rowLabels) + 6 : 0;
  const gx = pad + rowLabelW;
  const gy = pad + titleH + colLabelH;
  const gw = cols * cell;
  const gh = rows * cell;

  let computed = 0;
  for (let x = 0; x < pattern.length; x++) computed += pattern[x]!;
  const skipped = rows * cols - computed;
  const cells = levelPaths(rows, cols, gx, gy, cell, (x) => pattern[x]!, (v) => (v ? on : off),
    (v) => ` class="${v ? 'computed' : 'skipped'}"`);

  const tiles: string[] = [];
  const tileCount = { full: 0, partial: 0, skip: 0 };
  if (block) {
    const [br, bc] = block;
    for (let i0 = 0; i0 < rows; i0 += br) {
      for (let j0 = 0; j0 < cols; j0 += bc) {
        let n = 0;
        const h = Math.min(br, rows - i0);
        const w = Math.min(bc, cols - j0);
        for (let i = i0; i < i0 + h; i++) for (let j = j0; j < j0 + w; j++) n += pattern[i * cols + j]!;
        const kind = n === 0 ? 'skip' : n === h * w ? 'full' : 'partial';
        tileCount[kind]++;
        tiles.push(`<rect class="block block-${kind}" x="${+(gx + j0 * cell).toFixed(2)}" y="${+(gy + i0 * cell).toFixed(2)}" `
          + `width="${+(w * cell).toFixed(2)}" height="${+(h * cell).toFixed(2)}" fill="none" stroke="${BLOCK_STROKE[kind]}" stroke-width="1.5"/>`);
      }
    }
  }

  // Legend: swatches with counts right of the grid.
  const lx = gx + gw + 16;
  const total = rows * cols;
  const legendLines: [string, string, string][] = [
    ['computed', on, `computed ${computed} (${fmt((100 * computed) / total)}%)`],
    ['skipped', off, `skipped ${skipped}`],
  ];
  const items = legendLines.map(([cls, fill, text], k) => {
    const y = gy + k * (FONT + 8);
    return `<g class="legend-${cls}"><rect x="${lx}" y="${y}" width="12" height="12" fill="${fill}" stroke="#444" stroke-width="0.5"/>`
      + `<text x="${lx + 18}" y="${y + 10}">${escapeXml(text)}</text></g>`;
  });
  if (block) {
    (['full', 'partial', 'skip'] as const).forEach((kind, k) => {
      const y = gy + (2 + k) * (FONT + 8) + 6;
      items.push(`<g class="legend-block-${kind}"><rect x="${lx}" y="${y}" width="12" height="12" fill="none" stroke="${BLOCK_STROKE[kind]}" stroke-width="1.5"/>`
        + `<text x="${lx + 18}" y="${y + 10}">${block![0]}×${block![1]} blocks ${kind}: ${tileCount[kind]}</text></g>`);
    });
  }
  const legendTextW = Math.max(...items.map((s) => /<text[^>]*>([^<]*)</.exec(s)![1]!.length)) * FONT * 0.62;
  const legendH = (block ? 5 : 2) * (FONT + 8) + (block ? 6 : 0);
  const width = Math.ceil(Math.max(lx + 18 + legendTextW + pad, opts.title ? pad * 2 + opts.title.length * (FONT + 2) * 0.62 : 0));
  const height = Math.ceil(gy + Math.max(gh, legendH) + pad);

  const out = [svgOpen(width, height, opts.title), `<rect width="100%" height="100%" fill="#ffffff"/>`];
  if (opts.title) out.push(`<text x="${pad}" y="${pad + FONT + 2}" font-size="${FONT + 2}" font-weight="bold">${escapeXml(opts.title)}</text>`);
  out.push(`<g class="cells" shape-rendering="crispEdges">${cells}</g>`);
  // Skipped tiles first, full ones last: a coloured outline is never hidden under a grey neighbour's.
  const order = (t: string): number => (t.includes('block-skip') ? 0 : t.includes('block-partial') ? 1 : 2);
  if (tiles.length) out.push(`<g class="blocks">${tiles.sort((a, b) => order(a) - order(b)).join('')}</g>`);
  if (opts.rowLabels) out.push(rowLabelsSvg(opts.rowLabels, gx, gy, cell));
  if (opts.colLabels) out.push(colLabelsSvg(opts.colLabels, gx, gy, cell));
  out.push(`<g class="legend">${items.join('')}</g>`);
  out.push('</svg>');
  return out.join('\n');
}
