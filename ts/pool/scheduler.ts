/**
 * Runs tasks on a fixed set of workers: one task per worker at a time, callers served round-robin (a caller with a
 * thousand tasks does not hold back one with two), a timed-out or crashed worker replaced and its task retried
 * once, cancellation per caller.
 */
import * as Comlink from 'comlink';
import type { Fault } from './worker-api.js';
import type { TaskInput, TaskOutput } from './task.js';
import type { WorkerHandle } from './workers.js';

export interface Job {
  /** Names the task in errors, e.g. "run #3 task 5/12 (batch 0, kv heads 4–5, rows 0–255, keys 0–1023)". */
  label: string;
  /** Builds the input (and its transfer list) when the task is sent; called again for a retry. */
  input(): { input: TaskInput; transfer: ArrayBuffer[] };
  resolve(out: TaskOutput): void;
  reject(err: unknown): void;
  attempt: number;
}

export interface Caller {
  queue: Job[];
  /** Jobs of this caller that are on a worker right now. */
  running: Set<Job>;
}

interface Slot {
  handle: WorkerHandle | undefined;
  ready: Promise<WorkerHandle>;
  job: Job | undefined;
  /** Settles the in-flight attempt as failed (crash or timeout). */
  fail: ((why: string) => void) | undefined;
}

export class PoolTaskError extends Error {
  constructor(message: string, readonly task: string) {
    super(message);
    this.name = 'PoolTaskError';
  }
}

export interface SchedulerOptions {
  spawn: () => Promise<WorkerHandle>;
  timeoutMs: number;
  injectFault?: (label: string, attempt: number) => Fault | undefined;
}

export class Scheduler {
  private readonly slots: Slot[] = [];
  private readonly callers: Caller[] = [];
  private turn = 0;
  private disposed = false;

  constructor(threads: number, private readonly opts: SchedulerOptions) {
    for (let i = 0; i < threads; i++) this.slots.push(this.startSlot());
  }

  /** Resolves once every worker has started (its module instantiated). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  addCaller(): Caller {
    const c: Caller = { queue: [], running: new Set() };
    this.callers.push(c);
    return c;
  }

  submit(c: Caller, jobs: Job[]): void {
    c.queue.push(...jobs);
    this.pump();
  }

  /** Drops the caller's pending jobs and stops (terminates and replaces) the workers running its jobs. */
  cancel(c: Caller, why: unknown): void {
    const pending = c.queue.splice(0);
    for (const j of pending) j.reject(why);
    for (const slot of this.slots) {
      if (slot.job && c.running.has(slot.job)) {
        const j = slot.job;
        this.replace(slot);
        j.reject(why);
      }
    }
    c.running.clear();
    this.removeCaller(c);
  }

  removeCaller(c: Caller): void {
    const i = this.callers.indexOf(c);
    if (i >= 0) this.callers.splice(i, 1);
  }

  dispose(): void {
    this.disposed = true;
    for (const c of this.callers.splice(0)) {
      for (const j of c.queue.splice(0)) j.reject(new Error('the attention pool was disposed'));
    }
    for (const s of this.slots) {
      s.fail?.('the attention pool was disposed');
      s.handle?.terminate();
    }
  }

  private startSlot(): Slot {
    const slot: Slot = { handle: undefined, ready: Promise.resolve(undefined as never), job: undefined, fail: undefined };
    this.spawnInto(slot);
    return slot;
  }

  /** Starts a worker for `slot`; a worker that dies while idle is replaced at once, one that dies busy fails its task. */
  private spawnInto(slot: Slot): void {
    slot.ready = this.opts.spawn().then((h) => {
      if (this.disposed) {
        h.terminate();
        return h;
      }
      slot.handle = h;
      h.onExit((why) => {
        if (slot.handle !== h) return;
        if (slot.fail) slot.fail(why);
        else this.replace(slot);
      });
      this.pump();
      return h;
    });
    slot.ready.catch((e: unknown) => this.fatal(e));
  }

  /** A worker could not be started: nothing queued can run, so every waiting job fails with the reason. */
  private fatal(e: unknown): void {
    if (this.disposed) return;
    const err = new Error(`could not start a pool worker: ${e instanceof Error ? e.message : String(e)}`);
    for (const c of this.callers) for (const j of c.queue.splice(0)) j.reject(err);
  }

  private replace(slot: Slot): void {
    const old = slot.handle;
    slot.fail = undefined;
    slot.job = undefined;
    slot.handle = undefined;
    old?.terminate();
    if (!this.disposed) this.spawnInto(slot);
  }

  private nextJob(): { job: Job; caller: Caller } | undefined {
    const n = this.callers.length;
    for (let i = 0; i < n; i++) {
      const c = this.callers[(this.turn + i) % n]!;
      const job = c.queue.shift();
      if (job) {
        this.turn = (this.turn + i + 1) % n;
        return { job, caller: c };
      }
    }
    return undefined;
  }

  private pump(): void {
    if (this.disposed) return;
    for (const slot of this.slots) {
      if (slot.job || !slot.handle) continue;
      const next = this.nextJob();
      if (!next) return;
      this.execute(slot, slot.handle, next.job, next.caller);
    }
  }

  private execute(slot: Slot, handle: WorkerHandle, job: Job, caller: Caller): void {
    slot.job = job;
    caller.running.add(job);
    job.attempt += 1;
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      caller.running.delete(job);
      if (slot.job === job) {
        slot.job = undefined;
        slot.fail = undefined;
      }
      return true;
    };
    const failAttempt = (why: string): void => {
      if (!finish()) return;
      this.replace(slot);
      if (job.attempt < 2) {
        caller.queue.unshift(job);
      } else {
        job.reject(new PoolTaskError(`${job.label} failed twice: ${why}`, job.label));
      }
      this.pump();
    };
    slot.fail = failAttempt;
    const timer = setTimeout(() => failAttempt(`no answer within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    let sent: ReturnType<Job['input']>;
    try {
      sent = job.input();
    } catch (e) {
      finish();
      job.reject(e);
      this.pump();
      return;
    }
    const fault = this.opts.injectFault?.(job.label, job.attempt);
    handle.api
      .run(transferable(sent.input, sent.transfer), fault)
      .then((out) => {
        if (!finish()) return;
        job.resolve(out);
        this.pump();
      })
      .catch((e: unknown) => {
        // An error thrown by the kernel is deterministic: retrying would fail the same way.
        if (!finish()) return;
        job.reject(e);
        this.pump();
      });
  }
}

const transferable = <T>(value: T, transfer: ArrayBuffer[]): T => Comlink.transfer(value, transfer);
