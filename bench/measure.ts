/**
 * Timing of several implementations on one shape: warm-up, then rounds in which every implementation runs once
 * (in a rotating order, so machine noise hits all of them alike) until each has its number of repetitions.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Impl, Prepared } from './peers/peer.js';

export interface Policy {
  warmups: number;
  minReps: number;
  maxReps: number;
  /** Repetitions are raised until their estimated total reaches this (within minReps..maxReps). */
  minTimeMs: number;
}

export const LIBRARY_POLICY: Policy = { warmups: 2, minReps: 5, maxReps: 400, minTimeMs: 1000 };

export interface Contender {
  impl: Impl;
  prepared: Prepared;
  policy: Policy;
}

export interface Measurement {
  impl: Impl;
  /** Wall-clock ms of each timed repetition. */
  times: number[];
  medianMs: number;
  /** Output of the last warm-up run (or of the first timed run without warm-up), for verification. */
  output: Float32Array;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(p: Prepared): Promise<{ ms: number; out: Float32Array }> {
  const t0 = performance.now();
  const out = await p.run();
  return { ms: performance.now() - t0, out };
}

export async function measureShape(contenders: readonly Contender[]): Promise<Measurement[]> {
  const state = [];
  for (const c of contenders) {
    let output: Float32Array | undefined;
    let estimate = 0;
    for (let w = 0; w < c.policy.warmups; w++) {
      const r = await timed(c.prepared);
      output = r.out;
      estimate = r.ms;
    }
    const times: number[] = [];
    if (!output) {
      const r = await timed(c.prepared);
      output = r.out;
      estimate = r.ms;
      times.push(r.ms);
    }
    const wanted = Math.ceil(c.policy.minTimeMs / Math.max(estimate, 1e-3));
    const reps = Math.min(c.policy.maxReps, Math.max(c.policy.minReps, wanted));
    state.push({ c, output, times, reps });
  }
  for (let round = 0; state.some((s) => s.times.length < s.reps); round++) {
    for (let i = 0; i < state.length; i++) {
      const s = state[(i + round) % state.length];
      if (s.times.length >= s.reps) continue;
      s.times.push((await timed(s.c.prepared)).ms);
    }
  }
  return state.map((s) => ({ impl: s.c.impl, times: s.times, medianMs: median(s.times), output: s.output }));
}

/**
 * Throughput of several implementations: after `warmups` calls each, alternating bursts of back-to-back calls
 * (`burstMs` of calls of one implementation, then the next), `bursts` per implementation. Each burst gives its mean
 * ms per call; medianMs is the median over the bursts. Alternation cancels the shared machine's slow spells; bursts
 * (rather than alternating single calls) measure calls that follow calls — a worker pool's first call after its
 * workers sat idle pays their wake-up (measured 4–13 ms at (1,12,1024,64) on 2 cores).
 * A full garbage collection runs, untimed, before every burst: otherwise the garbage one implementation leaves (a
 * fresh 3 MB output per call) is collected during the next one's burst and counted against it. At (1,12,1024,64) on
 * 2 cores that made the pool with fresh outputs look 1.52× attention() when it is 1.76–1.89× run alone, in its own
 * process, and it inflated the figures of whichever contender followed a garbage-heavy one.
 */
export async function measureBursts(
  contenders: readonly Contender[], opts: { bursts: number; burstMs: number },
): Promise<Measurement[]> {
  const state = [];
  for (const c of contenders) {
    let output: Float32Array | undefined;
    for (let w = 0; w < Math.max(1, c.policy.warmups); w++) output = (await timed(c.prepared)).out;
    state.push({ c, output: output!, times: [] as number[] });
  }
  const collect = fullCollection();
  for (let round = 0; round < opts.bursts; round++) {
    for (const s of state) {
      collect();
      const t0 = performance.now();
      let calls = 0;
      while (performance.now() - t0 < opts.burstMs) {
        await s.c.prepared.run();
        calls += 1;
      }
      s.times.push((performance.now() - t0) / calls);
    }
  }
  return state.map((s) => ({ impl: s.c.impl, times: s.times, medianMs: median(s.times), output: s.output }));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN counts as the worst difference
  }
  return m;
}

let gc: (() => void) | undefined;

/** V8's full collection (exposed at run time: the bench is started without --expose-gc). */
function fullCollection(): () => void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  return gc;
}
