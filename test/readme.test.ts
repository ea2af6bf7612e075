/**
 * Docs that run: every ```js / ```ts example of README.md (and the html example's module script) is run against the
 * library sources, the way a user would paste it: `from 'webattn'`, `'./dist/index.js'` and
 * `'./dist/browser/index.js'` read ts/index.ts. What a block claims is checked: a comment after a console.log is the
 * output it must print (test/readme-blocks.ts says how values are written), and a block's entry below checks what it
 * states in other words (bitwise equal results, pages given back, an error code). At the least, a block runs without
 * throwing.
 *
 * Every block must have an entry in BLOCKS, keyed by its section heading and its place among that section's
 * examples: a new or moved example fails the test until it is registered — run, with the blocks it builds on
 * (`after`) and the names the README leaves to the reader (`given`), or listed as not runnable here, with the reason.
 * Math.random is seeded, so every run sees the same inputs. Objects the blocks create that have a dispose() (pools,
 * caches, layers, WebGPU backends) are disposed after each block. Runs in Node, Chromium and Deno.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as webattn from '../ts/index.js';
import { attention } from '../ts/index.js';
import type { AttentionError, AttentionResult, KVPagePool } from '../ts/index.js';
import { claimMismatches, readmeBlocks, runChain } from './readme-blocks.js';
import type { Block, ChainPart, ChainRun, Probe } from './readme-blocks.js';
import { Rng, uniform } from './rng.js';
import { testRuntime } from './webgpu/gpu.js';
import type { TestRuntime } from './webgpu/gpu.js';

const runtime = testRuntime();

// ------------------------------------------------------------------------------------------------ the library

/** Resources the blocks made, disposed after each block (a pool or a WebGPU device left open would outlive it). */
const live: { dispose(): unknown }[] = [];

function track<T>(x: T): T {
  if (x !== null && typeof x === 'object' && typeof (x as { dispose?: unknown }).dispose === 'function') live.push(x as unknown as { dispose(): unknown });
  return x;
}

/** The library's exports, with functions and classes whose results have a dispose() recorded in `live`. */
function trackedModule(ns: object): Record<string, unknown> {
  const wrap = (v: unknown): unknown => (typeof v !== 'function' ? v : new Proxy(v, {
    apply: (t, self, args) => {
      const r: unknown = Reflect.apply(t as (...a: unknown[]) => unknown, self, args);
      return r instanceof Promise ? r.then(track) : track(r);
    },
    construct: (t, args, target) => track(Reflect.construct(t as new (...a: unknown[]) => object, args, target)),
  }));
  return Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, wrap(v)]));
}

const library = trackedModule(webattn);
/** What the README's import specifiers mean here. */
const MODULES: Record<string, object> = {
  webattn: library,
  './dist/index.js': library,
  './dist/browser/index.js': library,
};

afterEach(async () => {
  for (const x of live.splice(0).reverse()) {
    try {
      await x.dispose();
    } catch {
      // Already disposed by the block (some dispose() refuse a second call); nothing else to give back.
    }
  }
});

// ------------------------------------------------------------------------------------------------ the table

type Given = Record<string, unknown>;

interface Entry {
  /** Text the block contains: an example moved within its section must not silently take another's entry. */
  marks: string;
  /** Keys of the blocks whose names this block uses: they run first, each in a scope around the next. */
  after?: string[];
  /** Names the README leaves to the reader, with the values this test gives them. */
  given?: () => Given;
  /** The runtimes the block is written for (default: all), and why not the others. */
  only?: { runtimes: TestRuntime[]; why: string };
  /** Expressions recorded after the line containing `at` each time it runs (for claims inside loops or mid-block). */
  probes?: Probe[];
  /** Names of the block handed to `check`. */
  exports?: string[];
  /** What the block states besides its console.log comments. */
  check?: (r: ChainRun) => void;
  /** The AttentionError code the block says it throws in this runtime, if any (then nothing else is checked). */
  throws?: () => Promise<string | undefined>;
}

interface Tensor { data: Float32Array; shape: number[] }

const tensor = (seed: number, shape: number[]): Tensor => ({ data: uniform(seed, shape.reduce((a, b) => a * b, 1)), shape });

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((w, i) => w === y[i]);
}

