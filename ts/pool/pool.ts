/**
 * The worker-pool front: `createAttention({ threads })` → `run`, `runBatch`, `dispose`.
 * Validation happens here, on the calling thread, with the same buildDescriptor as attention(); workers only ever
 * see valid, already-sliced tasks.
 */
import { buildDescriptor } from '../spec.js';
import { AttentionError, abortError } from '../errors.js';
import { getModule, init } from '../core/loader.js';
import type { InitSource } from '../core/loader.js';
import type { AttentionDescriptor } from '../descriptor.js';
import type { AttentionInput, AttentionOptions, AttentionResult, ConvertibleInput, ConvertOptions } from '../types.js';
import { allocateResult, mergeBlock, scatterBlock } from './merge.js';
import { Scheduler, type Job } from './scheduler.js';
import { isDecodeLike, splitProblem, type TaskRange } from './split.js';
import { makeTaskInput, type TaskOutput } from './task.js';
import { CallStaging, shareOperands, StagingBuffers } from './staging.js';
import { PoolKVCache, type PoolKVCacheOptions } from './kv-cache.js';
import { defaultThreadCount, nodeThreadCount, spawnWorker } from './workers.js';
import { checkCallOptions, checkCreateOptions, poolOptions } from './options.js';
import type { Fault } from './worker-api.js';
import { createGpuBackend, type AutoAttention, type CreateAttentionOptions } from '../webgpu/create.js';
import type { WebGpuAttention } from '../webgpu/backend.js';

export interface PoolOptions {
  /** Number of workers. Default: the runtime's core count. */
  threads?: number;
  /** A task with no answer after this many ms counts as hung: its worker is replaced and it is retried once. Default 300 000. */
  timeoutMs?: number;
  /** Where to load the wasm from (as for init()); default: beside the library. */
  wasm?: InitSource;
  /**
   * Shared memory (bytes) the pool may hold for staging calls where SharedArrayBuffer exists: buffers lent to calls
   * in flight plus those kept for reuse (dropped after 10 s without a call). A call that does not fit goes through
   * transferred copies instead: same results, more copying. Default 256 MiB; 0 never stages.
   */
  stagingBytes?: number;
  /** Testing hook: make a task's attempt crash, hang or throw in its worker. A worker helping with a task (see
   * README, Worker pool) is asked about under the task's label + " (helper)"; a task run in claimed blocks fails
   * after claiming one. */
  injectFault?: (task: string, attempt: number) => Fault | undefined;
}

/** One problem of runBatch: as attention() takes it (with `convert: true`, q, k, v, mask and bias as ConvertOptions
 * admits them). */
export type BatchItem =
  | { q: AttentionInput; k: AttentionInput; v: AttentionInput; options?: AttentionOptions }
  | { q: ConvertibleInput; k: ConvertibleInput; v: ConvertibleInput; options: ConvertOptions };

export interface BatchProgress {
  /** Problems finished. */
  done: number;
  total: number;
  /** Milliseconds since runBatch was called. */
  elapsedMs: number;
}

export interface RunOptions {
  signal?: AbortSignal;
}

export interface BatchOptions extends RunOptions {
  onProgress?: (p: BatchProgress) => void;
}

/** Query rows per claimed block (a multiple of the kernel's query block height, so rows see the same code path). */
const CLAIM_ROWS = 128;

/**
 * Whether a task of a staged call can run in claimed row blocks, so that a worker that runs out of tasks helps
 * with it instead of idling while the others finish. It does when it is sent with fewer jobs left in the queue than
 * there are workers (the scheduler's `tail`): in practice the last task per worker of the last call. Earlier tasks
 * run whole: each block costs about 50 µs (the kernel packs the head's keys again), measured 1–4 % slower when
 * every task ran in blocks. With (1,12,1024,64) on 2 workers the last answers of the two workers came 3.5–3.9 ms
 * apart (median) without blocks, 0.5–0.9 ms apart with them.
 */
