/** webattn: the synchronous attention() of the SDK on the calling thread (wasm SIMD128, one thread). */
import { attention, init } from '../../ts/index.js';
import type { Inputs, Peer, Prepared, Shape } from './peer.js';

let ready: Promise<void> | undefined;

export const webattnPeer: Peer = {
  impl: 'webattn',
  describe: () => 'webattn attention() on the calling thread (wasm SIMD128, 1 thread)',
  threads: () => 1,
  async prepare(s: Shape, x: Inputs): Promise<Prepared> {
    ready ??= init();
    await ready;
    const q = { data: x.q, shape: [s.b, s.h, s.nq, s.d] };
    const k = { data: x.k, shape: [s.b, s.h, s.nk, s.d] };
    const v = { data: x.v, shape: [s.b, s.h, s.nk, s.d] };
    return {
      async run() {
        return attention(q, k, v, { causal: s.causal }).output;
      },
      async dispose() {},
    };
  },
};
