/**
 * `npm run pictures`: regenerates the README's pictures in docs/ from the library's own code (the sources, wasm
 * kernel on this thread) and fixed inputs — a sentence embedded by the playground's seeded table, and option sets
 * with lengths and windows. The output is deterministic: running it again gives the same files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attention, attentionDistance, attentionFlow, attentionRollout, headEntropy, headViewSvg, heatmapSvg, init, maskPatternSvg,
} from '../index.js';
import type { AttentionOptions } from '../index.js';
import { embed, tokenize } from '../playground/tokens.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SENTENCE = 'the cat sat on the mat because it was warm and the dog was not';

function pictures(): { file: string; svg: string }[] {
  const tokens = tokenize(SENTENCE);
  const n = tokens.length;
  const heads = 4;
  const { q, k, v } = embed(tokens, heads);
  const { weights } = attention(q, k, v, { causal: true, returnWeights: true });
  const w = weights!;
  const shape = { heads, rows: n, cols: n };
  const entropy = headEntropy(w, shape);
  const distance = attentionDistance(w, shape);

  // Rollout over three "layers": the same sentence through differently seeded projections, exact attention.
  const layers = [1, 2, 3].map((seed) => {
    const e = embed(tokens, heads, seed);
    return attention(e.q, e.k, e.v, { returnWeights: true }).weights!;
  });
  const rollout = attentionRollout(layers, shape, { residual: 0.5 });
  const flow = attentionFlow(layers, shape, { residual: 0.5 });

  const masks: [string, string, { batch?: number; rows: number; cols: number }, AttentionOptions, number?][] = [
    ['mask-causal-window.svg', 'causal + window { left: 12 }, 64 tokens, 16×16 kernel tiles', { rows: 64, cols: 64 }, { causal: true, window: { left: 12 } }],
    ['mask-padding.svg', "batch entry 1 of queryLengths [48, 40], keyLengths [64, 56], causal 'bottom-right'", { batch: 2, rows: 48, cols: 64 },
      { queryLengths: [48, 40], keyLengths: [64, 56], causal: 'bottom-right' }, 1],
  ];
  return [
    {
      file: 'heatmap.svg',
      svg: heatmapSvg(w, [n, n], { head: 0, rowLabels: tokens, colLabels: tokens, range: [0, 1], title: 'causal attention, head 0 (rows: queries, columns: keys)' }),
    },
    {
      file: 'headview.svg',
      svg: headViewSvg(w, shape, {
        rowLabels: tokens, colLabels: tokens, columns: 2, range: [0, 1], title: `all ${heads} heads, causal`,
        headTitles: Array.from(entropy, (e, h) => `head ${h}: entropy ${e.toFixed(2)}, distance ${distance[h]!.toFixed(1)}`),
      }),
    },
    {
      file: 'rollout.svg',
      svg: heatmapSvg(rollout, [n, n], { rowLabels: tokens, colLabels: tokens, colorScale: 'blues', title: 'attention rollout over 3 layers (residual 0.5)' }),
    },
    {
      file: 'flow.svg',
      svg: heatmapSvg(flow, [n, n], { rowLabels: tokens, colLabels: tokens, colorScale: 'blues', title: 'attention flow over the same 3 layers (max-flow)' }),
    },
    ...masks.map(([file, title, s, options, batch]) => ({
      file, svg: maskPatternSvg(s, options, { title, blockSize: 16, cellSize: 5, batch: batch ?? 0 }),
    })),
  ];
}

await init();
for (const { file, svg } of pictures()) {
  const path = join(root, 'docs', file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, svg);
  console.log(`${relative(process.cwd(), path) || path}  ${(svg.length / 1024).toFixed(1)} KiB`);
}
