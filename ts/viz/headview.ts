/**
 * Head view: every head of one layer as small multiples in a grid, each with its title, all on one shared colour
 * scale and one legend, so heads can be compared at a glance. A standalone SVG string (no DOM).
 */
import { AttentionError } from '../errors.js';
import {
  FONT, cellPaths, cellSide, checkLabels, colLabelsSvg, colorDefs, colorLegend, escapeXml, legendWidth, positiveInt,
  rowLabelsSvg, scaleColor, svgOpen, textWidth, valueRange,
} from './svg.js';
import type { ColorScale } from './svg.js';

/** heads × rows (queries) × cols (keys): one batch entry of `attention(..., { returnWeights: true }).weights`. */
export interface HeadViewShape {
  heads: number;
  rows: number;
  cols: number;
}

export interface HeadViewOptions {
  title?: string;
  /** One title per head. Default `head h`. */
  headTitles?: readonly string[];
  /** Panels per grid row. Default min(heads, 4). */
  columns?: number;
  /** Side of one cell in px. Default: each panel fits in about 160 px, between 1 and 12 (with labels: 240 px,
   * between 1 and 14, so that every label of a short sentence shows). */
  cellSize?: number;
  /** Default 'viridis'. */
  colorScale?: ColorScale;
  /** Values mapped to the two ends of the scale, shared by all heads. Default: the finite min and max over all heads. */
  range?: readonly [number, number];
  /** Token labels of the query rows / key columns, drawn beside the first panel of each grid row / above each panel
   * of the first grid row (thinned when the cells are small). */
  rowLabels?: readonly string[];
  colLabels?: readonly string[];
  /** Which batch entry when `weights` holds B > 1 of them ([B, H, rows, cols]). Default 0. */
  batch?: number;
}

export function headViewSvg(weights: Float32Array | Float64Array, shape: HeadViewShape, opts: HeadViewOptions = {}): string {
  const heads = positiveInt(shape.heads, 'shape.heads');
  const rows = positiveInt(shape.rows, 'shape.rows');
  const cols = positiveInt(shape.cols, 'shape.cols');
  const per = heads * rows * cols;
  const batches = weights.length / per;
  if (!Number.isInteger(batches) || batches < 1) {
    throw new AttentionError('INVALID_SHAPE', 'weights', `${per} elements (${heads}×${rows}×${cols}) or a multiple of it (one per batch entry)`,
      `${weights.length} elements`);
  }
  const batch = opts.batch ?? 0;
  if (!Number.isInteger(batch) || batch < 0 || batch >= batches) {
    throw new AttentionError('INVALID_OPTION', 'batch', `an integer in [0, ${batches - 1}]`, String(batch));
  }
  const w = weights.subarray(batch * per, (batch + 1) * per);
  checkLabels(opts.headTitles, heads, 'headTitles');
  checkLabels(opts.rowLabels, rows, 'rowLabels');
  checkLabels(opts.colLabels, cols, 'colLabels');
  const columns = opts.columns ?? Math.min(heads, 4);
  if (!Number.isInteger(columns) || columns < 1) throw new AttentionError('INVALID_OPTION', 'columns', 'a positive integer', String(columns));
  const scale = opts.colorScale ?? 'viridis';
  scaleColor(scale, 0); // validates the name
  // Token labels need cells at least a font height tall to be shown without thinning (up to 17 tokens).
  const labelled = opts.rowLabels !== undefined || opts.colLabels !== undefined;
  const cell = Math.min(opts.cellSize ?? (labelled ? 14 : 12), cellSide(opts.cellSize, rows, cols, labelled ? 240 : 160));
  const [lo, hi] = valueRange(w, opts.range);

  const pad = 8;
  const gap = 14;
  const titleH = opts.title ? FONT + 12 : 0;
  const panelTitleH = FONT + 6;
  const rowLabelW = opts.rowLabels ? textWidth(opts.rowLabels) + 6 : 0;
  const colLabelH = opts.colLabels ? textWidth(opts.colLabels) + 6 : 0;
  const gridRows = Math.ceil(heads / columns);
  const usedCols = Math.min(columns, heads);
  const pw = cols * cell;
  const ph = rows * cell;
  const titles = Array.from({ length: heads }, (_, h) => opts.headTitles?.[h] ?? `head ${h}`);
  const titleW = textWidth(titles) * 1.08; // bold
  const cellW = Math.max(pw, titleW) + gap;
  const cellH = panelTitleH + ph + gap;
  const top = pad + titleH + colLabelH;
  const gridW = rowLabelW + usedCols * cellW - gap;
  const gridH = gridRows * cellH - gap;
  const legendX = pad + gridW + 16;
  const legendH = Math.max(60, gridH - panelTitleH);
  const width = Math.ceil(Math.max(legendX + legendWidth(lo, hi) + pad, opts.title ? pad * 2 + opts.title.length * (FONT + 2) * 0.62 : 0));
  const height = Math.ceil(top + Math.max(gridH, legendH + panelTitleH) + pad);

  const out: string[] = [svgOpen(width, height, opts.title), colorDefs(scale), `<rect width="100%" height="100%" fill="#ffffff"/>`];
  if (opts.title) out.push(`<text x="${pad}" y="${pad + FONT + 2}" font-size="${FONT + 2}" font-weight="bold">${escapeXml(opts.title)}</text>`);
  for (let h = 0; h < heads; h++) {
    const r = Math.floor(h / columns);
    const c = h % columns;
    const x = pad + rowLabelW + c * cellW;
    const y = top + r * cellH + panelTitleH;
    const name = titles[h]!;
    const parts = [
      `<g class="head" data-head="${h}">`,
      `<text class="head-title" x="${x}" y="${y - 5}" font-weight="bold">${escapeXml(name)}</text>`,
      `<g class="cells" shape-rendering="crispEdges">${cellPaths(w, h * rows * cols, rows, cols, x, y, cell, lo, hi, scale)}</g>`,
      `<rect x="${x}" y="${y}" width="${pw}" height="${ph}" fill="none" stroke="#888" stroke-width="0.5"/>`,
    ];
    if (opts.rowLabels && c === 0) parts.push(rowLabelsSvg(opts.rowLabels, x, y, cell));
    if (opts.colLabels && r === 0) parts.push(colLabelsSvg(opts.colLabels, x, y - panelTitleH, cell));
    parts.push('</g>');
    out.push(parts.join(''));
  }
  out.push(colorLegend(legendX, top + panelTitleH, legendH, lo, hi, scale));
  out.push('</svg>');
  return out.join('\n');
}
