/** Checks the tests apply to generated SVG: XML well-formedness without a DOM (so they also run in Node and Deno),
 * and, where the runtime has one, DOMParser. */
import { expect } from 'vitest';

export /** Minimal XML well-formedness check: balanced tags, quoted attributes, only the five named entities or numeric
 * ones, no stray '<' or '&' in text. Returns the first problem or '' when well formed. */
function xmlProblem(xml: string): string {
  const stack: string[] = [];
  let i = 0;
  const entity = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
  const checkText = (t: string, at: number): string => {
    for (let k = t.indexOf('&'); k >= 0; k = t.indexOf('&', k + 1)) {
      if (!entity.test(t.slice(k))) return `bad entity at ${at + k}`;
    }
    return '';
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    const p = checkText(text, i);
    if (p) return p;
    if (lt < 0) break;
    const gt = xml.indexOf('>', lt);
    if (gt < 0) return `unclosed tag at ${lt}`;
    const tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      if (stack.pop() !== name) return `mismatched </${name}> at ${lt}`;
    } else {
      const m = /^([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)$/.exec(tag);
      if (!m) return `malformed tag <${tag.slice(0, 40)}> at ${lt}`;
      const attrs = m[2]!.match(/"[^"]*"/g) ?? [];
      for (const a of attrs) if (checkText(a, lt)) return `bad entity in attribute at ${lt}`;
      if (!m[3]) stack.push(m[1]!);
    }
    i = gt + 1;
  }
  return stack.length ? `unclosed <${stack[stack.length - 1]}>` : '';
}

/** xmlProblem is '' and, where DOMParser exists (the browser project), the document parses to an <svg> root. */
export function expectValidSvg(svg: string): void {
  expect(xmlProblem(svg)).toBe('');
  expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
  if (typeof DOMParser !== 'undefined') {
    const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
    expect(doc.getElementsByTagName('parsererror').length).toBe(0);
    expect(doc.documentElement.nodeName).toBe('svg');
  }
}

export interface Cell { x: number; y: number; fill: string }

/** The cells drawn in an SVG fragment: every "M x y h w v c h -w z" subpath of its <path fill=… d=…> elements is a
 * run of w / c square cells of side c. Anything else in a cell path is an error. */
export function cellsIn(fragment: string): Cell[] {
  const out: Cell[] = [];
  for (const p of fragment.matchAll(/<path fill="([^"]+)"[^>]* d="([^"]+)"\/>/g)) {
    const subpaths = p[2]!.match(/M[^M]*/g) ?? [];
    for (const sp of subpaths) {
      const m = /^M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-([\d.]+)z$/.exec(sp);
      expect(m, `cell subpath ${sp}`).toBeTruthy();
      const [x, y, w, c, back] = m!.slice(1).map(Number) as [number, number, number, number, number];
      expect(back).toBe(w);
      const count = Math.round(w / c);
      expect(Math.abs(count * c - w)).toBeLessThan(0.02);
      for (let k = 0; k < count; k++) out.push({ x: +(x + k * c).toFixed(2), y, fill: p[1]! });
    }
  }
  return out;
}

/** Fills of a rows × cols grid of cells in row-major order, from the drawn geometry (cells sorted by y, then x). */
export function gridFills(cs: readonly Cell[], rows: number, cols: number): string[] {
  expect(cs.length).toBe(rows * cols);
  const ys = [...new Set(cs.map((c) => c.y))].sort((a, b) => a - b);
  const xs = [...new Set(cs.map((c) => c.x))].sort((a, b) => a - b);
  expect(ys.length).toBe(rows);
  expect(xs.length).toBe(cols);
  const fills = new Array<string>(rows * cols);
  for (const c of cs) fills[ys.indexOf(c.y) * cols + xs.indexOf(c.x)] = c.fill;
  return fills;
}