function claimable(d: AttentionDescriptor, t: TaskRange, threads: number): boolean {
  return threads > 1 && !d.variant && !d.sparse && t.rows >= 2 * CLAIM_ROWS;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** What solve() needs of an AbortSignal. */
type SignalLike = Pick<AbortSignal, 'aborted' | 'reason'> & {
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
};

/** One listener on `source` fanned out to every item of a batch (Node warns when an AbortSignal has over 10). */
function fanOut(source: AbortSignal): SignalLike {
  const listeners = new Set<() => void>();
  source.addEventListener('abort', () => { for (const l of [...listeners]) l(); }, { once: true });
  return {
    get aborted() { return source.aborted; },
    get reason(): unknown { return source.reason; },
    addEventListener: (_type, l) => { listeners.add(l); },
    removeEventListener: (_type, l) => { listeners.delete(l); },
  };
}

/** How a call's tasks get their operands: its staging (if any), the descriptor they slice, and its shared buffer. */
interface CallMemory {
  staged?: CallStaging;
  d: AttentionDescriptor;
  buffer?: SharedArrayBuffer;
}

export class AttentionPool {
  private disposed = false;
  private calls = 0;
  private readonly staging: StagingBuffers | undefined;

  /** Use createAttention(). */
  constructor(readonly threads: number, private readonly scheduler: Scheduler, stagingBytes?: number) {
    this.staging = typeof SharedArrayBuffer === 'undefined' ? undefined : new StagingBuffers(stagingBytes);
  }

  /** Same inputs, options and result as attention(), computed on the pool. */
  run(q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options: ConvertOptions, run?: RunOptions): Promise<AttentionResult>;
  run(q: AttentionInput, k: AttentionInput, v: AttentionInput, options?: AttentionOptions, run?: RunOptions): Promise<AttentionResult>;
  async run(
    q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options?: AttentionOptions | ConvertOptions, run?: RunOptions,
  ): Promise<AttentionResult> {
    this.checkOpen();
    checkCallOptions(run, ['signal'], 'run options');
    return this.solve(buildDescriptor(q, k, v, options), `run #${++this.calls}`, run?.signal);
  }

  /** Many independent problems (shapes may differ); results in input order. */
  async runBatch(items: readonly BatchItem[], opts: BatchOptions = {}): Promise<AttentionResult[]> {
    this.checkOpen();
    checkCallOptions(opts, ['signal', 'onProgress'], 'batch options');
    const started = now();
    const descs = items.map((it, i) => {
      try {
        return buildDescriptor(it.q, it.k, it.v, it.options);
      } catch (e) {
        if (e instanceof AttentionError) e.message = `items[${i}]: ${e.message}`;
        throw e;
      }
    });
    const batch = ++this.calls;
    let done = 0;
    const controller = new AbortController();
    const itemSignal = fanOut(controller.signal);
    const onAbort = (): void => controller.abort(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.all(
        descs.map((d, i) =>
          this.solve(d, `batch #${batch} item ${i}`, itemSignal).then((r) => {
            done += 1;
            opts.onProgress?.({ done, total: descs.length, elapsedMs: now() - started });
            return r;
          }),
        ),
      ).catch((e: unknown) => {
        controller.abort(e);
        throw e;
      });
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * A KV cache spread over the pool's workers: decode steps on it run on all of them (see ts/pool/kv-cache.ts).
   * It lives as long as the pool (dispose() either to free it).
   */
  async createKVCache(options: PoolKVCacheOptions): Promise<PoolKVCache> {
    this.checkOpen();
    return PoolKVCache.create(this.scheduler, options);
  }

  /** Terminates the workers. Calls in flight reject; later calls throw. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scheduler.dispose();
    this.staging?.dispose();
  }

  private checkOpen(): void {
    if (this.disposed) {
      throw new AttentionError('NOT_INITIALIZED', 'pool', 'an open pool', 'a disposed pool', 'the attention pool was disposed: create a new one with createAttention()');
    }
  }

  private solve(d: AttentionDescriptor, label: string, signal?: SignalLike): Promise<AttentionResult> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const tasks = splitProblem(d, this.threads);
    const decode = isDecodeLike(d);
    const caller = this.scheduler.addCaller();
    let result: AttentionResult | undefined;
    return new Promise<AttentionResult>((resolve, reject) => {
      let settled = false;
      // With shared memory, operands and results (key-range partials with their lse) go through one reused staging
      // buffer (see staging.ts); attention weights (N×N) still travel as transferred buffers. Set up when the first
      // task is sent, so that a batch's later items do not hold the staging budget while they wait in the queue.
      let memory: CallMemory | undefined;
      const callMemory = (): CallMemory => {
        if (memory) return memory;
        const pool = settled ? undefined : this.staging;
        const staged = pool && !d.returnWeights ? CallStaging.plan(d, tasks, pool, d.returnLse || decode) : undefined;
        // Without staging, shared memory still pays off when tasks overlap (key ranges read the same queries).
        const overlap = pool && !staged && tasks.length > 1 && tasks.some((t) => t.rows < d.nq || t.keys < d.nk);
        const shared = overlap ? shareOperands(d, pool) : undefined;
        memory = { staged, d: shared?.d ?? d, buffer: staged?.buffer ?? shared?.buffer };
        return memory;
      };
      // The call's shared buffer goes back for reuse once every task has answered; it is forgotten if the call fails
      // or is aborted (tasks on workers that hold KV-cache shards finish and may still write into it).
      const dropBuffer = (): void => {
        if (memory?.buffer) this.staging!.drop(memory.buffer);
      };
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        dropBuffer();
        this.scheduler.cancel(caller, abortError(signal!));
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const fail = (e: unknown): void => {
        if (settled) return;
        settled = true;
        dropBuffer();
        signal?.removeEventListener('abort', onAbort);
        this.scheduler.cancel(caller, e);
        reject(e);
      };
      // Key-range partials of one block are merged once all of them are in; blocks are scattered as they come.
      const groups = new Map<string, { t: TaskRange; parts: (TaskOutput | undefined)[]; left: number }>();
      let blocksLeft = 0;
      const jobs: Job[] = tasks.map((t, i) => {
        const key = `${t.b}/${t.kvHead0}/${t.row0}`;
        let g = groups.get(key);
        if (!g) {
          g = { t: { ...t, key0: 0, keys: d.nk }, parts: [], left: 0 };
          groups.set(key, g);
          blocksLeft += 1;
        }
        const slot = g.parts.length;
        g.parts.push(undefined);
        g.left += 1;
        const group = g;
        // A fresh counter per attempt: helpers of a failed attempt may still be claiming from the old one.
        let counter: Int32Array | undefined;
        let counterAttempt = -1;
        const blocks = Math.ceil(t.rows / CLAIM_ROWS);
        const claims = claimable(d, t, this.threads);
        const job: Job = {
          label: `${label} task ${i + 1}/${tasks.length} (batch ${t.b}, kv heads ${t.kvHead0}–${t.kvHead0 + t.kvHeads - 1}, ` +
            `rows ${t.row0}–${t.row0 + t.rows - 1}, keys ${t.key0}–${t.key0 + t.keys - 1})`,
          attempt: 0,
          input: (tail) => {
            const { staged, d: from } = callMemory();
            if (!staged) return makeTaskInput(from, t, decode);
            staged.prepare(i);
            const x = makeTaskInput(staged.d, t, decode);
            x.input.sharedOut = staged.output(i);
            // A helper asks with tail = true; it claims from the counter of the attempt running, if that has one.
            if (claims && counterAttempt !== job.attempt) {
              counter = tail ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
              counterAttempt = job.attempt;
            }
            if (counter) x.input.claim = { counter, blockRows: CLAIM_ROWS };
            return x;
          },
          reject: fail,
          resolve: (out) => {
            if (settled) return;
            group.parts[slot] = out ?? memory!.staged!.output(i);
            if (--group.left > 0) return;
            const merged = mergeBlock(d, group.t, group.parts as TaskOutput[], decode);
            result ??= allocateResult(d);
            scatterBlock(d, group.t, merged, result);
            if (--blocksLeft === 0) {
              settled = true;
              // Every task has answered, so no worker reads or writes the buffer any more.
              if (memory?.buffer) this.staging!.release(memory.buffer);
              signal?.removeEventListener('abort', onAbort);
              this.scheduler.removeCaller(caller);
              resolve(result);
            }
          },
        };
        if (claims) job.unclaimed = () => (counter ? Math.max(0, blocks - Atomics.load(counter, 0)) : 0);
        return job;
      });
      this.scheduler.submit(caller, jobs);
    });
  }
}

/** Starts a pool of workers, each with its own instance of the compiled module. With `backend: 'webgpu'` a WebGPU
 * backend instead (the pool when there is no adapter and `fallback: 'wasm'`); with 'auto', a router between the two
 * (see ts/webgpu/create.ts). */
export async function createAttention(opts: CreateAttentionOptions & { backend: 'webgpu'; fallback?: 'none' }): Promise<WebGpuAttention>;
export async function createAttention(opts: CreateAttentionOptions & { backend: 'webgpu' }): Promise<WebGpuAttention | AttentionPool>;
export async function createAttention(opts: CreateAttentionOptions & { backend: 'auto' }): Promise<AutoAttention>;
export async function createAttention(opts?: PoolOptions & { backend?: 'wasm' }): Promise<AttentionPool>;
export async function createAttention(opts: CreateAttentionOptions = {}): Promise<AttentionPool | WebGpuAttention | AutoAttention> {
  checkCreateOptions(opts);
  if (opts.backend === 'webgpu' || opts.backend === 'auto') return createGpuBackend(opts, (o) => createAttention({ ...poolOptions(o), backend: 'wasm' }));
  const threads = opts.threads ?? (await nodeThreadCount()) ?? defaultThreadCount();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new AttentionError('INVALID_OPTION', 'threads', 'a positive integer', String(threads));
  }
  const stagingBytes = opts.stagingBytes ?? 256 * 2 ** 20;
  if (!Number.isSafeInteger(stagingBytes) || stagingBytes < 0) {
    throw new AttentionError('INVALID_OPTION', 'stagingBytes', 'a whole number of bytes >= 0', String(stagingBytes));
  }
  const timeoutMs = opts.timeoutMs ?? 300_000;
  if (!(timeoutMs > 0)) throw new AttentionError('INVALID_OPTION', 'timeoutMs', 'a positive number of ms', String(timeoutMs));
  await init(opts.wasm);
  const module = getModule();
  const scheduler = new Scheduler(threads, {
    timeoutMs,
    injectFault: opts.injectFault,
    spawn: async () => {
      const h = await spawnWorker();
      await h.api.init(module);
      return h;
    },
  });
  try {
    await scheduler.ready();
  } catch (e) {
    scheduler.dispose();
    throw e;
  }
  return new AttentionPool(threads, scheduler, stagingBytes);
}
