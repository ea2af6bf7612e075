/**
 * One thread of the hardware ceiling in the thread-scaling report (bench/threads.ts): its own wasm instance running
 * attention() on the whole shape whenever the parent asks, so that t of them run t independent problems at once with
 * no coordination, copying or messages beyond one word per call. workerData: the Shape.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attention, init } from '../ts/index.js';
import { makeTensors } from './inputs.js';
import type { Shape } from './peers/peer.js';

const s = workerData as Shape;
await init();
const { q, k, v } = makeTensors(s);
const out = new Float32Array(s.b * s.h * s.nq * s.d);
parentPort!.on('message', () => {
  attention(q, k, v, { causal: s.causal, out });
  parentPort!.postMessage(0);
});
parentPort!.postMessage('ready');
