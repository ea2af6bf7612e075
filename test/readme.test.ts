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
import { describe, expect, it } from 'vitest';
import * as webattn from '../ts/index.js';
import { attention } from '../ts/index.js';
import type { AttentionError, AttentionResult, KVPagePool } from '../ts/index.js';
import { chainModule, claimMismatches, moduleLogs, readmeBlocks, runChain } from './readme-blocks.js';
import { chainTypeErrors } from './readme-typecheck.js';
import type { Block, ChainPart, ChainRun, Probe } from './readme-blocks.js';
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

/** After each block (the Deno shim of vitest has no afterEach). */
async function disposeAll(): Promise<void> {
  for (const x of live.splice(0).reverse()) {
    try {
      await x.dispose();
    } catch {
      // Already disposed by the block (some dispose() refuse a second call); nothing else to give back.
    }
  }
}

// ------------------------------------------------------------------------------------------------ the table

interface Entry {
  /** Text the block contains: an example moved within its section must not silently take another's entry. */
  marks: string;
  /** Keys of the blocks whose names this block uses: they run first, each in a scope around the next. */
  after?: string[];
  /**
   * Code declaring the names the README leaves to the reader (it may import from 'webattn' and use
   * `__tensor(seed, shape)` for seeded values in [−1, 1)).
   */
  given?: string;
  /** The runtimes the block is written for (default: all), and why not the others. */
  only?: { runtimes: TestRuntime[]; why: string };
  /** Expressions recorded after the line containing `at` each time it runs (for claims inside loops or mid-block). */
  probes?: Probe[];
  /** Names of the block handed to `check`. */
  exports?: string[];
  /** What the block states besides its console.log comments. */
  check?: (r: ChainRun) => void;
  /** Type errors the block has on purpose or for a known reason (a piece of the message, and why). */
  typeErrors?: { match: string; why: string }[];
  /** The AttentionError code the block says it throws in this runtime, if any (then nothing else is checked). */
  throws?: () => Promise<string | undefined>;
}

interface Tensor { data: Float32Array; shape: number[] }

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((w, i) => w === y[i]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Number.isNaN(a[i]! - b[i]!) ? Infinity : Math.abs(a[i]! - b[i]!));
  return m;
}

/** Seeded q, k, v of the Node section's shapes, [1, 8, 512, 64]. */
const SEEDED_QKV = 'const [q, k, v] = [1, 2, 3].map((s) => __tensor(s, [1, 8, 512, 64]));';

/** Whether this runtime offers a WebGPU adapter of its own (navigator.gpu). */
async function hasAdapter(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  return gpu ? (await gpu.requestAdapter()) !== null : false;
}

/** The "Seeing attention" fragment's inputs: 4 heads over 12 tokens, and 3 seeded layers of weights. */
const SEEING_GIVEN = `
import { attention } from 'webattn';
const H = 4;
const tokens = 'the cat sat on the mat because it was warm and the'.split(' ');
const n = tokens.length;
const [q, k, v] = [11, 12, 13].map((seed) => __tensor(seed, [1, H, n, 16]));
const [w1, w2, w3] = [21, 22, 23].map((seed) => {
  const x = __tensor(seed, [1, H, n, 16]);
  return attention(x, x, x, { causal: true, returnWeights: true }).weights;
});
const options = { causal: true, window: { left: 4 } };
const project = (output) => output;
`;

