/**
 * Pieces shared by the SVG views (heatmap, head view, mask pattern): colour scales, escaping, number text, label
 * geometry, cells grouped into one <path> per quantised colour, and the colour legend. Strings only, no DOM.
 */
import { AttentionError } from '../errors.js';

export type ColorScale = 'viridis' | 'greys' | 'blues';

type Rgb = readonly [number, number, number];

/** Stops at equal spacing; viridis and blues are samples of matplotlib's maps (ColorBrewer for blues). */
const SCALES: Record<ColorScale, readonly string[]> = {
  viridis: ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#fde725'],
  greys: ['#ffffff', '#000000'],
  blues: ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'],
};

/** Colour levels of the cells: enough that neighbouring levels are indistinguishable. */
export const LEVELS = 256;
export const FONT = 11;
export const NAN_FILL = 'url(#wa-nan)';

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

/** Short, stable number text for legends and titles. */
export function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2);
}

export function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new AttentionError('INVALID_DIM', name, 'a positive integer', String(v));
  return v;
}

export function checkLabels(labels: readonly string[] | undefined, n: number, name: string): void {
  if (labels !== undefined && labels.length !== n) {
    throw new AttentionError('INVALID_OPTION', name, `${n} labels`, `${labels.length}`);
  }
}

/** Width in px of the longest label, estimated (no font metrics without a DOM). */
export const textWidth = (labels: readonly string[] | undefined, font = FONT): number =>
  labels ? Math.ceil(Math.max(0, ...labels.map((l) => l.length)) * font * 0.62) : 0;

/** Every k-th label, so that labels are at least one font height apart. */
export const labelStride = (cell: number): number => Math.max(1, Math.ceil((FONT * 1.2) / cell));

/** Cell side in px: `given`, else what fits `fit` px, between 1 and 24. */
export function cellSide(given: number | undefined, rows: number, cols: number, fit = 512): number {
  const cell = given ?? Math.min(24, Math.max(1, Math.floor(fit / Math.max(rows, cols))));
  if (!(cell > 0) || !Number.isFinite(cell)) throw new AttentionError('INVALID_OPTION', 'cellSize', 'a positive number', String(cell));
  return cell;
}

/** [lo, hi] of the scale: `range` when given (checked), else the finite min and max of `values` ([0, 1] if none). */
export function valueRange(values: ArrayLike<number>, range?: readonly [number, number]): [number, number] {
  if (range) {
    const [lo, hi] = range;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
      throw new AttentionError('INVALID_OPTION', 'range', 'finite [min, max] with min ≤ max', `[${lo}, ${hi}]`);
    }
    return [lo, hi];
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const w = values[i]!;
    if (Number.isFinite(w)) { lo = Math.min(lo, w); hi = Math.max(hi, w); }
  }
  return lo > hi ? [0, 1] : [lo, hi];
}

/** "M x y h w v c h -w z": a run of `count` cells of side `cell` in one row, starting at (x, y). */
export const runPath = (x: number, y: number, count: number, cell: number): string => {
  const w = +(count * cell).toFixed(2);
  return `M${+x.toFixed(2)} ${+y.toFixed(2)}h${w}v${cell}h-${w}z`;
};

/**
 * Grid of rows × cols cells at (x0, y0), coloured by `levelOf(index)` (−1 for NaN), as one <path> per level whose
 * subpaths are horizontal runs of equal level — a causal mask's zeros become one run per row, not one per cell.
 */
export function levelPaths(
  rows: number, cols: number, x0: number, y0: number, cell: number,
  levelOf: (index: number) => number, fillOf: (level: number) => string, attrs: (level: number) => string = (l) => ` data-level="${l}"`,
): string {
  const byLevel = new Map<number, string[]>();
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols;) {
      const level = levelOf(i * cols + j);
      let end = j + 1;
      while (end < cols && levelOf(i * cols + end) === level) end++;
      let list = byLevel.get(level);
      if (!list) byLevel.set(level, (list = []));
      list.push(runPath(x0 + j * cell, y0 + i * cell, end - j, cell));
      j = end;
    }
  }
  return [...byLevel.keys()].sort((a, b) => a - b)
    .map((level) => `<path fill="${fillOf(level)}"${attrs(level)} d="${byLevel.get(level)!.join('')}"/>`).join('');
}

