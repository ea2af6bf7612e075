/**
 * Thread scaling (`npm run bench -- --threads [1,2,…]`): webattn's worker pool with t workers against onnxruntime-web
 * wasm with numThreads = t (each ORT thread count in its own process: ORT fixes it at load), on (1,12,1024,64) and
 * (1,12,512,64), non-causal. Prints GFLOP/s, the speed-up over attention() on the calling thread, and the ratio to ORT.
 * Throughput: calls back to back (as onnxruntime-web's figure is taken), attention() and the pool timed in
 * alternating bursts of 1 s, 7 each, each burst after an untimed full garbage collection (see measureBursts), so that
 * a busy moment of the shared machine hits both alike; the speed-up is the median over rounds of the ratio of the
 * two bursts of a round. A second speed-up has both write into one reused `out` array: a fresh 3 MB output per call
 * makes V8 run a full collection on the calling thread every few calls, and on 2 cores its marking threads take
 * CPU from the pool's workers (attention() has the second core to itself for them). A fifth burst per round times the
 * machine's own t-thread ceiling (ceilingRuns), and the pool's share of it is printed beside it.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { attention, createAttention, init } from '../ts/index.js';
import { makeTensors as tensors } from './inputs.js';
import { LIBRARY_POLICY, measureBursts, measureShape, median, type Measurement, type Policy } from './measure.js';
import { flops, type Prepared, type Shape } from './peers/peer.js';
import type { Row } from './report.js';

const SHAPES: Shape[] = [
  { b: 1, h: 12, nq: 1024, nk: 1024, d: 64, causal: false },
  { b: 1, h: 12, nq: 512, nk: 512, d: 64, causal: false },
];

export function defaultThreadCounts(): number[] {
  return Array.from({ length: Math.max(1, availableParallelism()) }, (_, i) => i + 1);
}

/** A run with a fresh output per call (the default) and one writing every call into the same `out` array. */
interface Runs {
  fresh: Prepared;
  reused: Prepared;
}

function runs(call: (out?: Float32Array) => Promise<Float32Array>, s: Shape): Runs {
  const out = new Float32Array(s.b * s.h * s.nq * s.d);
  return {
    fresh: { run: () => call(), dispose: async () => {} },
    reused: { run: () => call(out), dispose: async () => {} },
  };
}

async function poolRuns(threads: number, s: Shape): Promise<{ runs: Runs; dispose(): void }> {
  const pool = await createAttention({ threads });
  const { q, k, v } = tensors(s);
  return {
    runs: runs(async (out) => (await pool.run(q, k, v, { causal: s.causal, ...(out ? { out } : {}) })).output, s),
    dispose: () => pool.dispose(),
  };
}

/** attention() on the calling thread: the single-thread figure the pool is compared with. */
async function directRuns(s: Shape): Promise<Runs> {
  await init();
  const { q, k, v } = tensors(s);
  return runs(async (out) => attention(q, k, v, { causal: s.causal, ...(out ? { out } : {}) }).output, s);
}

/**
 * The machine's own t-thread ceiling: t worker threads, each with its own wasm instance, each running attention() on
 * the whole shape (into a reused `out`) at the same time. One run is t problems. Splitting one problem over t threads
 * does the same kernel work plus the splitting, so it can only match this within the noise; its speed-up tells how
 * much faster t busy cores are than one (a shared or turbo-boosted machine gives less than t).
 */
