/**
 * Runs tasks on a fixed set of workers: up to DEPTH tasks sent to a worker at a time (it runs them in order; the
 * next one is already there when one ends, so the message round trip does not idle the worker), callers served
 * round-robin (a caller with a thousand tasks does not hold back one with two), a timed-out or crashed worker
 * replaced and its running task retried once (tasks queued behind it are resent without counting an attempt),
 * cancellation per caller (pending tasks dropped; running ones stopped with their worker, which is replaced — unless
 * the worker holds KV-cache shards: then they finish and their answers are ignored).
 *
 * Pinned jobs (KV-cache shards, ts/pool/kv-cache.ts) go to one given worker, in submission order, ahead of its share
 * of the common queue; they are never retried: the state they need lives in that worker and dies with it.
 *
 * Helping: a job whose work is handed out in blocks by a shared counter (`unclaimed`) can be sent, as is, to a worker
 * that has nothing else to do; both claim blocks until none are left. The job settles once its own worker and every
 * helper have answered. A helper that fails loses the blocks it had claimed, so the whole job runs again (an attempt).
 * This evens out the end of a call, where one worker would otherwise idle while the other finishes its last tasks.
 */
import * as Comlink from 'comlink';
import type { Fault, WorkerApi } from './worker-api.js';
import type { TaskInput, TaskOutput } from './task.js';
import type { WorkerHandle, WorkerRemote } from './workers.js';

export interface Job {
  /** Names the task in errors, e.g. "run #3 task 5/12 (batch 0, kv heads 4–5, rows 0–255, keys 0–1023)". */
  label: string;
  /**
   * Builds the input (and its transfer list) when the task is sent; called again for a retry and for each helper.
   * `tail`: fewer jobs wait in the queue than there are workers, so a worker may soon run dry and help with this one.
   */
  input(tail: boolean): { input: TaskInput; transfer: ArrayBuffer[] };
  /** null: the results are in the task's shared output. */
  resolve(out: TaskOutput | null): void;
  reject(err: unknown): void;
  attempt: number;
  /** For a job run in claimed blocks: how many blocks of its current attempt no worker has claimed yet. */
  unclaimed?(): number;
}

/** A call of a worker method on one given worker (cache-shard operations). */
export interface PinnedJob {
  label: string;
  call(api: WorkerRemote): Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export interface Caller {
  queue: Job[];
  /** Jobs of this caller that are on a worker right now. */
  running: Set<Job>;
}

/** Tasks in flight per worker: the next two wait in its message queue, so that a slow answer from the calling thread
 * (busy copying, collecting garbage) does not leave the worker idle between tasks. */
const DEPTH = 3;

interface Sent {
  job: Job | PinnedJob;
  /** undefined for a pinned job. */
  caller: Caller | undefined;
  /** Set when this is a helper run of `job` (not the job's own run). */
  help?: boolean;
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
  /** Pinned jobs waiting for this worker. */
  pinned: PinnedJob[];
  /** Counts the workers this slot has had: a pinned owner compares it to know its state is gone. */
  generation: number;
  /** KV-cache shards this worker holds. */
  shards: number;
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

/** A job with helpers: its own answer (once in) and the helpers still running. */
interface Helped {
  caller: Caller;
  helpers: number;
  answered: boolean;
  answer: TaskOutput | null;
  /** A helper failed: the blocks it claimed were never written. */
  lost: boolean;
}

export class Scheduler {
  private readonly slots: Slot[] = [];
  private readonly helped = new WeakMap<Job, Helped>();
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

  get size(): number {
    return this.slots.length;
  }

  /** The generation of slot i's worker (it changes when the worker is replaced). */
  generation(i: number): number {
    return this.slots[i]!.generation;
  }

  /** Runs `job` on worker `i` after the pinned jobs already submitted to it. */
  submitPinned(i: number, job: PinnedJob): void {
    if (this.disposed) {
      job.reject(new Error('the attention pool was disposed'));
      return;
    }
    this.slots[i]!.pinned.push(job);
    this.pump();
  }

