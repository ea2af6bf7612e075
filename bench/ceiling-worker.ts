/**
 * One thread of the hardware ceiling in the thread-scaling report (bench/threads.ts): its own wasm instance running
 * attention() on the whole shape whenever the parent asks, so that t of them run t independent problems at once with
 * no coordination, copying or messages beyond one word per call. workerData: the Shape.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attention, init } from '../ts/index.js';
import { makeInputs } from './inputs.js';
import type { Shape } from './peers/peer.js';

const s = workerData as Shape;
await init();
const x = makeInputs(s);
const q = { data: x.q, shape: [s.b, s.h, s.nq, s.d] };
const k = { data: x.k, shape: [s.b, s.h, s.nk, s.d] };
const v = { data: x.v, shape: [s.b, s.h, s.nk, s.d] };
const out = new Float32Array(s.b * s.h * s.nq * s.d);
parentPort!.on('message', () => {
  attention(q, k, v, { causal: s.causal, out });
  parentPort!.postMessage(0);
});
parentPort!.postMessage('ready');
