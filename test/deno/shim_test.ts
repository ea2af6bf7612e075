/**
 * Checks of the vitest shim itself (Deno only; run.mjs runs it with the test files): every matcher passes on what
 * vitest passes, fails on what vitest fails, and `.not` inverts it. A shim that never throws would make the Deno run
 * of every suite meaningless, so the failing side is what matters most here.
 */
import { deepEqual, expect } from './vitest-shim.js';

declare const Deno: { test(name: string, fn: () => void): void };

function fails(f: () => void, what: string): void {
  try {
    f();
  } catch (e) {
    if (e instanceof Error && e.name === 'AssertionError') return;
    throw new Error(`${what}: threw a non-assertion error ${String(e)}`);
  }
  throw new Error(`${what}: passed but should have failed`);
}

class Custom extends Error {}

Deno.test('shim: toBe / toEqual', () => {
  expect(1).toBe(1);
  expect(NaN).toBe(NaN);
  fails(() => expect(0).toBe(-0), 'toBe 0 -0');
  fails(() => expect({}).toBe({}), 'toBe identity');
  expect({ a: [1, { b: 2 }], u: undefined }).toEqual({ a: [1, { b: 2 }] });
  expect(new Float32Array([1, NaN])).toEqual(new Float32Array([1, NaN]));
  fails(() => expect(new Float32Array([1])).toEqual(new Float64Array([1])), 'typed array types');
  fails(() => expect(new Float32Array([1, 2])).toEqual(new Float32Array([1, 3])), 'typed array values');
  fails(() => expect([1, 2]).toEqual([1, 2, 3]), 'array length');
  fails(() => expect({ a: 1 }).toEqual({ a: 1, b: 2 }), 'missing key');
  fails(() => expect([0]).toEqual([-0]), 'signed zero');
  expect(new Map([[1, { x: 1 }]])).toEqual(new Map([[1, { x: 1 }]]));
  expect(new Set([1, 2])).not.toEqual(new Set([1, 3]));
  expect(deepEqual([1, [2, [3]]], [1, [2, [3]]])).toBe(true);
});

Deno.test('shim: truthiness, order, NaN, instanceOf, toMatch', () => {
  expect(1).toBeTruthy();
  expect('').toBeFalsy();
  fails(() => expect(0).toBeTruthy(), 'truthy');
  fails(() => expect('x').toBeFalsy(), 'falsy');
  expect(1).toBeLessThan(2);
  fails(() => expect(2).toBeLessThan(2), 'lessThan');
  expect(2).toBeLessThanOrEqual(2);
  fails(() => expect(NaN).toBeLessThanOrEqual(2), 'NaN <= 2');
  expect(3).toBeGreaterThan(2);
  fails(() => expect(2).toBeGreaterThan(2), 'greaterThan');
  expect(2).toBeGreaterThanOrEqual(2);
  fails(() => expect(1).toBeGreaterThanOrEqual(2), 'greaterThanOrEqual');
  fails(() => expect('1').toBeLessThan(2), 'non-number');
  expect(NaN).toBeNaN();
  fails(() => expect(1).toBeNaN(), 'NaN');
  expect(new Custom('x')).toBeInstanceOf(Error);
  fails(() => expect(new Error('x')).toBeInstanceOf(Custom), 'instanceOf');
  expect('hello world').toMatch(/wor/);
  expect('hello world').toMatch('lo w');
  fails(() => expect('hello').toMatch(/^e/), 'toMatch regexp');
  fails(() => expect(5).toMatch('5'), 'toMatch non-string');
});

Deno.test('shim: toThrow', () => {
  const boom = () => { throw new Custom('bad q: expected 4-D'); };
  expect(boom).toThrow();
  expect(boom).toThrow('expected 4-D');
  expect(boom).toThrow(/^bad q/);
  expect(boom).toThrow(Custom);
  expect(boom).toThrow(Error);
  expect(boom).toThrow(new Error('bad q: expected 4-D'));
  expect(() => 1).not.toThrow();
  fails(() => expect(() => 1).toThrow(), 'no throw');
  fails(() => expect(boom).toThrow('nope'), 'message');
  fails(() => expect(boom).toThrow(/nope/), 'regexp');
  fails(() => expect(() => { throw new Error('x'); }).toThrow(Custom), 'class');
  fails(() => expect(boom).not.toThrow(), 'not.toThrow');
});

Deno.test('shim: toMatchObject and .not', () => {
  const err = Object.assign(new Error('m'), { code: 'INVALID_SHAPE', argument: 'q' });
  expect(err).toMatchObject({ code: 'INVALID_SHAPE', argument: 'q' });
  expect({ a: { b: [1, 2], c: 3 }, d: 4 }).toMatchObject({ a: { b: [1, 2] } });
  fails(() => expect({ a: { b: [1, 2] } }).toMatchObject({ a: { b: [1] } }), 'array length');
  fails(() => expect(err).toMatchObject({ code: 'INVALID_DIM' }), 'value');
  fails(() => expect({}).toMatchObject({ x: undefined }), 'missing key');
  expect(1).not.toBe(2);
  fails(() => expect(1).not.toBe(1), 'not.toBe');
  fails(() => expect([1]).not.toEqual([1]), 'not.toEqual');
  fails(() => expect(1, 'with a message').not.toBeTruthy(), 'message argument');
});