/** Whether this runtime offers a WebGPU adapter of its own (navigator.gpu). */
async function hasAdapter(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  return gpu ? (await gpu.requestAdapter()) !== null : false;
}

/** Three seeded tokens' worth of attention for the "Seeing attention" fragment: 4 heads over 12 tokens. */
function seeingGiven(): Given {
  const H = 4;
  const tokens = 'the cat sat on the mat because it was warm and the'.split(' ');
  const n = tokens.length;
  const layer = (seed: number): Float32Array => {
    const x = tensor(seed, [1, H, n, 16]);
    return attention(x, x, x, { causal: true, returnWeights: true }).weights!;
  };
  return {
    H, n, tokens,
    q: tensor(11, [1, H, n, 16]), k: tensor(12, [1, H, n, 16]), v: tensor(13, [1, H, n, 16]),
    w1: layer(21), w2: layer(22), w3: layer(23),
    options: { causal: true, window: { left: 4 } },
    project: (o: Float32Array) => o,
  };
}

const BLOCKS: Record<string, Entry> = {
  'Node #1': {
    marks: 'INVALID_TYPE v',
    exports: ['output', 'shape', 'lse', 'B', 'H', 'N', 'D'],
    check: ({ values: { output, shape, lse, B, H, N, D } }) => {
      // output: Float32Array [B, H, N, D]; lse: Float32Array [B, H, N]
      const [b, h, n, d] = [B, H, N, D] as number[];
      expect(shape).toEqual([b, h, n, d]);
      expect(output).toBeInstanceOf(Float32Array);
      expect((output as Float32Array).length).toBe(b! * h! * n! * d!);
      expect(lse).toBeInstanceOf(Float32Array);
      expect((lse as Float32Array).length).toBe(b! * h! * n!);
    },
  },
  'Deno #1': { marks: 'attention(x, x, x).shape' },
  'Browser #1': {
    marks: 'heatmapSvg(weights',
    only: { runtimes: ['browser'], why: 'it writes the heatmap into document.body: it needs a DOM' },
    check: () => {
      const svg = (globalThis as unknown as { document: { body: { querySelector(s: string): { outerHTML: string } | null } } }).document.body.querySelector('svg');
      expect(svg === null ? '' : svg.outerHTML).toMatch('causal attention');
    },
  },
  'Linear-time variants #1': {
    marks: "kind: 'lsh'",
    after: ['Node #1'],
    exports: ['lin', 'perf', 'linf', 'lsh', 'q'],
    check: ({ values }) => {
      const n = (values.q as Tensor).data.length;
      for (const name of ['lin', 'perf', 'linf', 'lsh']) {
        const out = (values[name] as AttentionResult).output;
        expect(out.length, name).toBe(n);
        expect(out.every(Number.isFinite), name).toBe(true);
      }
    },
  },
  'Attention layer #1': { marks: 'new MultiHeadAttention' },
  'Decoding with a KV cache #1': {
    marks: 'new KVCache',
    probes: [{ at: 'const { output } = decode(x(Hq, 1), cache);', expr: '[output.length, Hq * D]' }],
    check: ({ probes: [sizes] }) => {
      expect(sizes!.length).toBe(2 * 50); // layers × newTokens
      for (const [got, want] of sizes as number[][]) expect(got).toBe(want); // "// [1, Hq, 1, D]"
    },
  },
  'Decoding across the worker pool #1': {
    marks: 'attn.createKVCache',
    // truncate(4000) needs a position ≥ 4000: a prompt of 4000 tokens, then the block's 100 steps.
    given: () => ({
      promptK: tensor(31, [1, 8, 4000, 128]), promptV: tensor(32, [1, 8, 4000, 128]),
      k1: tensor(33, [1, 8, 1, 128]), v1: tensor(34, [1, 8, 1, 128]), q1: tensor(35, [1, 32, 1, 128]),
    }),
    exports: ['cache'],
    check: ({ values }) => {
      const cache = values.cache as { length: number; position: number };
      expect([cache.length, cache.position]).toEqual([0, 0]); // reset() empties it, positions restart at 0
    },
  },
  'Paged caches #1': {
    marks: 'new KVPagePool',
    given: () => ({
      promptK: tensor(41, [1, 8, 40, 128]), promptV: tensor(42, [1, 8, 40, 128]),
      k1: tensor(43, [1, 8, 1, 128]), v1: tensor(44, [1, 8, 1, 128]), q: tensor(45, [1, 8, 1, 128]),
    }),
    probes: [
      { at: 'const pool = new KVPagePool', expr: 'pool.freePages' },
      { at: 'a.append(promptK, promptV);', expr: 'pool.freePages' },
      { at: 'const b = a.fork();', expr: 'pool.freePages' },
      { at: 'b.append(k1, v1);', expr: 'pool.freePages' },
      { at: 'const { output } = decode(q, b);', expr: 'output.length' },
    ],
    exports: ['pool'],
    check: ({ values, probes }) => {
      expect(probes).toEqual([
        [4096], //           65 536 tokens: 4096 pages of 16
        [4096 - 3], //       the 40-token prompt takes ⌈40 / 16⌉ pages
        [4096 - 3], //       the fork shares every page of the prompt
        [4096 - 4], //       and copies the shared, partly filled last page on its first append
        [8 * 128], //        q [1, 8, 1, 128]
      ]);
      expect((values.pool as KVPagePool).freePages).toBe(4096); // "pages go back to the pool"
    },
  },
  'Worker pool #1': {
    marks: 'createAttention({ threads: 4 })',
    after: ['Node #1'],
    exports: ['r', 'q', 'k', 'v'],
    check: ({ values: { r, q, k, v } }) => {
      // "same options and result as attention(), bitwise equal"
      const want = attention(q as Tensor, k as Tensor, v as Tensor, { causal: true });
      expect(sameBits((r as AttentionResult).output, want.output)).toBe(true);
    },
  },
  'Worker pool #2': {
    marks: 'stagingBytes: 64 * 2 ** 20',
    after: ['Worker pool #1'],
    exports: ['attn'],
    check: ({ values }) => { expect(values.attn).toBeInstanceOf(webattn.AttentionPool); },
  },
  'Worker pool #3': {
    marks: 'attn.runBatch(',
    after: ['Worker pool #1'],
    given: () => ({
      problems: [0, 1, 2].map((i) => ({ q: tensor(50 + i, [1, 2, 40, 16]), k: tensor(60 + i, [1, 2, 50, 16]), v: tensor(70 + i, [1, 2, 50, 16]) })),
    }),
    exports: ['results', 'problems'],
    check: ({ values, logs }) => {
      // "results in input order", each as attention() gives it; progress after every item.
      const problems = values.problems as { q: Tensor; k: Tensor; v: Tensor }[];
      const results = values.results as AttentionResult[];
      expect(results.length).toBe(problems.length);
      problems.forEach(({ q, k, v }, i) => {
        expect(sameBits(results[i]!.output, attention(q, k, v, { causal: true }).output), `item ${i}`).toBe(true);
      });
      expect(logs.map((l) => String(l.args[0]).replace(/ after \d+ ms$/, ''))).toEqual(['1/3', '2/3', '3/3']);
    },
  },
  'Worker pool #4': {
    marks: 'crossOriginIsolated',
    only: { runtimes: ['browser'], why: 'it reads navigator.hardwareConcurrency and crossOriginIsolated, which only browsers define' },
    given: () => ({ n: 64, d: 16, h: 2 }),
    exports: ['attn', 'shared'],
    check: ({ values }) => {
      expect(values.attn).toBeInstanceOf(webattn.AttentionPool);
      expect((values.shared as Float32Array).length).toBe(64 * 16 * 2);
    },
  },
  'WebGPU #1': {
    marks: "backend: 'webgpu'",
    after: ['Node #1'],
    given: () => ({ steps: [tensor(81, [1, 8, 1, 64]), tensor(82, [1, 8, 1, 64])].map((q) => ({ q })) }),
    exports: ['r', 'gpu', 'auto', 'safe'],
    // "throws AttentionError (NOT_INITIALIZED) without an adapter": Node has no WebGPU of its own.
    throws: async () => (runtime === 'browser' || (runtime === 'deno' && (await hasAdapter())) ? undefined : 'NOT_INITIALIZED'),
    check: ({ values }) => {
      const r = values.r as AttentionResult;
      expect(r.shape).toEqual([1, 8, 512, 64]);
      expect(r.lse!.length).toBe(8 * 512);
      expect(values.gpu).toBeInstanceOf(webattn.WebGpuAttention);
    },
  },
  'Seeing attention #1': {
    marks: 'attentionRollout([w1, w2, w3]',
    after: ['Node #1'], // init()
    given: seeingGiven,
  },
};

