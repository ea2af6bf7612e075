/**
 * Scaling with sequence length (`npm run bench -- --scaling [N,N,…]`): one head, D = 64, N = 1k … 64k, on the calling
 * thread. Times exact attention, exact causal attention with a sliding window (left 256, the linear-cost exact
 * baseline) and the linear-time variants (linear attention, Performer m = 256, Linformer k = 256, Reformer LSH with
 * 64 buckets, 2 rounds, chunk 64 and q passed as k; causal forms where they exist) and structured sparsity through the
 * exact kernel's block mask (window 256, dilated window 128 × 2, Longformer window 256 + 16 global tokens, BigBird
 * window 128 + 2 globals + 3 random 128-key blocks per 32-query block), fits the log-log slope of time vs N per method (least squares over the measured points), prints each
 * approximation's error against exact attention on the same inputs, and the wasm memory after each N.
 *
 * Exact attention is skipped where one run is predicted to exceed MAX_RUN_MS (from its measured rate at smaller N)
 * and where the exact kernel's own limit applies (Nq·Nk must fit in 32 bits). Projections (Performer's ω, Linformer's
 * E and F) are drawn once per N outside the timing: the timings are the kernels'. Quote slopes and ratios, not
 * absolute times: the machines are shared and noisy.
 */
import { attention, init, linformerProjection, memoryBytes, performerProjection } from '../ts/index.js';
import type { AttentionInput, AttentionOptions } from '../ts/index.js';
import { makeInputs } from './inputs.js';

export const DEFAULT_SCALING_N = [1024, 2048, 4096, 8192, 16384, 32768, 65536];
const D = 64;
const FEATURES = 256;
const PROJECTED = 256;
const WINDOW = 256;
/** Timing rounds (see reportScaling). */
const ROUNDS = 3;
/** Predicted single-run time above which a method is not run at a larger N. */
const MAX_RUN_MS = 20_000;
/** Smallest N of the second slope fit (small N is dominated by per-call overheads). */
const LARGE_N = 4096;
/** N at which the errors against exact attention are measured. */
const ERROR_N = 4096;

interface Method {
  name: string;
  /** Options for sequence length n (projections passed explicitly, drawn once per n). */
  options(n: number): AttentionOptions;
  /** The exact kernel checks that Nq·Nk fits in 32 bits. */
  exactKernel: boolean;
  /** Expected growth, for the note beside the slope. */
  goal: string;
  /** Shared-QK (LSH): q is passed as k too; its error is measured against exact attention over the normalised q. */
  sharedQK?: boolean;
}

const projections = new Map<number, { w: Float32Array; e: Float32Array; f: Float32Array }>();
function projectionsFor(n: number): { w: Float32Array; e: Float32Array; f: Float32Array } {
  let p = projections.get(n);
  if (!p) {
    projections.clear(); // only one N's projections at a time: a large JS heap slows the timed calls (GC)
    p = { w: performerProjection(FEATURES, D, 1), ...linformerProjection(PROJECTED, n, 1) };
    projections.set(n, p);
  }
  return p;
}

const LSH = { kind: 'lsh', buckets: 64, rounds: 2, chunk: 64, seed: 1 } as const;
/** Longformer's global tokens: the first GLOBALS positions (a fixed count, so the cost stays O(N·(w + g))). */
const GLOBALS = 16;
const GLOBAL_TOKENS = Array.from({ length: GLOBALS }, (_, i) => i);

