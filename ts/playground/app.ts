/**
 * The playground page: reads the controls, runs attention on the sentence with the chosen variant, draws the
 * heatmap, mask pattern, head view and per-head entropy / distance, then times the variant on every backend
 * available on this page. `document.body.dataset.state` is 'ready' once the pictures are drawn and
 * `dataset.timing` 'done' once the timings are in (the tests wait for these).
 */
import type { AttentionInput, AttentionOptions } from '../types.js';
import type { AttentionPool } from '../pool/pool.js';
import type { WebGpuAttention } from '../webgpu/backend.js';
import { VARIANTS, variantById, variantInputs, type Variant } from './variants.js';
import { HEAD_DIM, embed, randomInputs, tokenize } from './tokens.js';
import { pictureWeights } from './weights.js';

// The built browser bundle, served by server.ts; a non-literal specifier keeps the type-check independent of dist/.
const BUNDLE: string = '/dist/browser/index.js';
const lib = (await import(BUNDLE)) as typeof import('../index.js');

const MAX_TOKENS = 64;
const TIMING_DIM = 64;
const REPEATS = 3;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

interface Backend {
  id: string;
  label: string;
  /** Largest N it is timed at (the float64 reference is slow). */
  maxN: number;
  /** Why it cannot run these options here, if it cannot. */
  unsupported?(o: AttentionOptions): string | undefined;
  run(q: AttentionInput, k: AttentionInput, v: AttentionInput, o: AttentionOptions): unknown;
}

let pool: Promise<AttentionPool> | undefined;
let gpu: Promise<WebGpuAttention> | undefined;
const threads = Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2));

/** The backends timed on this page, one entry each. */
const BACKENDS: readonly Backend[] = [
  { id: 'wasm', label: 'wasm, page thread', maxN: Infinity, run: (q, k, v, o) => lib.attention(q, k, v, o) },
  {
    id: 'pool', label: `pool, ${threads} workers`, maxN: Infinity,
    run: async (q, k, v, o) => (await (pool ??= lib.createAttention({ threads }))).run(q, k, v, o),
  },
  {
    id: 'webgpu', label: 'WebGPU', maxN: Infinity,
    unsupported: (o) => (!('gpu' in navigator) ? 'no navigator.gpu in this browser'
      : o.variant ? 'the WebGPU backend has no approximate variants' : undefined),
    run: async (q, k, v, o) => (await (gpu ??= lib.createWebGpuAttention())).run(q, k, v, o),
  },
  {
    id: 'reference', label: 'float64 JS reference', maxN: 256,
    run: (q, k, v, o) => (o.variant ? lib.referenceVariantAttention(q, k, v, o) : lib.referenceAttention(q, k, v, o)),
  },
];

const state = { variant: VARIANTS[0]!.id, generation: 0 };

/** What the heatmap shows, for the pointer readout. */
let shown: { w: Float32Array; n: number; head: number; tokens: string[]; top: { index: number; weight: number }[][] } | undefined;

function params(): { tokens: string[]; heads: number; window: number; head: number; timingN: number } {
  const tokens = tokenize(($('sentence') as HTMLInputElement).value).slice(0, MAX_TOKENS);
  const heads = Number(($('heads') as HTMLSelectElement).value);
  const window = Math.max(0, Math.floor(Number(($('window') as HTMLInputElement).value) || 0));
  const headSelect = $('head') as HTMLSelectElement;
  if (headSelect.options.length !== heads) {
    const keep = Math.min(Number(headSelect.value) || 0, heads - 1);
    headSelect.innerHTML = Array.from({ length: heads }, (_, h) => `<option value="${h}">${h}</option>`).join('');
    headSelect.value = String(keep);
  }
  return { tokens, heads, window, head: Number(headSelect.value), timingN: Number(($('timing-n') as HTMLSelectElement).value) };
}

function drawVariants(): void {
  $('variants').innerHTML = VARIANTS.map((v) =>
    `<button type="button" data-variant="${escape(v.id)}" aria-pressed="${v.id === state.variant}">${escape(v.label)}</button>`).join('');
  $('note').textContent = variantById(state.variant).note;
}