  /** Drops the caller's pending jobs and rejects its running ones; their workers finish them (answers ignored). */
  cancel(c: Caller, why: unknown): void {
    for (const j of c.queue.splice(0)) j.reject(why);
    const running = [...c.running];
    for (const slot of this.slots) {
      if (!slot.inflight.some((x) => x.caller === c && !x.settled)) continue;
      if (slot.shards > 0) {
        // A worker holding KV-cache shards is kept: its running tasks finish, their answers ignored.
        for (const x of slot.inflight) if (x.caller === c) x.settled = true;
        continue;
      }
      // Otherwise it is stopped (a hung task ends now) and replaced; other callers' tasks on it are resent.
      for (const x of this.withdraw(slot)) {
        if (x.settled || x.caller === c) continue;
        x.settled = true;
        if (x.help) {
          this.helpEnded(x.job as Job, true);
          continue;
        }
        if (!x.caller) {
          x.job.reject(new Error('the pool worker was stopped'));
          continue;
        }
        (x.job as Job).attempt -= 1; // stopped through no fault of its own
        x.caller.queue.unshift(x.job as Job);
      }
    }
    for (const j of running) j.reject(why);
    c.running.clear();
    this.removeCaller(c);
    this.pump();
  }

  /** KV-cache shards created (+1) or disposed (−1) on worker i: a worker holding any is never stopped by a cancel. */
  holdShards(i: number, delta: number): void {
    const slot = this.slots[i]!;
    slot.shards = Math.max(0, slot.shards + delta);
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
      for (const j of s.pinned.splice(0)) j.reject(new Error('the attention pool was disposed'));
      for (const x of this.withdraw(s)) if (!x.settled) x.job.reject(new Error('the attention pool was disposed'));
    }
  }

  private startSlot(): Slot {
    const slot: Slot = {
      handle: undefined, ready: Promise.resolve(undefined as never), inflight: [], timer: undefined, pinned: [], generation: 0, shards: 0,
    };
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
    slot.generation += 1;
    slot.shards = 0;
    // The new worker has none of the old one's state: pinned jobs still waiting for it can only fail.
    const lost = new Error('the pool worker holding this KV-cache shard stopped (crashed, hung or was disposed); the cache is lost');
    for (const j of slot.pinned.splice(0)) j.reject(lost);
    old?.terminate();
    if (!this.disposed) this.spawnInto(slot);
  }

  /** Takes every task off a worker that is being stopped (and replaced unless disposed); returns them. */
  private withdraw(slot: Slot): Sent[] {
    const taken = slot.inflight.splice(0);
    clearTimeout(slot.timer);
    slot.timer = undefined;
    for (const x of taken) {
      if (x.caller && !x.help) x.caller.running.delete(x.job as Job);
    }
    this.replace(slot);
    return taken;
  }

  /** The running task crashed or hung: it is retried once (then fails); those queued behind it are resent. */
  private failRunning(slot: Slot, why: string): void {
    const [running, ...waiting] = this.withdraw(slot).filter((x) => !x.settled);
    for (const x of [...waiting].reverse()) {
      if (x.help) {
        this.helpEnded(x.job as Job, true);
        continue;
      }
      if (!x.caller) {
        x.job.reject(new PoolTaskError(`${x.job.label}: its worker stopped (${why}); the KV-cache shard it held is lost`, x.job.label));
        continue;
      }
      (x.job as Job).attempt -= 1; // it never started
      x.caller.queue.unshift(x.job as Job);
    }
    if (running?.help) {
      running.settled = true;
      this.helpEnded(running.job as Job, true);
    } else if (running) {
      const job = running.job;
      if (!running.caller) job.reject(new PoolTaskError(`${job.label} failed: ${why}; the KV-cache shard it held is lost`, job.label));
      else if ((job as Job).attempt < 2) running.caller.queue.unshift(job as Job);
      else job.reject(new PoolTaskError(`${job.label} failed twice: ${why}`, job.label));
    }
    for (const x of [running, ...waiting]) if (x) x.settled = true;
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
    // Pinned jobs first (a decode step waits on every shard), then every worker to one task, then to DEPTH, so
    // that work spreads before it queues.
    for (const slot of this.slots) {
      while (slot.handle && slot.pinned.length && slot.inflight.length < DEPTH) this.executePinned(slot, slot.handle, slot.pinned.shift()!);
    }
    for (let depth = 1; depth <= DEPTH; depth++) {
      for (const slot of this.slots) {
        if (slot.inflight.length >= depth || !slot.handle) continue;
        const next = this.nextJob();
        if (!next) {
          this.helpIdle();
          return;
        }
        this.execute(slot, slot.handle, next.job, next.caller);
      }
    }
  }

