/**
 * Runs tasks on a fixed set of workers: up to DEPTH tasks sent to a worker at a time (it runs them in order; the
 * next one is already there when one ends, so the message round trip does not idle the worker), callers served
 * round-robin (a caller with a thousand tasks does not hold back one with two), a timed-out or crashed worker
 * replaced and its running task retried once (tasks queued behind it are resent without counting an attempt),
 * cancellation per caller.
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
  /** null: the results are in the task's shared output. */
  resolve(out: TaskOutput | null): void;
  reject(err: unknown): void;
  attempt: number;
}

export interface Caller {
  queue: Job[];
  /** Jobs of this caller that are on a worker right now. */
  running: Set<Job>;
}

/** Tasks in flight per worker. */
const DEPTH = 2;

interface Sent {
  job: Job;
  caller: Caller;
  /** Set once settled (answered, failed or withdrawn): later answers for it are ignored. */
  settled: boolean;
}

interface Slot {
  handle: WorkerHandle | undefined;
  ready: Promise<WorkerHandle>;
  /** Sent to this worker, in the order it runs them: the first is running, the others wait in its message queue. */
  inflight: Sent[];
  /** Timeout of the running (first) task. */
  timer: ReturnType<typeof setTimeout> | undefined;
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
      if (slot.inflight.some((x) => x.caller === c)) {
        for (const x of this.withdraw(slot)) {
          if (x.caller === c) {
            x.job.reject(why);
          } else {
            x.job.attempt -= 1; // stopped through no fault of its own
            x.caller.queue.unshift(x.job);
          }
        }
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
      for (const x of this.withdraw(s)) x.job.reject(new Error('the attention pool was disposed'));
    }
  }

  private startSlot(): Slot {
    const slot: Slot = { handle: undefined, ready: Promise.resolve(undefined as never), inflight: [], timer: undefined };
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
        if (slot.inflight.length) this.failRunning(slot, why);
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
    slot.handle = undefined;
    old?.terminate();
    if (!this.disposed) this.spawnInto(slot);
  }

  /** Takes every task off a worker that is being stopped (and replaced unless disposed); returns them. */
  private withdraw(slot: Slot): Sent[] {
    const taken = slot.inflight.splice(0);
    clearTimeout(slot.timer);
    slot.timer = undefined;
    for (const x of taken) {
      x.settled = true;
      x.caller.running.delete(x.job);
    }
    this.replace(slot);
    return taken;
  }

  /** The running task crashed or hung: it is retried once (then fails); those queued behind it are resent. */
  private failRunning(slot: Slot, why: string): void {
    const [running, ...waiting] = this.withdraw(slot);
    for (const x of waiting.reverse()) {
      x.job.attempt -= 1; // it never started
      x.caller.queue.unshift(x.job);
    }
    if (running) {
      if (running.job.attempt < 2) running.caller.queue.unshift(running.job);
      else running.job.reject(new PoolTaskError(`${running.job.label} failed twice: ${why}`, running.job.label));
    }
    this.pump();
  }

  /** Starts the timeout of the slot's running task (the first in flight), if any. */
  private armTimer(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    if (!slot.inflight.length) return;
    slot.timer = setTimeout(() => this.failRunning(slot, `no answer within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
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
    // Fill every worker to one task first, then to DEPTH, so that work spreads before it queues.
    for (let depth = 1; depth <= DEPTH; depth++) {
      for (const slot of this.slots) {
        if (slot.inflight.length >= depth || !slot.handle) continue;
        const next = this.nextJob();
        if (!next) return;
        this.execute(slot, slot.handle, next.job, next.caller);
      }
    }
  }

  private execute(slot: Slot, handle: WorkerHandle, job: Job, caller: Caller): void {
    const sent: Sent = { job, caller, settled: false };
    caller.running.add(job);
    job.attempt += 1;
    let input: ReturnType<Job['input']>;
    try {
      input = job.input();
    } catch (e) {
      caller.running.delete(job);
      job.reject(e);
      this.pump();
      return;
    }
    slot.inflight.push(sent);
    if (slot.inflight.length === 1) this.armTimer(slot);
    /** Answered (or failed in the kernel): off the slot, the next task's timeout starts. */
    const settle = (): boolean => {
      if (sent.settled) return false;
      sent.settled = true;
      caller.running.delete(job);
      const i = slot.inflight.indexOf(sent);
      if (i >= 0) slot.inflight.splice(i, 1);
      if (i === 0) this.armTimer(slot);
      return true;
    };
    const fault = this.opts.injectFault?.(job.label, job.attempt);
    handle.api
      .run(transferable(input.input, input.transfer), fault)
      .then((out) => {
        if (!settle()) return;
        job.resolve(out);
        this.pump();
      })
      .catch((e: unknown) => {
        // An error thrown by the kernel is deterministic: retrying would fail the same way.
        if (!settle()) return;
        job.reject(e);
        this.pump();
      });
  }
}

const transferable = <T>(value: T, transfer: ArrayBuffer[]): T => Comlink.transfer(value, transfer);
