/**
 * Starting a worker and reaching it through comlink — the only pool file that knows which runtime it is in.
 * Node and Deno: node:worker_threads (exit events tell crashes; an idle worker is unref'd, so a script that never
 * disposes its pool still exits — Deno's web Workers have no unref). Browsers: module Web Workers (a dead web
 * worker sends nothing, so a crash there shows up as the task timeout).
 */
import * as Comlink from 'comlink';
import { IS_BROWSER_BUILD } from '../core/runtime.js';
import type { Fault, WorkerApi } from './worker-api.js';
import type { TaskInput, TaskOutput } from './task.js';
import type { CacheRequest, ShardPartial } from './worker-cache.js';

/** The calls a pool makes on a worker (WorkerApi over comlink). */
export interface WorkerRemote {
  init(module: WebAssembly.Module): Promise<void>;
  run(task: TaskInput, fault?: Fault): Promise<TaskOutput | null>;
  cache(r: CacheRequest): Promise<ShardPartial | number | undefined>;
}

export interface WorkerHandle {
  api: WorkerRemote;
  /** Stops the worker; no exit callback fires for a terminate we asked for. */
  terminate(): void;
  /** Called once if the worker dies on its own (uncaught error, process.exit). */
  onExit(cb: (why: string) => void): void;
}

/** The worker entry. Source runs (tests, tsx) load worker.ts; the bundle rewrites this to the built worker.js. */
const WORKER_URL = new URL('./worker.ts', import.meta.url);

declare const Deno: unknown;
const inDeno = (): boolean => !IS_BROWSER_BUILD && typeof Deno !== 'undefined';
/** Deno 2 defines process.versions.node too, so Deno is ruled out first. */
const inNode = (): boolean =>
  !IS_BROWSER_BUILD && !inDeno() && typeof process !== 'undefined' && !!process.versions?.node;

export function defaultThreadCount(): number {
  const hc = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : undefined;
  if (hc && hc > 0) return hc;
  return 4;
}

export async function nodeThreadCount(): Promise<number | undefined> {
  if (!inNode()) return undefined;
  const os = await import('node:os');
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * `api` with `hold(true)` while any call is in flight and `hold(false)` once none is: a Node worker is ref()'d only
 * while it works for a call someone awaits, so a script that never calls dispose() still exits when it is done.
 */
export function heldWhileBusy(api: WorkerRemote, hold: (busy: boolean) => void): WorkerRemote {
  let pending = 0;
  const track = <T>(answer: Promise<T>): Promise<T> => {
    if (pending++ === 0) hold(true);
    const done = (): void => {
      if (--pending === 0) hold(false);
    };
    answer.then(done, done);
    return answer;
  };
  return {
    init: (module) => track(api.init(module)),
    run: (task, fault) => track(api.run(task, fault)),
    cache: (r) => track(api.cache(r)),
  };
}

async function spawnNode(url: URL): Promise<WorkerHandle> {
  const { Worker } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  // Running from TypeScript sources under Node (tests, tsx): the worker registers tsx's loader before importing its
  // entry. Deno runs TypeScript itself.
  const w = url.pathname.endsWith('.ts') && !inDeno()
    ? new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })
    : new Worker(url);
  let exitCb: ((why: string) => void) | undefined;
  let asked = false;
  let lastError = '';
  w.on('error', (e: Error) => { lastError = e.message; });
  w.on('exit', (code: number) => {
    if (!asked) exitCb?.(`worker exited with code ${code}${lastError ? `: ${lastError}` : ''}`);
  });
  const api = Comlink.wrap<WorkerApi>(nodeEndpoint(w as unknown as Parameters<typeof nodeEndpoint>[0]));
  w.unref();
  return {
    api: heldWhileBusy(api, (busy) => (busy ? w.ref() : w.unref())),
    terminate: () => { asked = true; void w.terminate(); },
    onExit: (cb) => { exitCb = cb; },
  };
}

function spawnWeb(url: URL): WorkerHandle {
  const w = new Worker(url, { type: 'module' });
  let exitCb: ((why: string) => void) | undefined;
  w.addEventListener('error', (e: ErrorEvent) => {
    e.preventDefault();
    exitCb?.(`worker error: ${e.message}`);
  });
  return {
    api: Comlink.wrap<WorkerApi>(w),
    terminate: () => w.terminate(),
    onExit: (cb) => { exitCb = cb; },
  };
}

export async function spawnWorker(url: URL = WORKER_URL): Promise<WorkerHandle> {
  return inNode() || inDeno() ? spawnNode(url) : spawnWeb(url);
}
