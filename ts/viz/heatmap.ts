/**
 * Attention heatmaps as standalone SVG strings (no DOM): one matrix of weights, e.g. one head of
 * `attention(..., { returnWeights: true }).weights`. Cells are grouped into one <path> per quantised colour, which
 * keeps a 256×256 head around a megabyte instead of several.
 */
import { AttentionError } from '../errors.js';

export type ColorScale = 'viridis' | 'greys' | 'blues';

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
  /** Values mapped to the two ends of the scale. Default: the finite min and max of the data. */
  range?: readonly [number, number];
}

export type HeatmapShape = { rows: number; cols: number } | readonly [number, number];

type Rgb = readonly [number, number, number];

/** Stops at equal spacing; viridis and blues are samples of matplotlib's maps (ColorBrewer for blues). */
const SCALES: Record<ColorScale, readonly string[]> = {
  viridis: ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#fde725'],
  greys: ['#ffffff', '#000000'],
  blues: ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'],
};

/** Colour levels of the cells: enough that neighbouring levels are indistinguishable. */
const LEVELS = 256;
const FONT = 11;
const NAN_FILL = 'url(#wa-nan)';

const hexToRgb = (h: string): Rgb => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
const toHex = (c: Rgb): string => `#${c.map((x) => Math.round(x).toString(16).padStart(2, '0')).join('')}`;

/** Colour at t ∈ [0, 1] of a scale, linear between stops. */
export function scaleColor(scale: ColorScale, t: number): string {
  const stops = SCALES[scale];
  if (!stops) throw new AttentionError('INVALID_OPTION', 'colorScale', "'viridis', 'greys' or 'blues'", String(scale));
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const a = hexToRgb(stops[i]!);
  const b = hexToRgb(stops[i + 1]!);
  const f = x - i;
  return toHex([a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f]);
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Short, stable number text for the legend. */
function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2);
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new AttentionError('INVALID_DIM', name, 'a positive integer', String(v));
  return v;
}

function checkLabels(labels: readonly string[] | undefined, n: number, name: string): void {
  if (labels !== undefined && labels.length !== n) {
    throw new AttentionError('INVALID_OPTION', name, `${n} labels`, `${labels.length}`);
  }
}

/** Width in px of the longest label, estimated (no font metrics without a DOM). */
const textWidth = (labels: readonly string[] | undefined): number =>
  labels ? Math.ceil(Math.max(0, ...labels.map((l) => l.length)) * FONT * 0.62) : 0;

/** Every k-th label, so that labels are at least one font height apart. */
const labelStride = (cell: number): number => Math.max(1, Math.ceil((FONT * 1.2) / cell));

