/**
 * `npm start`: runs the built library (dist/, so the bundle itself is exercised) on seeded inputs with every
 * backend available here — wasm on this thread, the worker pool — and checks each against the float64 reference.
 * Writes pictures to out/: a heatmap of one head, the head view of all heads, and the mask patterns of its
 * structured cases (and says where). Exits 1 if any error exceeds 1e-5.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceAttention } from '../reference/attention.js';
import type { AttentionInput, AttentionOptions, AttentionResult } from '../types.js';

// The bundle has the API of the sources it is built from; a non-literal specifier keeps the type-check independent
// of whether dist/ exists yet.
const DIST = '../../dist/index.js';
const lib = (await import(DIST)) as typeof import('../index.js');

const TOL = 1e-5;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** [1, h, n, d] values in [−1, 1]: half noise, half a sinusoidal position code, so that queries prefer nearby keys
 * and the heatmap shows structure rather than a uniform haze. */
function tensor(rand: () => number, h: number, n: number, d: number): AttentionInput {
  const data = new Float32Array(h * n * d);
  for (let head = 0; head < h; head++) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < d; c++) {
        const freq = 1 / 10000 ** ((2 * Math.floor(c / 2)) / d);
        const pos = c % 2 ? Math.cos(i * freq) : Math.sin(i * freq);
        data[(head * n + i) * d + c] = 0.5 * (2 * rand() - 1) + 0.5 * pos;
      }
    }
  }
  return { data, shape: [1, h, n, d] };
}

function maxAbsError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (g === w) continue; // equal infinities (LSE of empty rows)
    const e = Math.abs(g - w);
    m = Number.isNaN(e) ? Infinity : Math.max(m, e);
  }
  return m;
}

async function timed<T>(f: () => T | Promise<T>, repeats: number): Promise<{ result: T; ms: number }> {
  let result = await f(); // warm-up (and the result we check)
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    result = await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { result, ms: times[Math.floor(times.length / 2)]! };
}

interface Case {
  name: string;
  q: AttentionInput;
  k: AttentionInput;
  v: AttentionInput;
  options: AttentionOptions;
}

function cases(): Case[] {
  const r = seeded(2024);
  const [h, n, d] = [4, 256, 64];
  const q = tensor(r, h, n, d);
  const k = tensor(r, h, n, d);
  const v = tensor(r, h, n, d);
  const kvHeads = 2;
  const kv = [tensor(r, kvHeads, 1024, d), tensor(r, kvHeads, 1024, d)] as const;
  return [
    { name: 'full', q, k, v, options: { returnLse: true } },
    { name: 'causal', q, k, v, options: { causal: true, returnLse: true } },
    { name: 'causal + sliding window 64', q, k, v, options: { causal: true, window: { left: 64 } } },
    // Decoding 4 new tokens with 8 query heads over a 1024-entry KV cache shared by pairs of heads (GQA).
    { name: 'decode, GQA 8:2', q: tensor(r, 8, 4, d), k: kv[0], v: kv[1], options: { causal: 'bottom-right', returnLse: true } },
  ];
}

const shapeOf = (t: AttentionInput): string => ('shape' in t ? t.shape : t.dims).join('×');
const fmtMs = (ms: number): string => (ms < 10 ? ms.toFixed(3) : ms.toFixed(1)).padStart(8);
const fmtErr = (e: number): string => e.toExponential(2);

/** The demo's pictures: a heatmap of one head, the head view of all heads, and the mask patterns of the demo's
 * structured cases (with the kernel's 32 × 32 tiles: skipped, full or partial). */
