/**
 * onnxruntime-web, wasm backend, one thread, SIMD: the standard ONNX `Attention` op (opset 23, domain ""),
 * Q, K, V as 4-D [B, H, N, D], attribute is_causal (top-left diagonal, as in the spec).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { buildSingleNodeModel } from '../onnx-model.js';
import type { Inputs, Peer, Prepared, Shape } from './peer.js';

let configured = false;
let threadCount = 1;

/** Threads for ORT's wasm backend; only before the first session (ORT fixes it when its wasm loads). */
export function setOrtThreads(n: number): void {
  if (configured) throw new Error('setOrtThreads: onnxruntime-web is already initialised');
  threadCount = n;
}

function configure(): void {
  if (configured) return;
  const require = createRequire(import.meta.url);
  // The package's main entry sits in dist/, next to the .wasm/.mjs files ORT loads at session creation.
  const dist = dirname(require.resolve('onnxruntime-web'));
  ort.env.wasm.wasmPaths = pathToFileURL(join(dist, '/')).href;
  ort.env.wasm.numThreads = threadCount;
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  configured = true;
}

export function attentionModel(s: Shape): Uint8Array {
  return buildSingleNodeModel({
    opType: 'Attention',
    domain: '',
    opsetVersion: 23,
    inputs: [
      { name: 'Q', dims: [s.b, s.h, s.nq, s.d] },
      { name: 'K', dims: [s.b, s.h, s.nk, s.d] },
      { name: 'V', dims: [s.b, s.h, s.nk, s.d] },
    ],
    outputs: [{ name: 'Y', dims: [s.b, s.h, s.nq, s.d] }],
    attributes: { is_causal: { int: s.causal ? 1 : 0 } },
  });
}

export const ortPeer: Peer = {
  impl: 'onnxruntime-web',
  describe: () => `onnxruntime-web ${ort.env.versions.web ?? '?'} wasm, numThreads=${threadCount}, simd, op Attention (opset 23, domain "")`,
  threads: () => ort.env.wasm.numThreads ?? 1,
  async prepare(s: Shape, x: Inputs): Promise<Prepared> {
    configure();
    const session = await ort.InferenceSession.create(attentionModel(s), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    const feeds = {
      Q: new ort.Tensor('float32', x.q, [s.b, s.h, s.nq, s.d]),
      K: new ort.Tensor('float32', x.k, [s.b, s.h, s.nk, s.d]),
      V: new ort.Tensor('float32', x.v, [s.b, s.h, s.nk, s.d]),
    };
    return {
      async run() {
        const out = await session.run(feeds);
        const y = out.Y;
        const data = y.data as Float32Array;
        y.dispose();
        return data;
      },
      async dispose() {
        await session.release();
      },
    };
  },
};
