/**
 * One onnxruntime-web measurement in its own process, because ORT fixes its thread count when its wasm first loads.
 * Usage: tsx bench/ort-child.ts THREADS B H N D CAUSAL(0|1) — prints one JSON line { ms, threads }.
 */
import { makeInputs } from './inputs.js';
import { LIBRARY_POLICY, measureShape } from './measure.js';
import { ortPeer, setOrtThreads } from './peers/ort.js';
import type { Shape } from './peers/peer.js';

const [threads, b, h, n, d, causal] = process.argv.slice(2).map(Number);
setOrtThreads(threads!);
const shape: Shape = { b: b!, h: h!, nq: n!, nk: n!, d: d!, causal: causal === 1 };
const prepared = await ortPeer.prepare(shape, makeInputs(shape));
const [m] = await measureShape([{ impl: 'onnxruntime-web', prepared, policy: LIBRARY_POLICY }]);
await prepared.dispose();
console.log(JSON.stringify({ ms: m!.medianMs, threads: ortPeer.threads() }));
