/**
 * Starting a worker and reaching it through comlink — the only pool file that knows which runtime it is in.
 * Node: worker_threads (exit events tell crashes). Browsers and Deno: module Web Workers (a dead web worker sends
 * nothing, so a crash there shows up as the task timeout).
 */
import * as Comlink from 'comlink';
import { IS_BROWSER_BUILD } from '../core/runtime.js';
import type { WorkerApi } from './worker-api.js';

export interface WorkerHandle {
  api: Comlink.Remote<WorkerApi>;
  /** Stops the worker; no exit callback fires for a terminate we asked for. */
  terminate(): void;
  /** Called once if the worker dies on its own (uncaught error, process.exit). */
  onExit(cb: (why: string) => void): void;
}

/** The worker entry. Source runs (tests, tsx) load worker.ts; the bundle rewrites this to the built worker.js. */
const WORKER_URL = new URL('./worker.ts', import.meta.url);

declare const Deno: unknown;
/** Deno 2 defines process.versions.node too, so Deno is ruled out first. */
const inNode = (): boolean =>
  !IS_BROWSER_BUILD && typeof Deno === 'undefined' && typeof process !== 'undefined' && !!process.versions?.node;

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

async function spawnNode(url: URL): Promise<WorkerHandle> {
  const { Worker } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  // Running from TypeScript sources (tests, tsx): the worker registers tsx's loader before importing its entry.
  const w = url.pathname.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })
    : new Worker(url);
  let exitCb: ((why: string) => void) | undefined;
  let asked = false;
  let lastError = '';
  w.on('error', (e: Error) => { lastError = e.message; });
  w.on('exit', (code: number) => {
    if (!asked) exitCb?.(`worker exited with code ${code}${lastError ? `: ${lastError}` : ''}`);
  });
  return {
    api: Comlink.wrap<WorkerApi>(nodeEndpoint(w as unknown as Parameters<typeof nodeEndpoint>[0])),
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
  return inNode() ? spawnNode(url) : spawnWeb(url);
}
