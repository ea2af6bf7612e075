/**
 * Attention heatmaps as standalone SVG strings (no DOM): one matrix of weights, e.g. one head of
 * `attention(..., { returnWeights: true }).weights`. Cells are grouped into one <path> per quantised colour, which
 * keeps a 256×256 head around a megabyte instead of several.
 */
import { AttentionError } from '../errors.js';
import {
  FONT, cellPaths, cellSide, checkLabels, colLabelsSvg, colorDefs, colorLegend, escapeXml, legendWidth, positiveInt,
  rowLabelsSvg, scaleColor, svgOpen, textWidth, valueRange,
} from './svg.js';
import type { ColorScale } from './svg.js';

export { escapeXml, scaleColor };
export type { ColorScale };

export interface HeatmapOptions {
  /** One label per row (query); long lists are thinned so labels never overlap. */
  rowLabels?: readonly string[];
  /** One label per column (key). */
  colLabels?: readonly string[];
  title?: string;
  /** Side of one cell in px. Default: fits the matrix in about 512 px, between 1 and 24. */
  cellSize?: number;
  /** Default 'viridis'. */
  colorScale?: ColorScale;
  /** Values mapped to the two ends of the scale. Default: the finite min and max of the drawn matrix. */
  range?: readonly [number, number];
  /** Which matrix to draw when `weights` holds several (heads, or batch × heads, each rows × cols, one after the
   * other, as `weights` of `attention()` for B = 1): required then, 0-based. */
  head?: number;
}

export type HeatmapShape = { rows: number; cols: number } | readonly [number, number];

/** Offset of the drawn matrix in `weights`: 0 for a single matrix, head·rows·cols when it holds several. */
function matrixOffset(weights: ArrayLike<number>, rows: number, cols: number, head: number | undefined): number {
  const per = rows * cols;
  const count = weights.length / per;
  if (!Number.isInteger(count) || count < 1) {
    throw new AttentionError('INVALID_SHAPE', 'weights', `${per} elements (${rows}×${cols}) or a multiple of it (one matrix per head)`,
      `${weights.length} elements`);
  }
  if (head === undefined) {
    if (count === 1) return 0;
    throw new AttentionError('INVALID_OPTION', 'head', `a head index in [0, ${count - 1}] (weights hold ${count} matrices of ${rows}×${cols})`, 'undefined');
  }
  if (!Number.isInteger(head) || head < 0 || head >= count) {
    throw new AttentionError('INVALID_OPTION', 'head', `an integer in [0, ${count - 1}]`, String(head));
  }
  return head * per;
}

export function heatmapSvg(weights: Float32Array | Float64Array, shape: HeatmapShape, opts: HeatmapOptions = {}): string {
  const rows = positiveInt(Array.isArray(shape) ? shape[0] : (shape as { rows: number }).rows, 'shape.rows');
  const cols = positiveInt(Array.isArray(shape) ? shape[1] : (shape as { cols: number }).cols, 'shape.cols');
  const offset = matrixOffset(weights, rows, cols, opts.head);
  const matrix = weights.subarray(offset, offset + rows * cols);
  checkLabels(opts.rowLabels, rows, 'rowLabels');
  checkLabels(opts.colLabels, cols, 'colLabels');
  const scale = opts.colorScale ?? 'viridis';
  scaleColor(scale, 0); // validates the name
  const cell = cellSide(opts.cellSize, rows, cols);
  const [lo, hi] = valueRange(matrix, opts.range);

  // Geometry: title on top, column labels above the grid (rotated), row labels left, legend right.
  const pad = 8;
  const titleH = opts.title ? FONT + 10 : 0;
  const colLabelH = opts.colLabels ? textWidth(opts.colLabels) + 6 : 0;
  const rowLabelW = opts.rowLabels ? textWidth(opts.rowLabels) + 6 : 0;
  const gx = pad + rowLabelW;
  const gy = pad + titleH + colLabelH;
  const gw = cols * cell;
  const gh = rows * cell;
  const legendH = Math.max(gh, 60);
  const legendX = gx + gw + 16;
  const width = Math.ceil(Math.max(legendX + legendWidth(lo, hi) + pad, opts.title ? pad * 2 + opts.title.length * (FONT + 2) * 0.62 : 0));
  const height = Math.ceil(gy + Math.max(gh, legendH) + pad);

  const out: string[] = [];
  out.push(svgOpen(width, height, opts.title));
  out.push(colorDefs(scale));
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  if (opts.title) out.push(`<text x="${pad}" y="${pad + FONT + 2}" font-size="${FONT + 2}" font-weight="bold">${escapeXml(opts.title)}</text>`);
  // data-grid: "x y cell rows cols" of the grid, so a page can map a pointer position back to (row, col).
  out.push(`<g class="cells" shape-rendering="crispEdges" data-grid="${gx} ${gy} ${cell} ${rows} ${cols}">`
    + `${cellPaths(matrix, 0, rows, cols, gx, gy, cell, lo, hi, scale)}</g>`);
  if (opts.rowLabels) out.push(rowLabelsSvg(opts.rowLabels, gx, gy, cell));
  if (opts.colLabels) out.push(colLabelsSvg(opts.colLabels, gx, gy, cell));
  out.push(colorLegend(legendX, gy, legendH, lo, hi, scale));
  out.push('</svg>');
  return out.join('\n');
}