// ------------------------------------------------------------------------------------------------ the tests

function readmeUrl(): URL {
  return new URL('../README.md', import.meta.url);
}

async function readReadme(): Promise<string> {
  if (runtime === 'node') {
    const name = 'node:fs'; // a variable: the browser project's bundler must not resolve it
    const fs = (await import(/* @vite-ignore */ name)) as typeof import('node:fs');
    return fs.readFileSync(readmeUrl(), 'utf8');
  }
  const r = await fetch(readmeUrl());
  if (!r.ok) throw new Error(`README.md: HTTP ${r.status}`);
  return r.text();
}

const blocks = readmeBlocks(await readReadme());
const byKey = new Map(blocks.map((b) => [b.key, b]));

function register(b: Block): string {
  return `README.md line ${b.line}: the ${b.lang} block "${b.key}" is not in BLOCKS of test/readme.test.ts. Add an entry ` +
    `'${b.key}': { marks: '<text of the block>' }, with after: [keys of the blocks whose names it uses], given: () => ` +
    `({ names the README leaves to the reader }), or only: { runtimes, why } for a block that cannot run here.`;
}

function chain(key: string, seen: string[] = []): ChainPart[] {
  if (seen.includes(key)) throw new Error(`BLOCKS: a cycle of 'after' through ${[...seen, key].join(' → ')}`);
  const entry = BLOCKS[key];
  const block = byKey.get(key);
  if (!entry || !block) throw new Error(`BLOCKS: '${key}' is named in an 'after' but is no README block or no entry`);
  const before = (entry.after ?? []).flatMap((k) => chain(k, [...seen, key]));
  return [...before, { key, code: block.code, given: entry.given?.(), probes: seen.length === 0 ? entry.probes : undefined }];
}