const BLOCKS: Record<string, Entry> = {
  'Node #1': {
    marks: 'INVALID_TYPE v',
    // Without `convert: true` the types say Float32Array, as the runtime does; with it (`converted`) they admit it.
    typeErrors: [{ match: "Type 'Float64Array<ArrayBuffer>' is not assignable", why: 'it passes a Float64Array without convert on purpose, to show the error' }],
    exports: ['output', 'shape', 'lse', 'B', 'H', 'N', 'D', 'converted'],
    check: ({ values: { output, shape, lse, B, H, N, D, converted } }) => {
      expect(sameBits((converted as AttentionResult).output, output as Float32Array)).toBe(true);
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
    given: SEEDED_QKV, // on constant fills every variant gives v's constant
    exports: ['lin', 'perf', 'linf', 'lsh', 'q', 'k', 'v'],
    check: ({ values }) => {
      // Each variant as its float64 definition gives it, for the options the example passes: checked on head 0
      // (heads are independent, and the projections depend on the seed and sizes, not on the head count), since the
      // float64 reference of all 8 heads takes seconds.
      const head0 = (t: Tensor): Tensor => {
        const [, , n, d] = t.shape as [number, number, number, number];
        return { data: t.data.subarray(0, n * d), shape: [1, 1, n, d] };
      };
      const [q, k, v] = ([values.q, values.k, values.v] as Tensor[]).map(head0);
      const calls: [string, Tensor, webattn.AttentionOptions][] = [
        ['lin', k!, { variant: { kind: 'linear' }, causal: true }],
        ['perf', k!, { variant: { kind: 'performer', features: 256, seed: 7 } }],
        ['linf', k!, { variant: { kind: 'linformer', projectedLength: 128 } }],
        ['lsh', q!, { variant: { kind: 'lsh', buckets: 64, rounds: 2 }, causal: true }],
      ];
      for (const [name, key, options] of calls) {
        const want = webattn.referenceVariantAttention(q!, key, v!, options);
        const got = (values[name] as AttentionResult).output.subarray(0, want.output.length);
        expect(maxAbsDiff(got, want.output), name).toBeLessThanOrEqual(1e-5);
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
    given: `const [promptK, promptV] = [31, 32].map((s) => __tensor(s, [1, 8, 4000, 128]));
      const [k1, v1] = [33, 34].map((s) => __tensor(s, [1, 8, 1, 128]));
      const q1 = __tensor(35, [1, 32, 1, 128]);`,
    probes: [{ at: 'await cache.append(promptK, promptV);', expr: '[cache.length, promptK.data.length]' }],
    exports: ['cache'],
    check: ({ values, probes }) => {
      // The prompt is in the cache once append resolves; what is "moved" to the workers is their share, not the
      // caller's arrays (still whole).
      expect(probes).toEqual([[[4000, 4000 * 8 * 128]]]);
      const cache = values.cache as { length: number; position: number };
      expect([cache.length, cache.position]).toEqual([0, 0]); // reset() empties it, positions restart at 0
    },
  },
  'Paged caches #1': {
    marks: 'new KVPagePool',
    given: `const [promptK, promptV] = [41, 42].map((s) => __tensor(s, [1, 8, 40, 128]));
      const [k1, v1, q] = [43, 44, 45].map((s) => __tensor(s, [1, 8, 1, 128]));`,
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
    // The Node section's q, k, v are constant fills, for which any two kernels agree bit for bit: the same shapes,
    // seeded, make "bitwise equal" a claim that can fail.
    given: SEEDED_QKV,
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
    given: `const problems = [0, 1, 2].map((i) =>
      ({ q: __tensor(50 + i, [1, 2, 40, 16]), k: __tensor(60 + i, [1, 2, 50, 16]), v: __tensor(70 + i, [1, 2, 50, 16]) }));`,
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
    given: 'const [n, d, h] = [64, 16, 2];',
    exports: ['attn', 'shared'],
    check: ({ values }) => {
      expect(values.attn).toBeInstanceOf(webattn.AttentionPool);
      expect((values.shared as Float32Array).length).toBe(64 * 16 * 2);
    },
  },
  'WebGPU #1': {
    marks: "backend: 'webgpu'",
    after: ['Node #1'],
    given: `${SEEDED_QKV}\nconst steps = [81, 82].map((s) => ({ q: __tensor(s, [1, 8, 1, 64]) }));`,
    // "throws AttentionError (NOT_INITIALIZED) without an adapter": Node has no WebGPU of its own.
    throws: async () => (runtime === 'browser' || (runtime === 'deno' && (await hasAdapter())) ? undefined : 'NOT_INITIALIZED'),
    exports: ['r', 'gpu', 'q', 'k', 'v'],
    check: ({ values }) => {
      // "same result type as attention()", and the same attention: within 1e-5 of the float64 reference
      const [q, k, v] = [values.q, values.k, values.v] as Tensor[];
      const r = values.r as AttentionResult;
      const want = webattn.referenceAttention(q!, k!, v!, { causal: true, returnLse: true });
      expect(r.shape).toEqual(want.shape);
      expect(maxAbsDiff(r.output, want.output)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(r.lse!, want.lse!)).toBeLessThanOrEqual(1e-5);
      expect(values.gpu).toBeInstanceOf(webattn.WebGpuAttention);
    },
  },
  'Seeing attention #1': {
    marks: 'attentionRollout([w1, w2, w3]',
    after: ['Node #1'], // init()
    given: SEEING_GIVEN,
    // What the comments say each call gives, read by calling it again after its line: [got…, expected…].
    probes: [
      { at: 'returnWeights: true }); // [1, H, n, n]', expr: '[weights.length, H * n * n]' },
      { at: 'maskPattern({ rows: n, cols: n }, options);', expr: '[maskPattern({ rows: n, cols: n }, options) instanceof Uint8Array, maskPattern({ rows: n, cols: n }, options).length, true, n * n]' },
      { at: 'headEntropy(weights, shape);', expr: '[headEntropy(weights, shape).length, H]' },
      { at: 'attentionDistance(weights, shape);', expr: '[attentionDistance(weights, shape).length, H]' },
      { at: 'topK(weights, shape, 0, 3);', expr: '[topK(weights, shape, 0, 3).length, Math.max(...topK(weights, shape, 0, 3).map((r) => r.length)), n, 3]' },
      { at: 'headImportance(H,', expr: '[headImportance(H, () => new Float32Array(3).fill(1)).length, H]' },
    ],
    check: ({ probes }) => {
      for (const [i, [got]] of probes.entries()) {
        const values = got as unknown[];
        const half = values.length / 2;
        expect(values.slice(0, half), `probe ${i}`).toEqual(values.slice(half));
      }
    },
  },
};

// ------------------------------------------------------------------------------------------------ the tests

/** A file of the repository: read from disk in Node, fetched elsewhere (Deno: a file: URL; Chromium: Vite serves it). */
async function readText(path: string): Promise<string> {
  const url = new URL(`../${path}`, import.meta.url);
  if (runtime === 'node') {
    const name = 'node:fs'; // a variable: the browser project's bundler must not resolve it
    const fs = (await import(/* @vite-ignore */ name)) as typeof import('node:fs');
    return fs.readFileSync(url, 'utf8');
  }
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.text();
}

const readme = await readText('README.md');
const blocks = readmeBlocks(readme);
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
  return [...before, { key, code: block.code, given: entry.given, probes: seen.length === 0 ? entry.probes : undefined }];
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

  it("every 'webattn/…' path the README names is exported by package.json", async () => {
    // e.g. init(new URL('webattn/dist/browser/webattn.wasm', import.meta.url)) for bundlers: Vite resolves that through
    // the package's exports and refuses a path they do not list.
    const exports = (JSON.parse(await readText('package.json')) as { exports: Record<string, unknown> }).exports;
    const paths = [...readme.matchAll(/['"`]webattn\/([^'"`\s]+)['"`]/g)].map((m) => `./${m[1]!}`);
    expect(paths.length).toBeGreaterThan(0);
    const exported = (p: string): boolean => p in exports || Object.keys(exports).some((k) => {
      const star = k.indexOf('*');
      return star >= 0 && p.startsWith(k.slice(0, star)) && p.endsWith(k.slice(star + 1));
    });
    expect(paths.filter((p) => !exported(p))).toEqual([]);
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
      try {
        await runBlock(b, entry);
      } finally {
        await disposeAll();
      }
    });
  }
});

async function runBlock(b: Block, entry: Entry): Promise<void> {
  const parts = chain(b.key);
  const expected = entry.throws ? await entry.throws() : undefined;
  let run: ChainRun;
  try {
    run = await runChain(parts, { modules: MODULES, exports: entry.exports });
  } catch (e) {
    if (expected === undefined) throw e;
    expect(e).toBeInstanceOf(webattn.AttentionError);
    expect((e as AttentionError).code).toBe(expected);
    return;
  }
  if (expected !== undefined) throw new Error(`${b.key}: expected it to throw ${expected} in ${runtime}, it ran through`);
  expect(claimMismatches(run)).toBe('');
  entry.check?.(run);
}

// ------------------------------------------------------------------------------------------------ fresh processes

/**
 * Node only: each block again as an ES module in a Node process of its own, as a user runs a pasted example — the
 * library starts uninitialised (a block that uses it without `await init()`, itself or in the blocks it follows,
 * fails here and not above, where an earlier block has initialised the shared instance), real `import` statements
 * are linked, and the process must exit by itself (a pool left open must not keep it alive). Checks the exit status
 * and the claims; the entries' other checks need the values and run above only.
 */
const FRESH_WHY = runtime === 'deno'
  ? 'the Deno runner does not permit starting a process'
  : runtime === 'browser' ? 'a page cannot start a process' : undefined;

interface Spawned { status: number | null; signal: string | null; stdout: string; stderr: string }

async function runNodeModule(source: string): Promise<Spawned> {
  const name = 'node:child_process'; // a variable: the browser project's bundler must not resolve it
  const cp = (await import(/* @vite-ignore */ name)) as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = cp.execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
      cwd: new URL('..', import.meta.url), encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 2 ** 20,
    }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number' && !error.killed) reject(error);
      else resolve({ status: child.exitCode, signal: child.signalCode, stdout, stderr });
    });
  });
}

describe('README.md examples, each in a fresh Node process', () => {
  if (FRESH_WHY !== undefined) {
    it(`is not run in ${runtime}: ${FRESH_WHY}`, () => { expect(FRESH_WHY.length).toBeGreaterThan(0); });
    return;
  }
  const index = new URL('../ts/index.ts', import.meta.url).href;
  const urls = Object.fromEntries(Object.keys(MODULES).map((spec) => [spec, index]));
  for (const b of blocks) {
    const entry = BLOCKS[b.key];
    if (!entry || (entry.only && !entry.only.runtimes.includes('node'))) continue;
    // Concurrent: each waits on a process of its own (vitest runs at most 5 at once).
    it.concurrent(`${b.key} (line ${b.line}) runs and exits on its own`, async () => {
      const expected = entry.throws ? await entry.throws() : undefined;
      const { source, claims } = chainModule(chain(b.key), urls);
      const r = await runNodeModule(source);
      expect(r.signal ?? '', `killed (did not exit within 60 s?)\n${r.stderr}`).toBe('');
      if (expected !== undefined) {
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(expected);
        return;
      }
      expect(r.status, r.stderr).toBe(0);
      expect(claimMismatches({ claims, logs: moduleLogs(r.stdout) })).toBe('');
    });
  }
});

// ------------------------------------------------------------------------------------------------ types

/**
 * Node only: every example, with the blocks it follows and its given names, as a JavaScript module checked by the
 * TypeScript compiler against the library's types (checkJs, not strict: README examples are JavaScript). Misspelled
 * or stale option names are caught here even where the library ignores unknown keys at run time. Errors in a block
 * count against that block only, not against the blocks that follow it.
 */
describe('README.md examples typecheck against the library types', () => {
  if (runtime !== 'node') {
    it(`is not run in ${runtime}: the TypeScript compiler runs in the Node project`, () => { expect(runtime).not.toBe('node'); });
    return;
  }
  it('has no type errors but the ones the entries list', async () => {
    const urls = Object.fromEntries(Object.keys(MODULES).map((spec) => [spec, '../../ts/index.js']));
    const chains = blocks.filter((b) => BLOCKS[b.key]).map((b) => ({ key: b.key, source: chainModule(chain(b.key), urls).source }));
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const e of await chainTypeErrors(chains, decodeURIComponent(new URL('..', import.meta.url).pathname))) {
      const expected = BLOCKS[e.key]?.typeErrors?.find((t) => e.message.includes(t.match));
      if (expected) seen.add(`${e.key}\u0000${expected.match}`);
      else problems.push(`${e.key}: ${e.message}\n    at: ${e.line}`);
    }
    for (const [key, entry] of Object.entries(BLOCKS)) {
      for (const t of entry.typeErrors ?? []) {
        if (!seen.has(`${key}\u0000${t.match}`)) problems.push(`${key}: the listed type error "${t.match}" is gone: remove it from typeErrors`);
      }
    }
    expect(problems.join('\n')).toBe('');
  }, 120_000);
});