const METHODS: Method[] = [
  { name: 'exact', options: () => ({}), exactKernel: true, goal: '≈ 2' },
  { name: 'exact causal', options: () => ({ causal: true }), exactKernel: true, goal: '≈ 2' },
  { name: `exact causal window ${WINDOW}`, options: () => ({ causal: true, window: { left: WINDOW } }), exactKernel: true, goal: '≤ 1.1' },
  { name: 'linear', options: () => ({ variant: { kind: 'linear' } }), exactKernel: false, goal: '≤ 1.1' },
  { name: 'linear causal', options: () => ({ variant: { kind: 'linear' }, causal: true }), exactKernel: false, goal: '≤ 1.1' },
  {
    name: `performer m=${FEATURES}`, exactKernel: false, goal: '≤ 1.1',
    options: (n) => ({ variant: { kind: 'performer', projection: { data: projectionsFor(n).w, shape: [FEATURES, D] } } }),
  },
  {
    name: `performer m=${FEATURES} causal`, exactKernel: false, goal: '≤ 1.1',
    options: (n) => ({ variant: { kind: 'performer', projection: { data: projectionsFor(n).w, shape: [FEATURES, D] } }, causal: true }),
  },
  {
    name: `linformer k=${PROJECTED}`, exactKernel: false, goal: '≤ 1.1',
    options: (n) => {
      const { e, f } = projectionsFor(n);
      return { variant: { kind: 'linformer', e: { data: e, shape: [PROJECTED, n] }, f: { data: f, shape: [PROJECTED, n] } } };
    },
  },
  { name: 'lsh b=64 r=2 c=64', options: () => ({ variant: LSH }), exactKernel: false, goal: '≤ 1.3', sharedQK: true },
  { name: 'lsh b=64 r=2 c=64 causal', options: () => ({ variant: LSH, causal: true }), exactKernel: false, goal: '≤ 1.3', sharedQK: true },
  // Structured sparsity (exact on the allowed pairs, the block mask of ts/sparse/; compiled inside the timed call).
  { name: `sparse window ${WINDOW}`, options: () => ({ sparsity: { window: WINDOW } }), exactKernel: false, goal: '≤ 1.1' },
  { name: `sparse dilated w=${WINDOW / 2} d=2`, options: () => ({ sparsity: { window: WINDOW / 2, dilation: 2 } }), exactKernel: false, goal: '≤ 1.1' },
  { name: `longformer w=${WINDOW} g=${GLOBALS}`, options: () => ({ sparsity: { window: WINDOW, globalTokens: GLOBAL_TOKENS } }), exactKernel: false, goal: '≤ 1.1' },
  {
    name: `bigbird w=${WINDOW / 2} g=2 r=3`, exactKernel: false, goal: '≤ 1.1',
    options: () => ({ sparsity: { window: WINDOW / 2, globalTokens: [0, 1], randomBlocks: { count: 3, seed: 1 } } }),
  },
];

function operands(n: number): [AttentionInput, AttentionInput, AttentionInput] {
  const x = makeInputs({ b: 1, h: 1, nq: n, nk: n, d: D, causal: false });
  const shape = [1, 1, n, D];
  return [{ data: x.q, shape }, { data: x.k, shape }, { data: x.v, shape }];
}

/** Fastest of a few runs after one warm-up (the minimum is the figure least disturbed by other processes on a
 * shared machine); 2 runs when one takes over 2 s, 1 over 10 s. */