function pictures(): { file: string; what: string; svg: string }[] {
  // 96 tokens with 4 heads, causal: each cell is big enough to see.
  const n = 96;
  const h = 4;
  const r = seeded(7);
  const [q, k, v] = [tensor(r, h, n, 64), tensor(r, h, n, 64), tensor(r, h, n, 64)];
  const { weights } = lib.attention(q, k, v, { causal: true, returnWeights: true });
  const w = weights!;
  const labels = Array.from({ length: n }, (_, i) => `t${i}`);
  const shape = { heads: h, rows: n, cols: n };
  const entropy = lib.headEntropy(w, shape);
  const distance = lib.attentionDistance(w, shape);
  const out = [
    {
      file: 'heatmap.svg', what: `causal weights of head 0, ${n} tokens`,
      svg: lib.heatmapSvg(w, [n, n], {
        head: 0, title: `causal attention weights, head 0 (${n} tokens, query rows × key columns)`,
        rowLabels: labels, colLabels: labels, cellSize: 6,
      }),
    },
    {
      file: 'headview.svg', what: `all ${h} heads on one scale (entropy H, mean distance d per head)`,
      svg: lib.headViewSvg(w, shape, {
        title: `causal attention, ${h} heads, ${n} tokens`, cellSize: 2,
        headTitles: Array.from(entropy, (e, i) => `head ${i}: H ${e.toFixed(2)}, d ${distance[i]!.toFixed(1)}`),
      }),
    },
  ];
  const patterns: [string, string, { rows: number; cols: number }, AttentionOptions][] = [
    ['mask-causal-window.svg', 'causal + sliding window 64 (the demo case), 256 tokens', { rows: 256, cols: 256 }, { causal: true, window: { left: 64 } }],
    ['mask-decode.svg', 'decode with a KV cache: 16 queries, 256 keys, causal bottom-right', { rows: 16, cols: 256 }, { causal: 'bottom-right' }],
  ];
  for (const [file, what, s, options] of patterns) {
    out.push({
      file, what,
      svg: lib.maskPatternSvg(s, options, { title: `pairs computed: ${what}`, blockSize: 32, cellSize: s.rows < 64 ? 3 : 2 }),
    });
  }
  return out;
}

async function main(): Promise<number> {
  await lib.init();
  const threads = Math.max(2, Math.min(4, availableParallelism()));
  const pool = await lib.createAttention({ threads });
  let failures = 0;
  try {
    console.log(`webattn demo — Node ${process.versions.node}, library from dist/, pool of ${threads} workers`);
    console.log(`error = max |backend − float64 reference| over output and LSE (budget ${TOL})\n`);
    for (const c of cases()) {
      console.log(`${c.name}: q ${shapeOf(c.q)}, k ${shapeOf(c.k)}, v ${shapeOf(c.v)}, options ${JSON.stringify(c.options)}`);
      const ref = await timed(() => referenceAttention(c.q, c.k, c.v, c.options), 1);
      console.log(`  ${'reference (float64)'.padEnd(22)} ${fmtMs(ref.ms)} ms  shape ${ref.result.shape.join('×')}`);
      const backends: [string, () => AttentionResult | Promise<AttentionResult>][] = [
        ['wasm (this thread)', () => lib.attention(c.q, c.k, c.v, c.options)],
        [`pool (${threads} workers)`, () => pool.run(c.q, c.k, c.v, c.options)],
      ];
      for (const [name, run] of backends) {
        const { result, ms } = await timed(run, 5);
        let err = maxAbsError(result.output, ref.result.output);
        if (c.options.returnLse) err = Math.max(err, maxAbsError(result.lse ?? [], ref.result.lse));
        const ok = err <= TOL;
        if (!ok) failures++;
        console.log(`  ${name.padEnd(22)} ${fmtMs(ms)} ms  error ${fmtErr(err)} ${ok ? 'ok' : 'FAIL'}`);
      }
    }

    console.log(`\npictures (written to ${relative(process.cwd(), join(root, 'out')) || 'out'}/):`);
    for (const p of pictures()) {
      const path = join(root, 'out', p.file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, p.svg);
      console.log(`  ${relative(process.cwd(), path) || path}  ${(p.svg.length / 1024).toFixed(0).padStart(4)} KiB  ${p.what}`);
    }
  } finally {
    pool.dispose();
  }
  console.log(failures ? `\n${failures} backend result(s) over the error budget` : '\nall backends within the error budget');
  return failures ? 1 : 0;
}

process.exitCode = await main();
