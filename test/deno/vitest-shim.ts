/**
 * The part of vitest's API the test files use (describe / it / beforeAll / expect with a fixed matcher subset),
 * on top of Deno.test and t.step, so that the same files run under Deno. The import map of test/deno/run.mjs maps
 * 'vitest' here.
 *
 * Collection works as in vitest: a top-level describe() runs its body at once to record tests and hooks; the tests
 * themselves run later, as one Deno.test per top-level describe with one t.step per test or nested describe.
 */

type Fn = () => unknown;
type Teardown = () => unknown;
interface Test { kind: 'test'; name: string; fn: Fn }
interface Suite { kind: 'suite'; name: string; children: (Test | Suite)[]; beforeAll: Fn[] }

interface StepContext { step(def: { name: string; fn: (t: StepContext) => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean; sanitizeExit: boolean }): Promise<boolean> }
declare const Deno: {
  test(def: { name: string; fn: (t: StepContext) => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean; sanitizeExit: boolean }): void;
};

// Workers, wasm compilation and pools legitimately outlive a single test; vitest does not police that either.
const LENIENT = { sanitizeOps: false, sanitizeResources: false, sanitizeExit: false };

/** Hooks declared at the top level of a file (Deno runs each test file in its own module graph instance). */
const fileScope: Suite = { kind: 'suite', name: '', children: [], beforeAll: [] };
let current: Suite | undefined;
let fileSetup: Promise<Teardown[]> | undefined;

async function runHooks(hooks: Fn[]): Promise<Teardown[]> {
  const teardowns: Teardown[] = [];
  for (const h of hooks) {
    const r = await h();
    if (typeof r === 'function') teardowns.push(r as Teardown);
  }
  return teardowns;
}

/** File-level beforeAll hooks run once, before the first test of the file. */
const setUpFile = (): Promise<Teardown[]> => (fileSetup ??= runHooks(fileScope.beforeAll));

async function runSuite(t: StepContext, suite: Suite): Promise<void> {
  await setUpFile();
  const teardowns = await runHooks(suite.beforeAll);
  try {
    for (const child of suite.children) {
      await t.step({
        name: child.name,
        fn: child.kind === 'test' ? async () => { await setUpFile(); await child.fn(); } : (tt) => runSuite(tt, child),
        ...LENIENT,
      });
    }
  } finally {
    for (const td of teardowns.reverse()) await td();
  }
}

export function describe(name: string, body: () => void): void {
  const suite: Suite = { kind: 'suite', name, children: [], beforeAll: [] };
  const parent = current;
  current = suite;
  try {
    body();
  } finally {
    current = parent;
  }
  if (parent) parent.children.push(suite);
  else Deno.test({ name, fn: (t) => runSuite(t, suite), ...LENIENT });
}

/** `timeout` (vitest's third argument) is accepted and ignored. */
export function it(name: string, fn: Fn, _timeout?: number): void {
  if (current) {
    current.children.push({ kind: 'test', name, fn });
    return;
  }
  Deno.test({ name, fn: async () => { await setUpFile(); await fn(); }, ...LENIENT });
}
export const test = it;

export function beforeAll(fn: Fn, _timeout?: number): void {
  (current ?? fileScope).beforeAll.push(fn);
}

// ---------------------------------------------------------------------------------------------------- expect

const tag = (x: unknown): string => Object.prototype.toString.call(x);

/** vitest's toEqual: recursive, Object.is on numbers, typed arrays by type and element, undefined properties ignored. */
export function deepEqual(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (tag(a) !== tag(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof RegExp) return String(a) === String(b);
  if (a instanceof Error) return a.name === (b as Error).name && a.message === (b as Error).message;
  if (a instanceof DataView) {
    const bv = b as DataView;
    if (a.byteLength !== bv.byteLength) return false;
    for (let i = 0; i < a.byteLength; i++) if (a.getUint8(i) !== bv.getUint8(i)) return false;
    return true;
  }
  if (ArrayBuffer.isView(a) || Array.isArray(a)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i], seen)) return false;
    return true;
  }
  if (a instanceof ArrayBuffer) return deepEqual(new Uint8Array(a), new Uint8Array(b as ArrayBuffer), seen);
  if (a instanceof Map) {
    const bm = b as Map<unknown, unknown>;
    if (a.size !== bm.size) return false;
    for (const [k, v] of a) if (!bm.has(k) || !deepEqual(v, bm.get(k), seen)) return false;
    return true;
  }
  if (a instanceof Set) {
    const bs = [...(b as Set<unknown>)];
    if (a.size !== bs.length) return false;
    for (const v of a) if (!bs.some((w) => deepEqual(v, w, seen))) return false;
    return true;
  }
  const keys = (o: object) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], seen));
}

/** vitest's toMatchObject: every property of `pattern` is in `actual` and matches (recursively); arrays match
 * element by element with the same length. */
