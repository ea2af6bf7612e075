/**
 * The scheduler on its own, with fake workers (no wasm): when a job is told it is in the tail of the queue, and
 * when an idle worker is sent to help. Each fake worker answers a task when the test says so.
 */
import { describe, expect, it } from 'vitest';
import type * as Comlink from 'comlink';
import { Scheduler, type Job } from '../ts/pool/scheduler.js';
import type { TaskInput, TaskOutput } from '../ts/pool/task.js';
import type { WorkerApi } from '../ts/pool/worker-api.js';
import type { WorkerHandle } from '../ts/pool/workers.js';

interface Pending {
  worker: number;
  task: TaskInput;
  answer(): void;
}

function fakePool(threads: number) {
  const pending: Pending[] = [];
  let spawned = 0;
  const spawn = async (): Promise<WorkerHandle> => {
    const worker = spawned++;
    const api = {
      run: (task: TaskInput) => new Promise<TaskOutput | null>((resolve) => pending.push({ worker, task, answer: () => resolve(null) })),
    } as unknown as Comlink.Remote<WorkerApi>;
    return { api, terminate: () => {}, onExit: () => {} };
  };
  const scheduler = new Scheduler(threads, { spawn, timeoutMs: 60_000 });
  return { scheduler, pending };
}

/** A job whose input records the tail flags it was built with; `blocks` unclaimed blocks when it has claims. */
function job(name: string, log: string[], done: string[], blocks = 0): Job & { tails: boolean[] } {
  const tails: boolean[] = [];
  const j: Job & { tails: boolean[] } = {
    label: name,
    attempt: 0,
    tails,
    input: (tail) => {
      tails.push(tail);
      log.push(`${name}${tail ? ' tail' : ''}`);
      return { input: { label: name } as unknown as TaskInput, transfer: [] };
    },
    resolve: () => done.push(name),
    reject: (e) => done.push(`${name} rejected: ${String(e)}`),
  };
  if (blocks) j.unclaimed = () => blocks;
  return j;
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('scheduler: tail of the queue and helping', () => {
  it('tells a job it is in the tail only when fewer jobs wait than there are workers', async () => {
    const { scheduler, pending } = fakePool(2);
    await scheduler.ready();
    const log: string[] = [];
    const done: string[] = [];
    const jobs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => job(`j${i}`, log, done));
    scheduler.submit(scheduler.addCaller(), jobs);
    // Three in flight per worker: j0–j5 sent, j6 and j7 wait (2 waiting = 2 workers: not yet the tail).
    expect(log).toEqual(['j0', 'j1', 'j2', 'j3', 'j4', 'j5']);
    pending.shift()!.answer();
    await flush();
    expect(log.at(-1)).toBe('j6 tail'); // sent with one job left waiting
    pending.shift()!.answer();
    await flush();
    expect(log.at(-1)).toBe('j7 tail');
    while (pending.length) {
      pending.shift()!.answer();
      await flush();
    }
    expect(done.sort()).toEqual(jobs.map((j) => j.label).sort());
    scheduler.dispose();
  });

  it('sends an idle worker to the in-flight job with the most unclaimed blocks; the job settles after its helper', async () => {
    const { scheduler, pending } = fakePool(3);
    await scheduler.ready();
    const log: string[] = [];
    const done: string[] = [];
    const a = job('a', log, done, 2);
    const b = job('b', log, done, 5);
    scheduler.submit(scheduler.addCaller(), [a, b]);
    // a → worker 0, b → worker 1, worker 2 idle: it helps b (5 unclaimed), asking b's input with tail = true.
    expect(pending.map((p) => `${p.worker}:${(p.task as unknown as { label: string }).label}`)).toEqual(['0:a', '1:b', '2:b']);
    expect(b.tails).toEqual([true, true]);
    const [, own, helper] = pending.splice(0);
    own!.answer(); // b's own worker is done first: b waits for its helper
    await flush();
    expect(done).toEqual([]);
    helper!.answer();
    await flush();
    expect(done).toEqual(['b']);
    scheduler.dispose();
  });
});