function seededMath(seed: number): Math {
  const rng = new Rng(seed);
  return Object.create(Math, { random: { value: () => rng.next() } }) as Math;
}

describe('README.md examples', () => {
  it('every example is registered, and every entry names an example', () => {
    expect(blocks.length).toBeGreaterThan(0);
    const problems = blocks.filter((b) => !(b.key in BLOCKS)).map(register);
    for (const [key, entry] of Object.entries(BLOCKS)) {
      const b = byKey.get(key);
      if (!b) problems.push(`BLOCKS has '${key}', but README.md has no such example (moved or removed? keys are "<heading> #<n-th example under it>")`);
      else if (!b.code.includes(entry.marks)) problems.push(`'${key}' (README.md line ${b.line}) does not contain ${JSON.stringify(entry.marks)}: examples of its section moved?`);
    }
    expect(problems.join('\n')).toBe('');
  });

  for (const b of blocks) {
    const entry = BLOCKS[b.key];
    if (!entry) continue;
    if (entry.only && !entry.only.runtimes.includes(runtime)) {
      it(`${b.key} (line ${b.line}) is not run in ${runtime}: ${entry.only.why}`, () => {
        expect(entry.only!.why.length).toBeGreaterThan(0);
      });
      continue;
    }
    it(`${b.key} (line ${b.line}) runs and prints what it claims`, async () => {
      const parts = chain(b.key);
      const expected = entry.throws ? await entry.throws() : undefined;
      let run: ChainRun;
      try {
        run = await runChain(parts, { modules: MODULES, math: seededMath(1), exports: entry.exports });
      } catch (e) {
        if (expected === undefined) throw e;
        expect(e).toBeInstanceOf(webattn.AttentionError);
        expect((e as AttentionError).code).toBe(expected);
        return;
      }
      if (expected !== undefined) throw new Error(`${b.key}: expected it to throw ${expected} in ${runtime}, it ran through`);
      expect(claimMismatches(run)).toBe('');
      entry.check?.(run);
    });
  }
});