function render(): void {
  const gen = ++state.generation;
  document.body.dataset.state = 'rendering';
  document.body.dataset.timing = 'pending';
  document.body.dataset.variant = state.variant;
  $('error').textContent = '';
  drawVariants();
  const p = params();
  if (p.tokens.length === 0) {
    $('error').textContent = 'Type a sentence (tokens are split on whitespace).';
    document.body.dataset.state = 'ready';
    return;
  }
  const n = p.tokens.length;
  const variant = variantById(state.variant);
  const options = variant.options({ tokens: n, window: p.window });
  const { q, k, v } = variantInputs(variant, embed(p.tokens, p.heads));
  const { weights: w, effective: approximate } = pictureWeights(lib.attention, q, k, v, options, p.heads, n);
  const what = approximate ? 'effective weights (output with V = I)' : 'query rows × key columns';
  const shape = { heads: p.heads, rows: n, cols: n };
  const entropy = lib.headEntropy(w, shape);
  const distance = lib.attentionDistance(w, shape);

  // Entropy and distance read rows as distributions; effective weights of some approximations (Linformer) are not.
  const distribution = (h: number): boolean => w.subarray(h * n * n, (h + 1) * n * n).every((x) => x >= -1e-6);
  $('heatmap').innerHTML = lib.heatmapSvg(w, [n, n], {
    head: p.head, rowLabels: p.tokens, colLabels: p.tokens, range: approximate ? undefined : [0, 1],
    cellSize: Math.max(8, Math.min(22, Math.floor(440 / n))), title: `${variant.label}, head ${p.head}: ${what}`,
  });
  shown = { w, n, head: p.head, tokens: p.tokens, top: lib.topK(w, shape, p.head, Math.min(3, n)) };
  $('mask').innerHTML = lib.maskPatternSvg({ rows: n, cols: n }, options, {
    rowLabels: p.tokens, colLabels: p.tokens, cellSize: Math.max(6, Math.min(16, Math.floor(320 / n))),
    title: `pairs computed: ${variant.label}`,
  });
  $('headview').innerHTML = lib.headViewSvg(w, shape, {
    range: approximate ? undefined : [0, 1], columns: Math.min(p.heads, 4),
    headTitles: Array.from(entropy, (e, h) => (distribution(h) ? `head ${h}  H=${e.toFixed(2)}` : `head ${h}`)),
  });
  drawLayers(p.tokens, p.heads, variant, options, approximate);
  const maxEntropy = Math.log(n) || 1;
  $('heads-table').innerHTML = '<tr><th>head</th><th>mean entropy (nats)</th><th></th><th>mean distance</th></tr>'
    + Array.from(entropy, (e, h) => (distribution(h)
      ? `<tr><td>${h}</td><td class="num">${e.toFixed(3)}</td>`
        + `<td><span class="bar" style="width:${Math.round((100 * e) / maxEntropy)}px"></span></td>`
        + `<td class="num">${distance[h]!.toFixed(2)}</td></tr>`
      : `<tr><td>${h}</td><td colspan="3" class="muted">negative effective weights: not a distribution</td></tr>`)).join('')
    + `<tr><td colspan="4" class="muted">ln N = ${maxEntropy.toFixed(3)} is uniform attention over all ${n} tokens</td></tr>`;
  document.body.dataset.state = 'ready';
  void time(gen, variant, variant.options({ tokens: p.timingN, window: p.window }), p.heads, p.timingN);
}

/** Median of REPEATS calls after one warm-up, per backend; stops if the page was redrawn meanwhile. */
async function time(gen: number, variant: Variant, options: AttentionOptions, heads: number, n: number): Promise<void> {
  $('timing-shape').textContent = `[1, ${heads}, ${n}, ${TIMING_DIM}] seeded inputs (the sentence's embedding is ${HEAD_DIM}-wide), median of ${REPEATS}`;
  const { q, k, v } = variantInputs(variant, randomInputs(n, heads, TIMING_DIM));
  // Useful FLOPs: 4·D per computed (query, key) pair and head, so masked variants are not credited for skipped pairs.
  const pairs = lib.maskPattern({ rows: n, cols: n }, options).reduce((s, x) => s + x, 0);
  // Approximations do different work per pair: no FLOP rate for them.
  const flops = options.variant ? NaN : 4 * heads * pairs * TIMING_DIM;
  const rows: string[] = [];
  const table = $('timings');
  const header = '<tr><th>backend</th><th>ms</th><th>GFLOP/s</th></tr>';
  table.innerHTML = header;
  for (const b of BACKENDS) {
    if (n > b.maxN) continue;
    const why = b.unsupported?.(options);
    if (why) {
      rows.push(`<tr data-backend="${b.id}"><td>${escape(b.label)}</td><td colspan="2" class="muted">${escape(why)}</td></tr>`);
      table.innerHTML = header + rows.join('');
      continue;
    }
    const times: number[] = [];
    try {
      for (let r = -1; r < REPEATS; r++) { // r = −1: warm-up
        await new Promise((done) => setTimeout(done, 0)); // let the page paint and take clicks between calls
        if (gen !== state.generation) return; // redrawn meanwhile: these timings are stale
        const t0 = performance.now();
        await b.run(q, k, v, options);
        if (r >= 0) times.push(performance.now() - t0);
      }
    } catch (e) {
      // A backend this page cannot start (e.g. WebGPU without an adapter) is reported in its row, not thrown.
      const message = e instanceof Error ? e.message : String(e);
      rows.push(`<tr data-backend="${b.id}"><td>${escape(b.label)}</td><td colspan="2" class="muted">not available: ${escape(message)}</td></tr>`);
      table.innerHTML = header + rows.join('');
      continue;
    }
    const ms = times.sort((a, c) => a - c)[Math.floor(REPEATS / 2)]!;
    rows.push(`<tr data-backend="${b.id}"><td>${escape(b.label)}</td><td class="num">${ms.toFixed(2)}</td>`
      + `<td class="num">${Number.isNaN(flops) ? '—' : (flops / ms / 1e6).toFixed(2)}</td></tr>`);
    table.innerHTML = header + rows.join('');
  }
  document.body.dataset.timing = 'done';
}

