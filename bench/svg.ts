/** A grouped bar chart of GFLOP/s: one group per (shape, causal), one bar per implementation. Plain SVG text. */
import type { Impl } from './peers/peer.js';
import type { Row } from './report.js';

const COLORS: Record<Impl, string> = {
  webattn: '#d62728',
  'onnxruntime-web': '#1f77b4',
  'tfjs-wasm': '#ff7f0e',
  js: '#7f7f7f',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round axis maximum (1, 2 or 5 × 10^k) at or above `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function barChart(rows: readonly Row[], title: string): string {
  const impls = (Object.keys(COLORS) as Impl[]).filter((i) => rows.some((r) => r.impl === i));
  const groupKey = (r: Row): string => `${r.B},${r.H},${r.Nq},${r.D}${r.causal ? ' causal' : ''}`;
  const groups = [...new Set(rows.map(groupKey))];
  const bar = 18;
  const gap = 26;
  const groupW = impls.length * bar + gap;
  const left = 60;
  const top = 50;
  const plotH = 300;
  const width = left + groups.length * groupW + 20;
  const height = top + plotH + 70;
  const yMax = niceMax(Math.max(...rows.map((r) => r.gflops)));
  const y = (v: number): number => top + plotH - (v / yMax) * plotH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let t = 0; t <= 5; t++) {
    const v = (yMax * t) / 5;
    out.push(`<line x1="${left}" x2="${width - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">GFLOP/s</text>`);
  groups.forEach((g, gi) => {
    const x0 = left + gap / 2 + gi * groupW;
    impls.forEach((impl, ii) => {
      const r = rows.find((row) => row.impl === impl && groupKey(row) === g);
      if (!r) return;
      const x = x0 + ii * bar;
      out.push(
        `<rect x="${x}" y="${y(r.gflops)}" width="${bar - 2}" height="${top + plotH - y(r.gflops)}" fill="${COLORS[impl]}">` +
          `<title>${esc(`${impl} ${g}: ${r.gflops.toFixed(2)} GFLOP/s, ${r.ms.toFixed(3)} ms`)}</title></rect>`,
      );
    });
    const [shape, causal] = g.split(' ');
    const cx = x0 + (impls.length * bar) / 2;
    out.push(`<text x="${cx}" y="${top + plotH + 16}" text-anchor="middle">(${esc(shape)})</text>`);
    if (causal) out.push(`<text x="${cx}" y="${top + plotH + 30}" text-anchor="middle">${causal}</text>`);
  });
  impls.forEach((impl, i) => {
    const x = left + i * 130;
    out.push(`<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${COLORS[impl]}"/>`);
    out.push(`<text x="${x + 16}" y="${height - 12}">${impl}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