/** Cells of `values[offset …]` (rows × cols) on a colour scale over [lo, hi] in LEVELS steps; NaN is hatched. */
export function cellPaths(
  values: ArrayLike<number>, offset: number, rows: number, cols: number,
  x0: number, y0: number, cell: number, lo: number, hi: number, scale: ColorScale,
): string {
  const span = hi - lo;
  const levelOf = (x: number): number => {
    const w = values[offset + x]!;
    return Number.isNaN(w) ? -1 : span > 0 ? Math.round(((Math.min(hi, Math.max(lo, w)) - lo) / span) * (LEVELS - 1)) : 0;
  };
  return levelPaths(rows, cols, x0, y0, cell, levelOf, (level) => (level < 0 ? NAN_FILL : scaleColor(scale, level / (LEVELS - 1))));
}

/** <defs> with the legend gradient (top = max) and the NaN hatch pattern. The gradient's id names its scale: SVGs
 * inlined in one HTML page share one id space, so two pictures with different scales must not share an id (with the
 * same scale the definitions are identical, so sharing is harmless). */
export function colorDefs(scale: ColorScale): string {
  const stops = Array.from({ length: 11 }, (_, k) => `<stop offset="${k / 10}" stop-color="${scaleColor(scale, 1 - k / 10)}"/>`);
  return `<defs><linearGradient id="wa-legend-${scale}" x1="0" y1="0" x2="0" y2="1">${stops.join('')}</linearGradient>`
    + `<pattern id="wa-nan" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="#fff"/>`
    + `<path d="M0 4L4 0" stroke="#d62728" stroke-width="1"/></pattern></defs>`;
}

export const LEGEND_W = 14;

/** Width the colour legend takes right of x (bar, gap, the longer of the two numbers). */
export const legendWidth = (lo: number, hi: number): number =>
  LEGEND_W + 6 + Math.max(fmt(lo).length, fmt(hi).length) * FONT * 0.62;

/** Vertical colour bar at (x, y), height h, max at the top. */
export function colorLegend(x: number, y: number, h: number, lo: number, hi: number, scale: ColorScale): string {
  return `<g class="legend"><rect x="${x}" y="${y}" width="${LEGEND_W}" height="${h}" fill="url(#wa-legend-${scale})" stroke="#444" stroke-width="0.5"/>`
    + `<text x="${x + LEGEND_W + 4}" y="${y + FONT - 2}" class="legend-max">${fmt(hi)}</text>`
    + `<text x="${x + LEGEND_W + 4}" y="${y + h}" class="legend-min">${fmt(lo)}</text></g>`;
}

/** The <svg> start tag, with role="img" and, when there is a title, its text as the accessible name (<title>). */
export const svgOpen = (width: number, height: number, title?: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="sans-serif" font-size="${FONT}">`
  + (title ? `<title>${escapeXml(title)}</title>` : '');

/** Row labels right-aligned left of a grid at (gx, gy), thinned to fit. */
export function rowLabelsSvg(labels: readonly string[], gx: number, gy: number, cell: number): string {
  const k = labelStride(cell);
  const t = labels.flatMap((l, i) => (i % k ? [] : [
    `<text x="${gx - 4}" y="${+(gy + (i + 0.5) * cell).toFixed(2)}" text-anchor="end" dominant-baseline="middle">${escapeXml(l)}</text>`]));
  return `<g class="row-labels">${t.join('')}</g>`;
}

/** Column labels rotated above a grid at (gx, gy), thinned to fit. */
export function colLabelsSvg(labels: readonly string[], gx: number, gy: number, cell: number): string {
  const k = labelStride(cell);
  const t = labels.flatMap((l, j) => {
    if (j % k) return [];
    const x = +(gx + (j + 0.5) * cell).toFixed(2);
    return [`<text transform="translate(${x} ${gy - 4}) rotate(-90)" dominant-baseline="middle">${escapeXml(l)}</text>`];
  });
  return `<g class="col-labels">${t.join('')}</g>`;
}
