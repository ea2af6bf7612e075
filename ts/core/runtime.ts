/**
 * Which JavaScript runtime we are in. `IS_BROWSER_BUILD` is a plain constant so that the browser bundle (rollup
 * replaces it with `true`) can drop every Node-only branch, and with it every `node:` import.
 */
export const IS_BROWSER_BUILD = false;

export type Runtime = 'deno' | 'node' | 'browser';

/** Deno is checked first: Deno 2 also defines `process.versions.node`. */
export function detectRuntime(): Runtime {
  const g = globalThis as { Deno?: { version?: { deno?: unknown } }; process?: { versions?: { node?: unknown } } };
  if (typeof g.Deno?.version?.deno === 'string') return 'deno';
  if (!IS_BROWSER_BUILD && typeof g.process?.versions?.node === 'string') return 'node';
  return 'browser';
}
