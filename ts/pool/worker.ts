/** Pool worker entry: one wasm instance per worker, tasks in, compact results out (their buffers transferred). */
import * as Comlink from 'comlink';
import { init } from '../core/loader.js';
import { runDescriptor, runRowBlocks } from '../core/call.js';
import { runVariant } from '../variants/call.js';
import { IS_BROWSER_BUILD } from '../core/runtime.js';
import { taskDescriptor, type TaskInput, type TaskOutput } from './task.js';
import type { Fault, WorkerApi } from './worker-api.js';
import { cacheRequest, type CacheRequest } from './worker-cache.js';

declare const Deno: unknown;

/** Test-only faults. A web worker "crashes" with an uncaught error (its `error` event), Node's by exiting. */
function injected(fault: Fault): Promise<never> {
  if (fault === 'crash') {
    const nodeWorker = !IS_BROWSER_BUILD && typeof Deno === 'undefined' && typeof process !== 'undefined' && !!process.versions?.node;
    if (nodeWorker) process.exit(3);
    setTimeout(() => { throw new Error('injected worker crash'); }, 0);
    return new Promise<never>(() => {});
  }
  if (fault === 'hang') {
    for (;;) { /* spin until the pool's timeout terminates this worker */ }
  }
  throw new Error('injected worker fault');
}

const api: WorkerApi = {
  async init(module) {
    await init(module);
  },
  run(task: TaskInput, fault?: Fault): TaskOutput | null | Promise<TaskOutput | null> {
    if (fault) {
      // A task run in claimed blocks fails after claiming one, so that the block is lost as in a real mid-task crash.
      if (task.claim) Atomics.add(task.claim.counter, 0, 1);
      return injected(fault);
    }
    const d = taskDescriptor(task);
    const shared = task.sharedOut;
    if (shared && task.claim) {
      const { counter, blockRows } = task.claim;
      runRowBlocks(d, blockRows, () => Atomics.add(counter, 0, 1), shared);
      return null;
    }
    if (shared) d.out = shared.output;
    const r = d.variant ? runVariant(d) : runDescriptor(d);
    if (shared) {
      if (shared.lse) shared.lse.set(r.lse!);
      return null;
    }
    const out: TaskOutput = { output: r.output };
    const transfer = [r.output.buffer as ArrayBuffer];
    if (r.lse) { out.lse = r.lse; transfer.push(r.lse.buffer as ArrayBuffer); }
    if (r.weights) { out.weights = r.weights; transfer.push(r.weights.buffer as ArrayBuffer); }
    return Comlink.transfer(out, transfer);
  },
  cache(r: CacheRequest) {
    const res = cacheRequest(r);
    return typeof res === 'object' ? Comlink.transfer(res, [res.output.buffer, res.lse.buffer]) : res;
  },
};

async function endpoint(): Promise<Comlink.Endpoint> {
  // Node and Deno start workers with node:worker_threads (Deno's also look like web workers: parentPort decides).
  if (!IS_BROWSER_BUILD && typeof process !== 'undefined' && !!process.versions?.node) {
    const { parentPort } = await import('node:worker_threads');
    if (parentPort) {
      const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
      return nodeEndpoint(parentPort as unknown as Parameters<typeof nodeEndpoint>[0]);
    }
  }
  return globalThis as unknown as Comlink.Endpoint;
}

Comlink.expose(api, await endpoint());