function matchesObject(actual: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    return Array.isArray(actual) && actual.length === pattern.length && pattern.every((p, i) => matchesObject(actual[i], p));
  }
  if (typeof pattern !== 'object' || pattern === null || ArrayBuffer.isView(pattern) || pattern instanceof Date || pattern instanceof RegExp) {
    return deepEqual(actual, pattern);
  }
  if (typeof actual !== 'object' || actual === null) return false;
  return Object.keys(pattern).every((k) => k in actual && matchesObject((actual as Record<string, unknown>)[k], (pattern as Record<string, unknown>)[k]));
}

function show(x: unknown, depth = 0): string {
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'number') return Object.is(x, -0) ? '-0' : String(x);
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'function') return x.name ? `[Function ${x.name}]` : '[Function]';
  if (typeof x !== 'object' || x === null) return String(x);
  if (x instanceof Error) return `${x.name}: ${x.message}`;
  if (x instanceof RegExp) return String(x);
  if (depth > 2) return tag(x);
  if (ArrayBuffer.isView(x) || Array.isArray(x)) {
    const arr = x as unknown as ArrayLike<unknown>;
    const items = Array.from({ length: Math.min(arr.length, 8) }, (_, i) => show(arr[i], depth + 1));
    const name = Array.isArray(x) ? '' : `${x.constructor.name}(${arr.length}) `;
    return `${name}[${items.join(', ')}${arr.length > 8 ? ', …' : ''}]`;
  }
  const entries = Object.entries(x).slice(0, 8).map(([k, v]) => `${k}: ${show(v, depth + 1)}`);
  return `{ ${entries.join(', ')}${Object.keys(x).length > 8 ? ', …' : ''} }`;
}

class AssertionError extends Error {
  override name = 'AssertionError';
}

type ThrowExpectation = string | RegExp | Error | (abstract new (...args: never[]) => unknown);

export interface Matchers {
  not: Matchers;
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeLessThan(n: number | bigint): void;
  toBeLessThanOrEqual(n: number | bigint): void;
  toBeGreaterThan(n: number | bigint): void;
  toBeGreaterThanOrEqual(n: number | bigint): void;
  toBeNaN(): void;
  toBeUndefined(): void;
  toBeInstanceOf(cls: abstract new (...args: never[]) => unknown): void;
  toMatch(pattern: string | RegExp): void;
  toThrow(expected?: ThrowExpectation): void;
  toMatchObject(pattern: object): void;
}

function matchers(actual: unknown, negate: boolean, message?: string): Matchers {
  const check = (pass: boolean, what: string): void => {
    if (pass === negate) {
      const m = `expected ${show(actual)} ${negate ? 'not ' : ''}${what}`;
      throw new AssertionError(message ? `${message}: ${m}` : m);
    }
  };
  const num = (): number | bigint => {
    if (typeof actual !== 'number' && typeof actual !== 'bigint') throw new AssertionError(`expected a number, got ${show(actual)}`);
    return actual;
  };
  return {
    get not() { return matchers(actual, !negate, message); },
    toBe: (e) => check(Object.is(actual, e), `to be ${show(e)}`),
    toEqual: (e) => check(deepEqual(actual, e), `to equal ${show(e)}`),
    toBeTruthy: () => check(!!actual, 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeLessThan: (n) => check(num() < n, `to be less than ${show(n)}`),
    toBeLessThanOrEqual: (n) => check(num() <= n, `to be less than or equal to ${show(n)}`),
    toBeGreaterThan: (n) => check(num() > n, `to be greater than ${show(n)}`),
    toBeGreaterThanOrEqual: (n) => check(num() >= n, `to be greater than or equal to ${show(n)}`),
    toBeNaN: () => check(Number.isNaN(actual), 'to be NaN'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeInstanceOf: (cls) => check(actual instanceof cls, `to be an instance of ${cls.name}`),
    toMatch: (p) => {
      if (typeof actual !== 'string') throw new AssertionError(`toMatch expects a string, got ${show(actual)}`);
      check(typeof p === 'string' ? actual.includes(p) : p.test(actual), `to match ${show(p)}`);
    },
    toThrow: (e) => {
      if (typeof actual !== 'function') throw new AssertionError(`toThrow expects a function, got ${show(actual)}`);
      let threw = false;
      let err: unknown;
      try {
        (actual as () => unknown)();
      } catch (x) {
        threw = true;
        err = x;
      }
      const msg = err instanceof Error ? err.message : String(err);
      let pass = threw;
      let what = 'to throw';
      if (threw && e !== undefined) {
        if (typeof e === 'string') { pass = msg.includes(e); what = `to throw an error containing ${show(e)}`; }
        else if (e instanceof RegExp) { pass = e.test(msg); what = `to throw an error matching ${show(e)}`; }
        else if (e instanceof Error) { pass = msg === e.message; what = `to throw ${show(e)}`; }
        else { pass = err instanceof e; what = `to throw an instance of ${e.name}`; }
      }
      if (pass === negate) {
        const got = threw ? `it threw ${show(err)}` : 'it did not throw';
        const m = `expected function ${negate ? 'not ' : ''}${what}, but ${got}`;
        throw new AssertionError(message ? `${message}: ${m}` : m);
      }
    },
    toMatchObject: (p) => check(matchesObject(actual, p), `to match object ${show(p)}`),
  };
}

export function expect(actual: unknown, message?: string): Matchers {
  return matchers(actual, false, message);
}