async function ceilingRuns(threads: number, s: Shape): Promise<{ run: Prepared; dispose(): Promise<void> }> {
  const source = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(new URL('./ceiling-worker.ts', import.meta.url).href)}); })`;
  const workers = Array.from({ length: threads }, () => new Worker(source, { eval: true, workerData: s }));
  // Each worker answers one message per request; an error fails the run waiting for it (or the next one).
  const waiting = workers.map(() => ({ resolve: (): void => {}, reject: (_e: unknown): void => {}, error: undefined as unknown }));
  workers.forEach((w, i) => {
    const slot = waiting[i]!;
    w.on('message', () => slot.resolve());
    w.on('error', (e) => {
      slot.error = e;
      slot.reject(e);
    });
  });
  const answers = (): Promise<void[]> =>
    Promise.all(waiting.map((slot) => new Promise<void>((resolve, reject) => {
      if (slot.error) reject(slot.error);
      slot.resolve = resolve;
      slot.reject = reject;
    })));
  await answers(); // 'ready': modules loaded, inputs made
  const out = new Float32Array(0);
  return {
    run: {
      run: async () => {
        const done = answers();
        for (const w of workers) w.postMessage(0);
        await done;
        return out;
      },
      dispose: async () => {},
    },
    dispose: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function ortMs(threads: number, s: Shape): number | undefined {
  const args = ['--import', 'tsx', new URL('./ort-child.ts', import.meta.url).pathname,
    String(threads), String(s.b), String(s.h), String(s.nq), String(s.d), s.causal ? '1' : '0'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop();
  try {
    return (JSON.parse(line ?? '') as { ms: number }).ms;
  } catch {
    console.error(`onnxruntime-web with ${threads} threads failed: ${r.stderr.split('\n')[0]}`);
    return undefined;
  }
}

/**
 * The median over rounds of (a's burst / b's burst) in the same round: bursts run back to back, so a slow spell of
 * the shared machine mostly hits both of a pair, which the ratio of the two medians does not cancel (measured: the
 * same pool's speed-up read 1.67–1.99× over runs that way).
 */
function pairedRatio(a: Measurement, b: Measurement): number {
  return median(a.times.map((t, i) => t / b.times[i]!));
}

export async function reportThreads(counts: number[]): Promise<Row[]> {
  const rows: Row[] = [];
  console.log(`\n== thread scaling: webattn pool vs onnxruntime-web wasm (numThreads = t), ${availableParallelism()} cores ==`);
  console.log('t = 0: attention() on the calling thread; speed-up is against it (with a fresh output per call, and');
  console.log('both writing into one reused `out` array: fewer garbage collections on the calling thread)');
  console.log('ceiling: t threads each running attention() on a whole problem at once (what t cores give; the pool');
  console.log('can only match it within the noise); of ceiling: the pool\'s reused-out throughput as a share of it');
  console.log('shape (B,H,N,D)    t   webattn GFLOP/s  speed-up vs t=0  (reused out)  ceiling  of ceiling   ORT GFLOP/s  webattn/ORT');
  // 10 warm-up calls: a new pool's workers tier their wasm up during the first calls.
  const policy: Policy = { ...LIBRARY_POLICY, warmups: 10, minTimeMs: 3000 };
  const BURSTS = { bursts: 7, burstMs: 1000 };
  for (const s of SHAPES) {
    const directRun = await directRuns(s);
    const [direct] = await measureShape([{ impl: 'webattn', prepared: directRun.fresh, policy }]);
    const base = flops(s) / direct!.medianMs / 1e6;
    rows.push({ impl: 'webattn', B: s.b, H: s.h, Nq: s.nq, Nk: s.nk, D: s.d, causal: s.causal, threads: 1, ms: direct!.medianMs, gflops: base });
    console.log(`(${s.b},${s.h},${s.nq},${s.d})`.padEnd(18) + `  0  ${base.toFixed(2).padStart(15)}  ${'1.00'.padStart(15)}x  ${'1.00'.padStart(11)}x  ${'1.00'.padStart(6)}x`);
    for (const t of counts) {
      const pool = await poolRuns(t, s);
      const ceiling = await ceilingRuns(t, s);
      const contender = (prepared: Prepared) => ({ impl: 'webattn' as const, prepared, policy });
      const [one, m, oneOut, mOut, top] = await measureBursts(
        [contender(directRun.fresh), contender(pool.runs.fresh), contender(directRun.reused), contender(pool.runs.reused), contender(ceiling.run)],
        BURSTS,
      );
      pool.dispose();
      await ceiling.dispose();
      // One ceiling run is t problems. The pool's share of the ceiling pairs its bursts with the ceiling's (adjacent in
      // every round) rather than dividing two medians.
      const speedupTop = t * pairedRatio(oneOut!, top!);
      const share = pairedRatio(top!, mOut!) / t;
      const gf = flops(s) / m!.medianMs / 1e6;
      const speedup = pairedRatio(one!, m!);
      const speedupOut = pairedRatio(oneOut!, mOut!);
      const om = ortMs(t, s);
      const ogf = om === undefined ? undefined : flops(s) / om / 1e6;
      rows.push({ impl: 'webattn', B: s.b, H: s.h, Nq: s.nq, Nk: s.nk, D: s.d, causal: s.causal, threads: t, ms: m!.medianMs, gflops: gf });
      if (om !== undefined && ogf !== undefined) {
        rows.push({ impl: 'onnxruntime-web', B: s.b, H: s.h, Nq: s.nq, Nk: s.nk, D: s.d, causal: s.causal, threads: t, ms: om, gflops: ogf });
      }
      console.log(
        `(${s.b},${s.h},${s.nq},${s.d})`.padEnd(18) + ` ${String(t).padStart(2)}  ${gf.toFixed(2).padStart(15)}` +
          `  ${speedup.toFixed(2).padStart(15)}x  ${speedupOut.toFixed(2).padStart(11)}x  ${speedupTop.toFixed(2).padStart(6)}x` +
          `  ${(100 * share).toFixed(0).padStart(9)} %  ${ogf === undefined ? '        n/a' : ogf.toFixed(2).padStart(11)}` +
          `  ${ogf === undefined ? 'n/a' : (gf / ogf).toFixed(2) + 'x'}`,
      );
    }
  }
  return rows;
}