export function heatmapSvg(weights: Float32Array | Float64Array, shape: HeatmapShape, opts: HeatmapOptions = {}): string {
  const rows = positiveInt(Array.isArray(shape) ? shape[0] : (shape as { rows: number }).rows, 'shape.rows');
  const cols = positiveInt(Array.isArray(shape) ? shape[1] : (shape as { cols: number }).cols, 'shape.cols');
  if (weights.length !== rows * cols) {
    throw new AttentionError('INVALID_SHAPE', 'weights', `${rows * cols} elements (${rows}×${cols})`, `${weights.length} elements`);
  }
  checkLabels(opts.rowLabels, rows, 'rowLabels');
  checkLabels(opts.colLabels, cols, 'colLabels');
  const scale = opts.colorScale ?? 'viridis';
  scaleColor(scale, 0); // validates the name
  const cell = opts.cellSize ?? Math.min(24, Math.max(1, Math.floor(512 / Math.max(rows, cols))));
  if (!(cell > 0) || !Number.isFinite(cell)) throw new AttentionError('INVALID_OPTION', 'cellSize', 'a positive number', String(cell));

  let [lo, hi] = opts.range ?? [Infinity, -Infinity];
  if (!opts.range) {
    for (const w of weights) if (Number.isFinite(w)) { lo = Math.min(lo, w); hi = Math.max(hi, w); }
    if (lo > hi) [lo, hi] = [0, 1]; // nothing finite
  } else if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
    throw new AttentionError('INVALID_OPTION', 'range', 'finite [min, max] with min ≤ max', `[${lo}, ${hi}]`);
  }
  const span = hi - lo;

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
  const legendW = 14;
  const minMaxW = Math.max(fmt(lo).length, fmt(hi).length) * FONT * 0.62;
  const width = Math.ceil(Math.max(legendX + legendW + 6 + minMaxW + pad, opts.title ? pad * 2 + opts.title.length * (FONT + 2) * 0.62 : 0));
  const height = Math.ceil(gy + Math.max(gh, legendH) + pad);

  // One path per colour level; a cell is "M x y h c v c h -c z".
  const byLevel = new Map<number, string[]>();
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const w = weights[i * cols + j]!;
      const level = Number.isNaN(w) ? -1 : span > 0 ? Math.round(((Math.min(hi, Math.max(lo, w)) - lo) / span) * (LEVELS - 1)) : 0;
      let list = byLevel.get(level);
      if (!list) byLevel.set(level, (list = []));
      list.push(`M${+(gx + j * cell).toFixed(2)} ${+(gy + i * cell).toFixed(2)}h${cell}v${cell}h-${cell}z`);
    }
  }
  const cellPaths = [...byLevel.keys()].sort((a, b) => a - b).map((level) => {
    const fill = level < 0 ? NAN_FILL : scaleColor(scale, level / (LEVELS - 1));
    return `<path fill="${fill}" data-level="${level}" d="${byLevel.get(level)!.join('')}"/>`;
  });

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${FONT}">`);
  const stops = Array.from({ length: 11 }, (_, k) => `<stop offset="${k / 10}" stop-color="${scaleColor(scale, 1 - k / 10)}"/>`);
  out.push(`<defs><linearGradient id="wa-legend" x1="0" y1="0" x2="0" y2="1">${stops.join('')}</linearGradient>`
    + `<pattern id="wa-nan" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="#fff"/>`
    + `<path d="M0 4L4 0" stroke="#d62728" stroke-width="1"/></pattern></defs>`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  if (opts.title) out.push(`<text x="${pad}" y="${pad + FONT + 2}" font-size="${FONT + 2}" font-weight="bold">${escapeXml(opts.title)}</text>`);
  out.push(`<g class="cells" shape-rendering="crispEdges">${cellPaths.join('')}</g>`);

  if (opts.rowLabels) {
    const k = labelStride(cell);
    const t = opts.rowLabels.flatMap((l, i) => (i % k ? [] : [
      `<text x="${gx - 4}" y="${+(gy + (i + 0.5) * cell).toFixed(2)}" text-anchor="end" dominant-baseline="middle">${escapeXml(l)}</text>`]));
    out.push(`<g class="row-labels">${t.join('')}</g>`);
  }
  if (opts.colLabels) {
    const k = labelStride(cell);
    const t = opts.colLabels.flatMap((l, j) => {
      if (j % k) return [];
      const x = +(gx + (j + 0.5) * cell).toFixed(2);
      return [`<text transform="translate(${x} ${gy - 4}) rotate(-90)" dominant-baseline="middle">${escapeXml(l)}</text>`];
    });
    out.push(`<g class="col-labels">${t.join('')}</g>`);
  }

  out.push(`<g class="legend"><rect x="${legendX}" y="${gy}" width="${legendW}" height="${legendH}" fill="url(#wa-legend)" stroke="#444" stroke-width="0.5"/>`
    + `<text x="${legendX + legendW + 4}" y="${gy + FONT - 2}" class="legend-max">${fmt(hi)}</text>`
    + `<text x="${legendX + legendW + 4}" y="${gy + legendH}" class="legend-min">${fmt(lo)}</text></g>`);
  out.push('</svg>');
  return out.join('\n');
}
