/**
 * Opening a WebGPU backend for the tests in whichever runtime runs them: navigator.gpu in Chromium (launched with
 * --enable-unsafe-webgpu, SwiftShader) and Deno (wgpu on lavapipe / llvmpipe); in Node, the `webgpu` package (Dawn)
 * when it is installed, on its OpenGL ES backend (Debian 12's lavapipe is too old for Dawn's Vulkan backend).
 *
 * When no adapter can be had the suites say why and skip — except where WebGPU is required: in CI (CI=1 or
 * WEBATTN_REQUIRE_WEBGPU=1, as .ci/run sets) and always in the browser project, whose launch arguments enable
 * WebGPU; there the missing adapter is a failing test.
 */
import { describe, it } from 'vitest';
import { createWebGpuAttention } from '../../ts/index.js';
import type { GpuLike, WebGpuAttention, WebGpuAttentionOptions } from '../../ts/index.js';

export type TestRuntime = 'node' | 'deno' | 'browser';

export function testRuntime(): TestRuntime {
  if ('Deno' in globalThis) return 'deno';
  if (typeof window !== 'undefined' && typeof document !== 'undefined') return 'browser';
  return 'node';
}

function env(name: string): string | undefined {
  const g = globalThis as { Deno?: { env: { get(n: string): string | undefined } }; process?: { env: Record<string, string | undefined> } };
  try {
    return g.Deno ? g.Deno.env.get(name) : g.process?.env[name];
  } catch {
    return undefined;
  }
}

/** Whether a missing adapter must fail the run here. */
export function webGpuRequired(): boolean {
  if (testRuntime() === 'browser') return true;
  const on = (x: string | undefined): boolean => x !== undefined && x !== '' && x !== '0' && x !== 'false';
  return on(env('CI')) || on(env('WEBATTN_REQUIRE_WEBGPU'));
}

/** Node: the `webgpu` package's GPU object on Dawn's OpenGL ES backend (undefined + why when not installed). */
async function nodeGpu(): Promise<{ gpu?: GpuLike; why?: string }> {
  const name = 'webgpu'; // a variable, so that bundlers and tsc do not require the optional package
  let mod: { create: (args: string[]) => GpuLike; globals: Record<string, unknown> };
  try {
    mod = (await import(/* @vite-ignore */ name)) as typeof mod;
  } catch (e) {
    return { why: `Node has no WebGPU and the \`webgpu\` npm package could not be loaded (${e instanceof Error ? e.message : String(e)})` };
  }
  const g = globalThis as { process?: { env: Record<string, string | undefined> } };
  if (g.process && !g.process.env.EGL_PLATFORM) g.process.env.EGL_PLATFORM = 'surfaceless';
  Object.assign(globalThis, mod.globals);
  const backend = env('WEBATTN_DAWN_BACKEND') ?? 'opengles';
  return { gpu: mod.create([`backend=${backend}`]) };
}

export interface OpenedGpu {
  attn?: WebGpuAttention;
  /** Why there is no backend. */
  why?: string;
  runtime: TestRuntime;
  /** The options that opened `attn` (to open more backends on the same kind of adapter). */
  options: WebGpuAttentionOptions;
}

let opened: Promise<OpenedGpu> | undefined;

/** Opens (once per test file) a backend on the runtime's adapter. */
export function openTestGpu(): Promise<OpenedGpu> {
  return (opened ??= (async () => {
    const runtime = testRuntime();
    const options: WebGpuAttentionOptions = {};
    if (runtime === 'node') {
      const { gpu, why } = await nodeGpu();
      if (!gpu) return { why, runtime, options };
      options.gpu = gpu;
      if ((env('WEBATTN_DAWN_BACKEND') ?? 'opengles') === 'opengles') options.featureLevel = 'compatibility';
    }
    try {
      return { attn: await createWebGpuAttention(options), runtime, options };
    } catch (e) {
      return { why: e instanceof Error ? e.message : String(e), runtime, options };
    }
  })());
}

/**
 * The suite `label` of `file` when `gpu` has no backend: one failing test where WebGPU is required, else one skipped
 * test (and a warning) that says why.
 */
export function describeWithoutAdapter(label: string, gpu: OpenedGpu, file: string): void {
  describe(label, () => {
    if (webGpuRequired()) {
      it('has a WebGPU adapter (required here: CI=1 / WEBATTN_REQUIRE_WEBGPU=1, or the browser project)', () => {
        throw new Error(`no WebGPU adapter in ${gpu.runtime}: ${gpu.why}`);
      });
      return;
    }
    const skip = (it as { skip?: (name: string, fn: () => void) => void }).skip;
    const name = `SKIPPED: no WebGPU adapter in ${gpu.runtime}: ${gpu.why}`;
    console.warn(`${file} ${name}`);
    if (skip) skip(name, () => undefined);
    else it(name, () => undefined);
  });
}
