/**
 * Decode across the pool's workers (issue #5, item 2): one decode step (Nq = 1, Nk = 4096, Hq = 32, D = 128, Hkv =
 * 32 and 8, f32 / f16 / int8) on a PoolKVCache of W workers against decode() on a KVCache on the calling thread, in
 * one run. Next to them the wasm sum-loop read bandwidth with 1 and with W threads at once (each thread summing its
 * own share of the cache's bytes in its own instance), so that the effective GB/s of the W-worker decode is compared
 * with what W threads can read.
 * Usage: tsx bench/decode-pool.ts [--threads W] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KVCache, createAttention, decode, init } from '../ts/index.js';
import type { KVCacheDtype } from '../ts/index.js';
import { getModule } from '../ts/core/loader.js';
import { uniform } from '../test/rng.js';
import { LIBRARY_POLICY, maxAbsDiff, measureShape, type Contender } from './measure.js';

const [NK, HQ, D] = [4096, 32, 128];
const DTYPES: readonly KVCacheDtype[] = ['f32', 'f16', 'int8'];
const BYTES: Record<KVCacheDtype, number> = { f32: 4, f16: 2, int8: 1 };

/** Each worker instantiates the module, allocates and touches `bytes`, then sums them `reps` times per request. */
const SUM_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
WebAssembly.instantiate(workerData.module, {}).then(({ exports: k }) => {
  const ptr = k.wa_alloc(workerData.bytes, 16) >>> 0;
  new Float32Array(k.memory.buffer, ptr, workerData.bytes / 4).fill(1);
  parentPort.on('message', (reps) => {
    for (let i = 0; i < reps; i++) k.wa_probe_sum(ptr, workerData.bytes / 4);
    parentPort.postMessage('done');
  });
  parentPort.postMessage('ready');
});
`;

/** GB/s of `threads` threads each summing bytes / threads at the same time (median of `rounds`). */
async function sumBandwidth(threads: number, bytes: number, rounds = 15, reps = 4): Promise<number> {
  const share = Math.ceil(bytes / threads / 64) * 64;
  const workers = Array.from({ length: threads }, () => new Worker(SUM_WORKER, { eval: true, workerData: { module: getModule(), bytes: share } }));
  const next = (w: Worker): Promise<unknown> => new Promise((resolve) => w.once('message', resolve));
  await Promise.all(workers.map(next));
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await Promise.all(workers.map((w) => { const p = next(w); w.postMessage(reps); return p; }));
    times.push((performance.now() - t0) / reps);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  times.sort((a, b) => a - b);
  return (share * threads) / (times[rounds >> 1]! / 1e3) / 1e9;
}

interface Row { hkv: number; dtype: KVCacheDtype; threads: number; ms: number; tokensPerSecond: number; gbPerSecond: number; ofSum: number; speedup: number; maxAbsDiff: number }

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--threads');
  const threads = at >= 0 ? Number(argv[at + 1]) : availableParallelism();
  const jsonAt = argv.indexOf('--json');
  await init();
  const pool = await createAttention({ threads });
  console.log(`decode on a PoolKVCache of ${threads} workers vs decode() on the calling thread: Nq 1, Nk ${NK}, Hq ${HQ}, D ${D}`);
  console.log('Hkv  dtype   1 thread ms   pool ms  speed-up   pool GB/s  % of sum bw (1 thr / ' + `${threads} thr)   max|Δ|`);
  const rows: Row[] = [];
  // Long warm-up: each worker's wasm tiers up its decode loop for each cache dtype only after some dozens of calls.
  const policy = { ...LIBRARY_POLICY, warmups: 60, minTimeMs: 2000 };
  for (const hkv of [32, 8]) {
    const f32Bytes = 2 * hkv * NK * D * 4;
    const sum1 = await sumBandwidth(1, f32Bytes);
    const sumW = await sumBandwidth(threads, f32Bytes);
    const k = { data: uniform(2, hkv * NK * D), shape: [1, hkv, NK, D] };
    const v = { data: uniform(3, hkv * NK * D), shape: [1, hkv, NK, D] };
    const q = { data: uniform(1, HQ * D), shape: [1, HQ, 1, D] };
    for (const dtype of DTYPES) {
      const local = new KVCache({ heads: hkv, headDim: D, capacity: NK, dtype });
      local.append(k, v);
      const shared = await pool.createKVCache({ heads: hkv, headDim: D, capacity: NK, dtype });
      await shared.append(k, v);
      const out = new Float32Array(HQ * D);
      const contenders: Contender[] = [
        { impl: 'webattn', prepared: { async run() { decode(q, local, { out }); return out; }, async dispose() {} }, policy },
        { impl: 'webattn', prepared: { async run() { return (await shared.decode(q)).output; }, async dispose() {} }, policy },
      ];
      const [one, many] = await measureShape(contenders);
      const bytes = 2 * hkv * NK * D * BYTES[dtype] + (dtype === 'int8' ? 2 * hkv * NK * 4 : 0);
      const gb = bytes / (many!.medianMs / 1e3) / 1e9;
      const row: Row = {
        hkv, dtype, threads, ms: many!.medianMs, tokensPerSecond: 1e3 / many!.medianMs, gbPerSecond: gb, ofSum: gb / sumW,
        speedup: one!.medianMs / many!.medianMs, maxAbsDiff: maxAbsDiff(many!.output, one!.output),
      };
      rows.push(row);
      console.log(`${String(hkv).padStart(3)}  ${dtype.padEnd(5)} ${one!.medianMs.toFixed(2).padStart(12)} ${many!.medianMs.toFixed(2).padStart(9)}` +
        `${row.speedup.toFixed(2).padStart(9)}x ${gb.toFixed(2).padStart(10)}  ${(100 * gb / sum1).toFixed(0).padStart(6)} % / ${(100 * row.ofSum).toFixed(0)} %` +
        `${row.maxAbsDiff.toExponential(1).padStart(16)}`);
      local.dispose();
      await shared.dispose();
    }
    console.log(`     sum loop over ${f32Bytes / 2 ** 20} MiB: 1 thread ${sum1.toFixed(2)} GB/s, ${threads} threads ${sumW.toFixed(2)} GB/s`);
  }
  pool.dispose();
  if (jsonAt >= 0) writeFileSync(argv[jsonAt + 1]!, JSON.stringify({ date: new Date().toISOString(), threads, rows }, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