function time(run: () => void): number {
  const t0 = performance.now();
  run();
  const first = performance.now() - t0;
  if (first > 10_000) return first;
  const reps = first > 2000 ? 2 : Math.max(3, Math.min(20, Math.floor(3000 / Math.max(first, 0.1))));
  let best = first;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    run();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/** Least-squares slope of log(ms) against log(N). */
export function logLogSlope(points: readonly { n: number; ms: number }[]): number {
  const xs = points.map((p) => Math.log(p.n));
  const ys = points.map((p) => Math.log(p.ms));
  const mx = xs.reduce((a, x) => a + x, 0) / xs.length;
  const my = ys.reduce((a, y) => a + y, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => { num += (x - mx) * (ys[i]! - my); den += (x - mx) ** 2; });
  return num / den;
}

const pad = (s: string, w: number): string => s.padStart(w);

export async function reportScaling(ns: readonly number[] = DEFAULT_SCALING_N): Promise<void> {
  await init();
  const sizes = [...ns].sort((a, b) => a - b);
  console.log(`\n# scaling: B = 1, H = 1, D = ${D}, one thread; ms per call = fastest run over ${ROUNDS} rounds (each round ` +
    'walks every N and method, so a burst of load from other processes hits one round, not one method); slope = ' +
    `least-squares d log(time) / d log(N) over all N and over N ≥ ${LARGE_N}`);
  console.log(`# projections drawn once per N outside the timing; exact skipped where a run is predicted > ${MAX_RUN_MS / 1000} s ` +
    'or Nq·Nk ≥ 2³² (the exact kernel\'s limit); runs over 2 s are timed in the first round only');
  const best = new Map<string, Map<number, number>>(METHODS.map((m) => [m.name, new Map()]));
  const skipped = new Map<string, string>();
  const memory = new Map<number, string>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of sizes) {
      const [q, k, v] = operands(n); // regenerated per round: holding every N's inputs grows the heap (GC in the timings)
      for (const m of METHODS) {
        const times = best.get(m.name)!;
        const had = times.get(n);
        if (round > 0 && (had === undefined || had > 2000)) continue;
        if (round === 0) {
          if (m.exactKernel && n * n > 0xffffffff) { skipped.set(m.name, 'N ≥ 65536: Nq·Nk ≥ 2³²'); continue; }
          const pts = [...times].map(([x, ms]) => ({ n: x, ms }));
          const last = pts[pts.length - 1];
          if (last) {
            const slope = pts.length > 1 ? Math.max(1, logLogSlope(pts.slice(-2))) : 2;
            const predicted = last.ms * (n / last.n) ** slope;
            if (predicted > MAX_RUN_MS) { skipped.set(m.name, `N ≥ ${n}: predicted ${(predicted / 1000).toFixed(0)} s`); continue; }
          }
        }
        const options = m.options(n);
        const keys = m.sharedQK ? q : k;
        const ms = time(() => attention(q, keys, v, options));
        times.set(n, Math.min(ms, had ?? Infinity));
      }
      if (round === 0) memory.set(n, `N=${n}: ${(memoryBytes() / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  const w = 28;
  console.log(`${'method'.padEnd(w)}${sizes.map((n) => pad(`N=${n}`, 10)).join('')}${pad('slope', 8)}${pad(`≥${LARGE_N / 1024}k`, 8)}  goal`);
  for (const m of METHODS) {
    const pts = [...best.get(m.name)!].map(([n, ms]) => ({ n, ms }));
    const cells = sizes.map((n) => {
      const p = pts.find((x) => x.n === n);
      return pad(p ? p.ms.toFixed(p.ms < 10 ? 2 : 0) : '—', 10);
    });
    const fit = (p: { n: number; ms: number }[]): string => (p.length >= 2 ? logLogSlope(p).toFixed(2) : 'n/a');
    const slope = `${pad(fit(pts), 8)}${pad(fit(pts.filter((p) => p.n >= LARGE_N)), 8)}`;
    const note = skipped.has(m.name) ? `  (not run: ${skipped.get(m.name)})` : '';
    console.log(`${m.name.padEnd(w)}${cells.join('')}${slope}  ${m.goal}${note}`);
  }
  console.log(`# wasm memory after the first round of each N (it never shrinks; nothing N×N is allocated): ${[...memory.values()].join(', ')}`);
  reportErrors(ERROR_N);
}

/** Each approximation against exact attention (same inputs, same causal form) at sequence length n. */
function reportErrors(n: number): void {
  const [q, k, v] = operands(n);
  const exact = attention(q, k, v).output;
  const exactCausal = attention(q, k, v, { causal: true }).output;
  console.log(`# error against exact attention at N = ${n}, D = ${D} (inputs uniform in [−1, 1], scale 1/√D): mean |Δ|, max |Δ|` +
    ' (lsh: against exact attention with keys = the normalised queries, the shared-QK attention it approximates)');
  const shared = new Map<boolean, Float32Array>();
  const exactShared = (causal: boolean): Float32Array => {
    let o = shared.get(causal);
    if (!o) {
      const x = (q as { data: Float32Array }).data;
      const kn = new Float32Array(x.length);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < D; c++) s += x[i * D + c]! ** 2;
        const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
        for (let c = 0; c < D; c++) kn[i * D + c] = x[i * D + c]! * inv;
      }
      o = attention(q, { data: kn, shape: [1, 1, n, D] }, v, { causal }).output;
      shared.set(causal, o);
    }
    return o;
  };
  for (const m of METHODS.slice(2)) {
    const options = m.options(n);
    const got = attention(q, m.sharedQK ? q : k, v, options).output;
    const want = m.sharedQK ? exactShared(options.causal === true) : options.causal ? exactCausal : exact;
    let sum = 0;
    let max = 0;
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      sum += d;
      max = Math.max(max, d);
    }
    console.log(`${m.name.padEnd(28)}${pad((sum / got.length).toExponential(2), 10)}${pad(max.toExponential(2), 10)}`);
  }
}