function safely(f: () => void): () => void {
  return () => {
    try {
      f();
    } catch (e) {
      document.body.dataset.state = 'error';
      $('error').textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      console.error(e);
    }
  };
}

const LAYERS = 3;
/** Attention flow runs one max-flow per (query, key) pair: drawn for sentences up to this many tokens. */
const MAX_FLOW_TOKENS = 24;

/** Rollout and flow over LAYERS layers: the sentence embedded with seeds 1…LAYERS, the current variant and heads. */
function drawLayers(tokens: string[], heads: number, variant: Variant, options: AttentionOptions, approximate: boolean): void {
  const n = tokens.length;
  const shape = { heads, rows: n, cols: n };
  const layers = Array.from({ length: LAYERS }, (_, l) => {
    const e = variantInputs(variant, embed(tokens, heads, l + 1));
    return pictureWeights(lib.attention, e.q, e.k, e.v, options, heads, n).weights;
  });
  const cell = Math.max(6, Math.min(16, Math.floor(300 / n)));
  const common = { rowLabels: tokens, colLabels: tokens, colorScale: 'blues' as const, cellSize: cell };
  $('rollout').innerHTML = lib.heatmapSvg(lib.attentionRollout(layers, shape), [n, n], { ...common, title: `rollout over ${LAYERS} layers` });
  const why = approximate && layers.some((w) => w.some((x) => x < -1e-6))
    ? 'Flow needs non-negative weights (capacities); this variant has negative effective weights.'
    : n > MAX_FLOW_TOKENS ? `Flow is drawn for up to ${MAX_FLOW_TOKENS} tokens (one max-flow per pair).` : undefined;
  $('flow').innerHTML = why
    ? `<div class="muted">${escape(why)}</div>`
    : lib.heatmapSvg(lib.attentionFlow(layers, shape), [n, n], { ...common, title: `attention flow over ${LAYERS} layers` });
}

/** The heatmap cell under the pointer, from the grid geometry the SVG states (data-grid) and its viewBox scale. */
function readout(e: MouseEvent): void {
  const svg = $('heatmap').querySelector('svg');
  const grid = svg?.querySelector('g.cells')?.getAttribute('data-grid');
  if (!svg || !grid || !shown) return;
  const [x0, y0, cell, rows, cols] = grid.split(' ').map(Number) as [number, number, number, number, number];
  const box = svg.getBoundingClientRect();
  const x = ((e.clientX - box.left) * svg.viewBox.baseVal.width) / box.width;
  const y = ((e.clientY - box.top) * svg.viewBox.baseVal.height) / box.height;
  const i = Math.floor((y - y0) / cell);
  const j = Math.floor((x - x0) / cell);
  if (i < 0 || j < 0 || i >= rows || j >= cols) return;
  const { w, n, head, tokens, top } = shown;
  const list = top[i]!.map((t) => `${tokens[t.index]} ${t.weight.toFixed(3)}`).join(', ');
  $('readout').textContent = `query “${tokens[i]}” (${i}) → key “${tokens[j]}” (${j}): ${w[(head * n + i) * n + j]!.toFixed(4)}`
    + ` · top keys of “${tokens[i]}”: ${list}`;
}

let typing: ReturnType<typeof setTimeout> | undefined;
$('sentence').addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(safely(render), 200);
});
for (const id of ['heads', 'window', 'head', 'timing-n']) $(id).addEventListener('change', safely(render));
$('heatmap').addEventListener('mousemove', readout);
$('variants').addEventListener('click', (e) => {
  const id = (e.target as HTMLElement).closest('button')?.dataset.variant;
  if (!id || id === state.variant) return;
  state.variant = id;
  safely(render)();
});
window.addEventListener('unhandledrejection', (e) => {
  $('error').textContent = String(e.reason);
});

await lib.init();
safely(render)();
