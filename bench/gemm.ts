/**
 * webattn matmul (wasm SIMD128 GEMM, 1 thread) vs onnxruntime-web's wasm MatMul / Gemm (1 thread, SIMD), on the
 * shapes of issue #7 plus the layer's own projection forms. Both sides copy their inputs into wasm memory and read
 * the product back on every run. Prints GFLOP/s (2·M·N·K) and webattn's ratio; `--json FILE` writes the rows.
 * Usage: tsx bench/gemm.ts [--json FILE] [--quick]
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { init, matmul } from '../ts/index.js';
import { uniform } from '../test/rng.js';
import { LIBRARY_POLICY, maxAbsDiff, measureShape, type Contender } from './measure.js';
import { buildSingleNodeModel } from './onnx-model.js';
import type { Prepared } from './peers/peer.js';

interface GemmShape {
  m: number;
  k: number;
  n: number;
  /** B stored [N, K] plus a bias: ONNX Gemm(transB = 1, C = bias) — the nn.Linear form. */
  linear: boolean;
}

const SHAPES: GemmShape[] = [
  { m: 512, k: 768, n: 768, linear: false },
  { m: 1, k: 4096, n: 4096, linear: false },
  { m: 512, k: 768, n: 768, linear: true },
  { m: 512, k: 768, n: 2304, linear: true },
  { m: 1, k: 4096, n: 4096, linear: true },
];

function configureOrt(): void {
  const dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  ort.env.wasm.wasmPaths = pathToFileURL(join(dist, '/')).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
}

function ortModel(s: GemmShape): Uint8Array {
  if (!s.linear) {
    return buildSingleNodeModel({
      opType: 'MatMul', domain: '', opsetVersion: 13,
      inputs: [{ name: 'A', dims: [s.m, s.k] }, { name: 'B', dims: [s.k, s.n] }],
      outputs: [{ name: 'Y', dims: [s.m, s.n] }],
    });
  }
  return buildSingleNodeModel({
    opType: 'Gemm', domain: '', opsetVersion: 13,
    inputs: [{ name: 'A', dims: [s.m, s.k] }, { name: 'B', dims: [s.n, s.k] }, { name: 'C', dims: [s.n] }],
    outputs: [{ name: 'Y', dims: [s.m, s.n] }],
    attributes: { transB: { int: 1 } },
  });
}

async function prepareOrt(s: GemmShape, a: Float32Array, b: Float32Array, bias: Float32Array): Promise<Prepared> {
  const session = await ort.InferenceSession.create(ortModel(s), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds: Record<string, ort.Tensor> = {
    A: new ort.Tensor('float32', a, [s.m, s.k]),
    B: new ort.Tensor('float32', b, s.linear ? [s.n, s.k] : [s.k, s.n]),
  };
  if (s.linear) feeds['C'] = new ort.Tensor('float32', bias, [s.n]);
  return {
    async run() {
      const y = (await session.run(feeds))['Y']!;
      const data = y.data as Float32Array;
      y.dispose();
      return data;
    },
    async dispose() { await session.release(); },
  };
}

function prepareWebattn(s: GemmShape, a: Float32Array, b: Float32Array, bias: Float32Array): Prepared {
  const A = { data: a, shape: [s.m, s.k] };
  const B = { data: b, shape: s.linear ? [s.n, s.k] : [s.k, s.n] };
  const options = s.linear ? { bias, transposeB: true } : {};
  return { async run() { return matmul(A, B, options).output; }, async dispose() {} };
}

const label = (s: GemmShape): string =>
  s.linear ? `(${s.m}×${s.k})·(${s.n}×${s.k})ᵀ+b` : `(${s.m}×${s.k})·(${s.k}×${s.n})`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const jsonAt = argv.indexOf('--json');
  const json = jsonAt >= 0 ? argv[jsonAt + 1] : undefined;
  const policy = argv.includes('--quick') ? { ...LIBRARY_POLICY, minTimeMs: 300, minReps: 3 } : LIBRARY_POLICY;
  await init();
  configureOrt();
  console.log(`webattn matmul (wasm SIMD128, 1 thread) vs onnxruntime-web ${ort.env.versions.web ?? '?'} wasm MatMul/Gemm (numThreads=1, simd)`);
  console.log('shape'.padEnd(28) + 'webattn GF/s'.padStart(14) + 'ort GF/s'.padStart(12) + 'ratio'.padStart(8) + 'max|Δ|'.padStart(10));
  const rows = [];
  for (const s of SHAPES) {
    const a = uniform(1, s.m * s.k);
    const b = uniform(2, s.k * s.n);
    const bias = uniform(3, s.n);
    const mine = prepareWebattn(s, a, b, bias);
    const peer = await prepareOrt(s, a, b, bias);
    const contenders: Contender[] = [
      { impl: 'webattn', prepared: mine, policy },
      { impl: 'onnxruntime-web', prepared: peer, policy },
    ];
    const [w, o] = await measureShape(contenders);
    await peer.dispose();
    const gflop = (2 * s.m * s.n * s.k) / 1e9;
    const row = {
      shape: label(s), m: s.m, k: s.k, n: s.n, linear: s.linear,
      webattnMs: w!.medianMs, ortMs: o!.medianMs,
      webattnGflops: gflop / (w!.medianMs / 1e3), ortGflops: gflop / (o!.medianMs / 1e3),
      ratio: o!.medianMs / w!.medianMs, maxAbsDiff: maxAbsDiff(w!.output, o!.output),
    };
    rows.push(row);
    console.log(row.shape.padEnd(28) + row.webattnGflops.toFixed(2).padStart(14) + row.ortGflops.toFixed(2).padStart(12) +
      `${row.ratio.toFixed(2)}×`.padStart(8) + row.maxAbsDiff.toExponential(1).padStart(10));
  }
  if (json) writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
