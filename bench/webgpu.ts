/**
 * WebGPU vs wasm (webattn attention(), one thread) on the bench shapes, plus one decode shape.
 * Node: `tsx bench/webgpu.ts` (npm `webgpu`, Dawn; `--dawn-backend vulkan|opengles`, default opengles, which is
 * the one that works on Debian 12 without a GPU). Deno: `deno run -A --sloppy-imports bench/webgpu.ts`.
 * Flags: --shapes small|all (default: small on a software adapter, all otherwise), --json FILE.
 *
 * On a software adapter (SwiftShader, lavapipe/llvmpipe) the figures measure a CPU emulation of a GPU: they are a
 * correctness run (max |webgpu − wasm| per shape), never a speed claim.
 */
import { attention, createWebGpuAttention, init } from '../ts/index.js';
import type { GpuLike, WebGpuAttention, WebGpuAttentionOptions } from '../ts/index.js';
import { makeInputs } from './inputs.js';
import { median } from './measure.js';

interface BenchShape { b: number; h: number; nq: number; nk: number; d: number; causal: boolean }

const ALL: BenchShape[] = [
  { b: 1, h: 12, nq: 128, nk: 128, d: 64 },
  { b: 1, h: 12, nq: 512, nk: 512, d: 64 },
  { b: 1, h: 12, nq: 1024, nk: 1024, d: 64 },
  { b: 1, h: 8, nq: 2048, nk: 2048, d: 64 },
].flatMap((s) => [{ ...s, causal: false }, { ...s, causal: true }]);
const DECODE: BenchShape = { b: 1, h: 32, nq: 1, nk: 4096, d: 128, causal: false };

const flops = (s: BenchShape): number => (4 * s.b * s.h * s.nq * s.nk * s.d) / (s.causal && s.nq === s.nk ? 2 : 1);
const label = (s: BenchShape): string => `(${s.b},${s.h},${s.nq}×${s.nk},${s.d})${s.causal ? ' causal' : ''}`;

function argv(): string[] {
  const g = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
  return g.Deno ? g.Deno.args : g.process!.argv.slice(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function gpuOptions(args: string[]): Promise<WebGpuAttentionOptions> {
  if ('Deno' in globalThis || (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return {};
  const name = 'webgpu';
  const mod = (await import(/* @vite-ignore */ name)) as { create: (a: string[]) => GpuLike; globals: object };
  Object.assign(globalThis, mod.globals);
  const backend = flag(args, '--dawn-backend') ?? 'opengles';
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (env && !env.EGL_PLATFORM) env.EGL_PLATFORM = 'surfaceless';
  return backend === 'opengles'
    ? { gpu: mod.create(['backend=opengles']), featureLevel: 'compatibility' }
    : { gpu: mod.create([`backend=${backend}`]), powerPreference: 'high-performance' };
}

async function time(run: () => Promise<unknown>, minMs: number, maxReps: number): Promise<number> {
  await run(); // warm-up: pipelines, buffers
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < minMs && times.length < maxReps)) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

interface Row { shape: string; gflop: number; wasmMs: number; gpuMs: number; gpuResidentMs: number; maxDiff: number }

async function main(): Promise<void> {
  const args = argv();
  await init();
  const attn: WebGpuAttention = await createWebGpuAttention(await gpuOptions(args));
  const software = attn.software;
  console.log(`adapter: ${attn.adapter}${software ? ' — SOFTWARE adapter: a CPU emulating a GPU. These timings are a ' +
    'correctness run only, not a measure of WebGPU speed.' : ''}`);
  const which = flag(args, '--shapes') ?? (software ? 'small' : 'all');
  const shapes = which === 'all' ? [...ALL, DECODE] : [ALL[0]!, ALL[1]!, DECODE];
  const rows: Row[] = [];
  console.log('shape                          GFLOP   wasm ms  webgpu ms  (inputs on GPU)  webgpu/wasm  max|Δ|');
  for (const s of shapes) {
    const x = makeInputs({ ...s });
    const q = { data: x.q, shape: [s.b, s.h, s.nq, s.d] };
    const k = { data: x.k, shape: [s.b, s.h, s.nk, s.d] };
    const v = { data: x.v, shape: [s.b, s.h, s.nk, s.d] };
    const opts = { causal: s.causal ? 'bottom-right' as const : false };
    const want = attention(q, k, v, opts).output;
    const got = (await attn.run(q, k, v, opts)).output;
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i]! - got[i]!));
    const minMs = software ? 500 : 1000;
    const wasmMs = await time(async () => attention(q, k, v, opts), minMs, 50);
    const gpuMs = await time(() => attn.run(q, k, v, opts), minMs, 50);
    const [gq, gk, gv] = [attn.upload(q, 'q'), attn.upload(k, 'k'), attn.upload(v, 'v')];
    const gpuResidentMs = await time(() => attn.run(gq, gk, gv, opts), minMs, 50);
    gq.destroy(); gk.destroy(); gv.destroy();
    const row = { shape: label(s), gflop: flops(s) / 1e9, wasmMs, gpuMs, gpuResidentMs, maxDiff };
    rows.push(row);
    console.log(`${row.shape.padEnd(30)} ${row.gflop.toFixed(3).padStart(6)} ${wasmMs.toFixed(2).padStart(9)} ` +
      `${gpuMs.toFixed(2).padStart(10)} ${gpuResidentMs.toFixed(2).padStart(16)} ${(wasmMs / gpuMs).toFixed(2).padStart(11)}× ` +
      `${maxDiff.toExponential(2)}`);
  }
  const json = flag(args, '--json');
  if (json) {
    const text = JSON.stringify({ adapter: attn.adapter, software, rows }, null, 2);
    const g = globalThis as { Deno?: { writeTextFileSync(p: string, t: string): void } };
    if (g.Deno) g.Deno.writeTextFileSync(json, text);
    else (await import('node:fs')).writeFileSync(json, text);
    console.log(`wrote ${json}`);
  }
  attn.dispose();
  const bad = rows.filter((r) => !(r.maxDiff <= 1e-4));
  if (bad.length) {
    console.error(`webgpu and wasm disagree on ${bad.map((r) => r.shape).join(', ')}`);
    (globalThis as { process?: { exitCode?: number } }).process && ((globalThis as { process: { exitCode?: number } }).process.exitCode = 1);
  }
}

await main();