  /** No job is waiting: each idle worker helps the job in flight with the most unclaimed blocks. */
  private helpIdle(): void {
    for (const slot of this.slots) {
      if (!slot.handle || slot.inflight.length > 0) continue;
      let target: Sent | undefined;
      let most = 0;
      for (const s of this.slots) {
        for (const x of s.inflight) {
          const n = x.settled || x.help || !x.caller ? 0 : ((x.job as Job).unclaimed?.() ?? 0);
          if (n > most) {
            most = n;
            target = x;
          }
        }
      }
      if (!target) return;
      this.executeHelp(slot, slot.handle, target.job as Job, target.caller!);
    }
  }

  private executeHelp(slot: Slot, handle: WorkerHandle, job: Job, caller: Caller): void {
    let input: ReturnType<Job['input']>;
    try {
      input = job.input(true);
    } catch {
      return; // the job's own run reports it
    }
    let h = this.helped.get(job);
    if (!h) {
      h = { caller, helpers: 0, answered: false, answer: null, lost: false };
      this.helped.set(job, h);
    }
    h.helpers += 1;
    const fault = this.opts.injectFault?.(`${job.label} (helper)`, job.attempt);
    const answer = handle.api.run(transferable(input.input, input.transfer), fault);
    this.track(slot, { job, caller, settled: false, help: true }, answer, () => this.helpEnded(job, false), () => this.helpEnded(job, true));
  }

  /** The job's own run answered: it settles now, or when its last helper answers. */
  private ownAnswer(job: Job, out: TaskOutput | null): void {
    const h = this.helped.get(job);
    if (!h) {
      job.resolve(out);
      return;
    }
    h.answered = true;
    h.answer = out;
    if (h.helpers === 0) this.settleHelped(job, h);
  }

  private helpEnded(job: Job, lost: boolean): void {
    const h = this.helped.get(job);
    if (!h) return;
    h.helpers -= 1;
    if (lost) h.lost = true;
    if (h.answered && h.helpers === 0) this.settleHelped(job, h);
  }

  private settleHelped(job: Job, h: Helped): void {
    this.helped.delete(job);
    if (!h.lost) {
      job.resolve(h.answer);
      return;
    }
    // Blocks a failed helper had claimed are missing: the job runs again in full (a new attempt, a new counter).
    if (!this.callers.includes(h.caller)) return;
    if (job.attempt < 2) {
      h.caller.queue.unshift(job);
      this.pump();
    } else {
      job.reject(new PoolTaskError(`${job.label} failed twice: a worker helping with it stopped`, job.label));
    }
  }

  /** Sends `sent` to the slot's worker; the answer settles it (ignored if it was settled meanwhile). */
  private track(slot: Slot, sent: Sent, answer: Promise<unknown>, done: (value: unknown) => void, failed = (e: unknown): void => sent.job.reject(e)): void {
    slot.inflight.push(sent);
    if (slot.inflight.length === 1) this.armTimer(slot);
    const settle = (): boolean => {
      const i = slot.inflight.indexOf(sent);
      if (i >= 0) slot.inflight.splice(i, 1);
      if (i === 0) this.armTimer(slot);
      if (sent.settled) return false;
      sent.settled = true;
      if (sent.caller && !sent.help) sent.caller.running.delete(sent.job as Job);
      return true;
    };
    answer
      .then((value) => {
        if (settle()) done(value);
        this.pump();
      })
      .catch((e: unknown) => {
        // An error thrown in the worker is deterministic: retrying would fail the same way.
        if (settle()) failed(e);
        this.pump();
      });
  }

  private executePinned(slot: Slot, handle: WorkerHandle, job: PinnedJob): void {
    this.track(slot, { job, caller: undefined, settled: false }, job.call(handle.api), (v) => job.resolve(v));
  }

  private execute(slot: Slot, handle: WorkerHandle, job: Job, caller: Caller): void {
    caller.running.add(job);
    job.attempt += 1;
    let input: ReturnType<Job['input']>;
    try {
      input = job.input(this.callers.reduce((n, c) => n + c.queue.length, 0) < this.slots.length);
    } catch (e) {
      caller.running.delete(job);
      job.reject(e);
      this.pump();
      return;
    }
    const fault = this.opts.injectFault?.(job.label, job.attempt);
    const answer = handle.api.run(transferable(input.input, input.transfer), fault);
    this.track(slot, { job, caller, settled: false }, answer, (out) => this.ownAnswer(job, out as TaskOutput | null));
  }
}

const transferable = <T>(value: T, transfer: ArrayBuffer[]): T => Comlink.transfer(value, transfer);
