/**
 * --memory: webattn's wasm memory (instance memory.buffer.byteLength) after one long-sequence call, to show that
 * no N×N matrix is ever allocated. Read through ts/core/loader.ts `memoryBytes()` when that accessor exists.
 */
import { attention, init } from '../ts/index.js';
import * as loader from '../ts/core/loader.js';
import { makeInputs } from './inputs.js';
import type { Shape } from './peers/peer.js';

const MiB = 1024 * 1024;

function memoryAccessor(): (() => number) | undefined {
  const f = (loader as Record<string, unknown>).memoryBytes;
  return typeof f === 'function' ? (f as () => number) : undefined;
}

export async function reportMemory(n = 65536, d = 64): Promise<void> {
  await init();
  const memoryBytes = memoryAccessor();
  console.log(`\n== wasm memory of webattn, B=1 H=1 N=${n} D=${d} ==`);
  if (!memoryBytes) {
    console.log('ts/core/loader.ts exports no memoryBytes(): memory size cannot be read; skipped');
    return;
  }
  const operands = 4 * n * d * 4; // q, k, v, output in f32
  console.log(`q+k+v+output: ${(operands / MiB).toFixed(1)} MiB; an N×N f32 score matrix would be ${((n * n * 4) / MiB).toFixed(0)} MiB`);
  console.log(`before: ${(memoryBytes() / MiB).toFixed(1)} MiB`);
  for (const causal of [true, false]) {
    const s: Shape = { b: 1, h: 1, nq: n, nk: n, d, causal };
    const x = makeInputs(s, 99);
    const t0 = performance.now();
    attention({ data: x.q, shape: [1, 1, n, d] }, { data: x.k, shape: [1, 1, n, d] }, { data: x.v, shape: [1, 1, n, d] }, { causal });
    const ms = performance.now() - t0;
    const gflops = (4 * n * n * d) / (causal ? 2 : 1) / ms / 1e6;
    console.log(
      `causal=${causal ? 'yes' : 'no '}: wasm memory ${(memoryBytes() / MiB).toFixed(1)} MiB after the call ` +
        `(${(ms / 1000).toFixed(1)} s, ${gflops.toFixed(2)} GFLOP/s)`,
    );
  }
}
