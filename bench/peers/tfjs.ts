/**
 * @tensorflow/tfjs-backend-wasm, one thread: softmax(Q·Kᵀ·scale + mask)·V as matMul + softmax + matMul, the causal
 * mask as an additive band (0 on and below the diagonal, −1e9 above).
 *
 * Written per (batch, head) with 2-D matMuls and an explicit transpose of K: tfjs-wasm 4.22 sends only 2-D,
 * non-transposed matMuls to XNNPACK; the batched 4-D form (or transposeB = true) runs a plain loop that measured
 * 7× slower here (1.7 vs 12 GFLOP/s at (1,12,512,64)). Using the fast form keeps this peer honest.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { Inputs, Peer, Prepared, Shape } from './peer.js';

let ready: Promise<void> | undefined;

function start(): Promise<void> {
  ready ??= (async () => {
    setThreadsCount(1); // must precede the backend's initialisation
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: wasm backend failed to initialise');
    await tf.ready();
  })();
  return ready;
}

function causalBand(nq: number, nk: number): Float32Array {
  const m = new Float32Array(nq * nk);
  for (let i = 0; i < nq; i++) for (let j = i + 1; j < nk; j++) m[i * nk + j] = -1e9;
  return m;
}

export const tfjsPeer: Peer = {
  impl: 'tfjs-wasm',
  describe: () =>
    `tfjs ${tf.version_core} backend ${tf.getBackend() ?? 'wasm'}, threads=${getThreadsCount()}, ` +
    `simd=${String(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'))}, matMul + softmax + matMul`,
  threads: () => getThreadsCount(),
  async prepare(s: Shape, x: Inputs): Promise<Prepared> {
    await start();
    const scale = 1 / Math.sqrt(s.d);
    const bh = s.b * s.h;
    const q = tf.tensor3d(x.q, [bh, s.nq, s.d]);
    const k = tf.tensor3d(x.k, [bh, s.nk, s.d]);
    const v = tf.tensor3d(x.v, [bh, s.nk, s.d]);
    const mask = s.causal ? tf.tensor2d(causalBand(s.nq, s.nk), [s.nq, s.nk]) : undefined;
    const forward = (): tf.Tensor =>
      tf.tidy(() => {
        const qs = tf.unstack(tf.mul(q, scale));
        const ks = tf.unstack(k);
        const vs = tf.unstack(v);
        const heads = qs.map((qh, i) => {
          let scores = tf.matMul(qh, tf.transpose(ks[i]));
          if (mask) scores = tf.add(scores, mask);
          return tf.matMul(tf.softmax(scores), vs[i]);
        });
        return tf.stack(heads);
      });
    return {
      async run() {
        const y = forward();
        const data = y.dataSync() as Float32Array;
        y.dispose();
        return data;
      },
      async dispose() {
        tf.dispose([q, k, v, ...(mask ? [mask] : [])]);
      },
    };
  },
};
