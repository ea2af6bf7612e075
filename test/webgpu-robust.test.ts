/**
 * The WebGPU backend used as a demanding caller would: dispose(), device loss, an AbortSignal and GpuTensor.destroy()
 * while calls are in flight; errors that must name the caller's argument (never a descriptor-internal name or a raw
 * WebGPU error); grids over the device's per-dimension limit; many calls in flight at once; NaN inputs (NaN exactly
 * where the reference has it); cosine similarity of rows from ~1e-23 to ~1e37 (where f32's Σx² and q·k leave its
 * range); and seeded shapes the main suite (test/webgpu.test.ts) does not make — odd head sizes, Dv ≫ Dk, Nq ≫ Nk,
 * long decode ranges with GQA, windows and lengths, broadcast masks, biases near −1e38 — against the float64
 * reference (budget 1e-5, DESIGN.md); and non-causal ALiBi over thousands of keys (ALiBi terms of ~2000, at 1e-6).
 * Runs in Node (Dawn on OpenGL ES), Deno (wgpu on lavapipe) and Chromium (SwiftShader); skips like the main suite.
 */
import { describe, expect, it } from 'vitest';
import { AttentionError, WebGpuAttention, createAttention, createWebGpuAttention, referenceAttention } from '../ts/index.js';
import type { AttentionOptions, GpuDeviceLike } from '../ts/index.js';
import type { AttentionDescriptor } from '../ts/descriptor.js';
import { errorsVsReference } from './webgpu/compare.js';
import { openTestGpu, webGpuRequired } from './webgpu/gpu.js';
import { Rng } from './rng.js';
import { planFor } from '../ts/webgpu/plan.js';
import { buildDescriptor } from '../ts/spec.js';

const TOL = 1e-5;
const gpu = await openTestGpu();

interface Tensor { data: Float32Array; shape: number[] }

function tensor(rng: Rng, shape: number[]): Tensor {
  return { data: rng.fill(new Float32Array(shape.reduce((a, b) => a * b, 1))), shape };
}

async function settle(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e;
  }
}

/** `real` seen through other limits, or with some methods replaced. */
function proxied(real: GpuDeviceLike, over: Record<string, unknown>): GpuDeviceLike {
  return new Proxy(real, {
    get: (t, p) => {
      if (typeof p === 'string' && p in over) return over[p];
      const x: unknown = Reflect.get(t, p);
      return typeof x === 'function' ? (x as (...a: unknown[]) => unknown).bind(t) : x;
    },
  });
}

function smallLimits(real: GpuDeviceLike, bytes: number): Record<string, number> {
  const l = real.limits;
  return {
    maxBufferSize: bytes, maxStorageBufferBindingSize: bytes, maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
  };
}

function checkVsReference(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions, got: Awaited<ReturnType<WebGpuAttention['run']>>): number {
  const ref = referenceAttention(q, k, v, o);
  expect(got.shape).toEqual(ref.shape);
  const e = errorsVsReference(got, ref, { lse: o.returnLse, weights: o.returnWeights }, TOL);
  expect(e.first).toBe('');
  return Math.max(e.output, e.lse, e.weights);
}

/** Starts `n` calls, waits (microtasks only) until the first is running on the device, then disposes `attn`. */
async function disposeWhileRunning(attn: WebGpuAttention, rng: Rng, n: number): Promise<unknown[]> {
  const before = attn.stats.calls;
  const calls = Array.from({ length: n }, () => attn.run(tensor(rng, [1, 2, 40, 32]), tensor(rng, [1, 2, 90, 32]), tensor(rng, [1, 2, 90, 32])));
  const outcomes = calls.map(settle);
  for (let i = 0; i < 10_000 && attn.stats.calls === before; i++) await Promise.resolve();
  expect(attn.stats.calls).toBe(before + 1); // the first call is past its start, waiting on the GPU
  attn.dispose();
  return Promise.all(outcomes);
}

function expectDisposed(e: unknown): void {
  expect(e).toBeInstanceOf(AttentionError);
  expect((e as AttentionError).code).toBe('NOT_INITIALIZED');
  expect((e as AttentionError).argument).toBe('webgpu');
  expect((e as AttentionError).message).toMatch(/disposed/);
}

if (!gpu.attn) {
  describe('webgpu robustness', () => {
    it(webGpuRequired() ? 'has a WebGPU adapter' : `SKIPPED: no WebGPU adapter in ${gpu.runtime}: ${gpu.why}`, () => {
      if (webGpuRequired()) throw new Error(`no WebGPU adapter in ${gpu.runtime}: ${gpu.why}`);
    });
  });
} else {
  const attn = gpu.attn;

  describe(`webgpu robustness (${gpu.runtime}, ${attn.adapter}): dispose, errors, concurrency`, () => {
    it('dispose() during a call on a device the caller owns: every pending call says "disposed", the device lives on', async () => {
      const rng = new Rng(101);
      const mine = await createWebGpuAttention({ device: attn.device });
      // Warm: the first call then waits on the GPU (its buffers), not on a shader compilation.
      await mine.run(tensor(rng, [1, 2, 40, 32]), tensor(rng, [1, 2, 90, 32]), tensor(rng, [1, 2, 90, 32]));
      const outcomes = await disposeWhileRunning(mine, rng, 6);
      for (const e of outcomes) expectDisposed(e); // not "[Buffer] used in submit while destroyed"
      expectDisposed(await settle(mine.run(tensor(rng, [1, 1, 4, 8]), tensor(rng, [1, 1, 4, 8]), tensor(rng, [1, 1, 4, 8]))));
      expect(() => mine.upload(tensor(rng, [1, 1, 4, 8]), 'k')).toThrow(/disposed/);
      const q = tensor(rng, [1, 2, 17, 16]), k = tensor(rng, [1, 2, 23, 16]), v = tensor(rng, [1, 2, 23, 16]);
      checkVsReference(q, k, v, {}, await attn.run(q, k, v));
    });

    it("dispose() during a call with fallback: 'wasm' rejects the pending calls instead of computing them on wasm", async () => {
      const rng = new Rng(102);
      const own = await createWebGpuAttention({ ...gpu.options, fallback: 'wasm' });
      await own.run(tensor(rng, [1, 2, 40, 32]), tensor(rng, [1, 2, 90, 32]), tensor(rng, [1, 2, 90, 32]));
      const outcomes = await disposeWhileRunning(own, rng, 4);
      for (const e of outcomes) expectDisposed(e); // not a "device lost" error, not a silent wasm result
    });

    it('dispose() before the first shader compilation finishes: the call says "disposed"', async () => {
      const rng = new Rng(103);
      const own = await createWebGpuAttention({ device: attn.device });
      const outcomes = await disposeWhileRunning(own, rng, 2);
      for (const e of outcomes) expectDisposed(e);
      const q = tensor(rng, [1, 1, 9, 8]), k = tensor(rng, [1, 1, 9, 8]), v = tensor(rng, [1, 1, 9, 8]);
      checkVsReference(q, k, v, {}, await attn.run(q, k, v));
    });

    it("device lost while calls are in flight: each says 'device' lost, or with fallback: 'wasm' is computed on wasm", async () => {
      // In Deno, device.lost settles only after the calls in flight have failed with validation errors.
      for (const fallback of ['none', 'wasm'] as const) {
        const rng = new Rng(109);
        const own = await createWebGpuAttention({ ...gpu.options, fallback });
        await own.run(tensor(rng, [1, 2, 40, 32]), tensor(rng, [1, 2, 90, 32]), tensor(rng, [1, 2, 90, 32]));
        const problems = Array.from({ length: 5 }, () => [tensor(rng, [1, 2, 40, 32]), tensor(rng, [1, 2, 90, 32]), tensor(rng, [1, 2, 90, 32])] as const);
        const before = own.stats.calls;
        const outcomes = problems.map(([q, k, v]) => own.run(q, k, v).then((r): unknown => r.output, (e: unknown) => e));
        for (let i = 0; i < 10_000 && own.stats.calls === before; i++) await Promise.resolve();
        own.device.destroy();
        const got = await Promise.all(outcomes);
        for (const [i, g] of got.entries()) {
          if (fallback === 'none') {
            expect(g).toBeInstanceOf(AttentionError);
            expect((g as AttentionError).code).toBe('KERNEL_ERROR');
            expect((g as AttentionError).argument).toBe('device');
            expect((g as AttentionError).message).toMatch(/lost/);
          } else {
            const [q, k, v] = problems[i]!;
            expect(g).toBeInstanceOf(Float32Array);
            checkVsReference(q, k, v, {}, { output: g as Float32Array, shape: [1, 2, 40, 32] });
          }
        }
        if (fallback === 'wasm') expect(own.lastBackend).toBe('wasm');
        own.dispose();
      }
    });

    it('GpuTensor.destroy() right after run(): the calls made with it still read it, the buffer is freed after them', async () => {
      const rng = new Rng(108);
      const q = tensor(rng, [1, 2, 30, 16]), k = tensor(rng, [1, 2, 50, 16]), v = tensor(rng, [1, 2, 50, 16]);
      const kt = attn.upload(k, 'k'), vt = attn.upload(v, 'v');
      let freed = 0;
      const realDestroy = kt.buffer.destroy.bind(kt.buffer);
      Object.defineProperty(kt.buffer, 'destroy', { value: () => { freed += 1; realDestroy(); }, configurable: true });
      const ahead = attn.run(q, k, v); // the calls below wait behind it, not yet submitted
      const calls = [attn.run(q, kt, vt), attn.run(q, kt, v, { returnLse: true })];
      kt.destroy();
      vt.destroy();
      expect(freed).toBe(0);
      expect(kt.destroyed).toBe(true);
      const again = await settle(attn.run(q, kt, vt)); // new calls see it destroyed
      expect(again).toBeInstanceOf(AttentionError);
      expect((again as AttentionError).argument).toBe('k');
      const want = await ahead;
      for (const p of calls) {
        const got = await p; // not "[Buffer] used in submit while destroyed"
        checkVsReference(q, k, v, {}, { output: got.output, shape: got.shape });
        expect(got.output).toEqual(want.output);
      }
      expect(freed).toBe(1);
    });

    it('folds the workgroup grid onto three dimensions when one would exceed the device limit (long GQA prefill)', async () => {
      // The real device, seen through a limit of 4 workgroups per dimension: 40 flash workgroups need 4 × 4 × 3.
      const real = attn.device;
      const limits = { ...smallLimits(real, real.limits.maxBufferSize), maxStorageBufferBindingSize: real.limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupsPerDimension: 4 };
      const folded = await createWebGpuAttention({ device: proxied(real, { limits }) });
      const rng = new Rng(110);
      const problems: [Tensor, Tensor, Tensor, AttentionOptions][] = [
        [tensor(rng, [2, 8, 37, 16]), tensor(rng, [2, 2, 45, 16]), tensor(rng, [2, 2, 45, 24]), { causal: 'bottom-right', returnLse: true }],
        [tensor(rng, [2, 4, 3, 16]), tensor(rng, [2, 2, 700, 16]), tensor(rng, [2, 2, 700, 16]), { keyLengths: [700, 300], returnLse: true }],
        [tensor(rng, [5, 2, 20, 8]), tensor(rng, [5, 1, 20, 8]), tensor(rng, [5, 1, 20, 8]), { returnLse: true }],
      ];
      for (const [q, k, v, o] of problems) checkVsReference(q, k, v, o, await folded.run(q, k, v, o));
      // Beyond 4³ workgroups: a clear error naming q.
      const big = tensor(rng, [1, 8, 140, 8]);
      const e = await settle(folded.run(big, tensor(rng, [1, 1, 10, 8]), tensor(rng, [1, 1, 10, 8])));
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).code).toBe('INVALID_DIM');
      expect((e as AttentionError).argument).toBe('q');
      folded.dispose();
    });

    it('run(..., { signal }): aborted before, while queued, while running (out untouched); auto forwards it', async () => {
      const rng = new Rng(111);
      const problem = (): [Tensor, Tensor, Tensor] => [tensor(rng, [1, 2, 40, 32]), tensor(rng, [1, 2, 90, 32]), tensor(rng, [1, 2, 90, 32])];
      const isAbort = (e: unknown, reason?: unknown): boolean => (reason !== undefined ? e === reason : e instanceof Error && e.name === 'AbortError');
      const [q, k, v] = problem();
      const want = await attn.run(q, k, v);

      const pre = new AbortController();
      pre.abort();
      const calls0 = attn.stats.calls;
      expect(isAbort(await settle(attn.run(q, k, v, {}, { signal: pre.signal })))).toBe(true);

      // Queued behind two calls: rejects at once with the reason, and never runs.
      const queued = new AbortController();
      const reason = new Error('not needed any more');
      const a = attn.run(q, k, v), b = attn.run(q, k, v);
      const c = settle(attn.run(q, k, v, {}, { signal: queued.signal }));
      queued.abort(reason);
      expect(isAbort(await c, reason)).toBe(true);
      expect((await a).output).toEqual(want.output);
      expect((await b).output).toEqual(want.output);
      expect(attn.stats.calls).toBe(calls0 + 2);

      // Running on the GPU: rejects, and its result never lands in `out`.
      const running = new AbortController();
      const out = new Float32Array(want.output.length).fill(777);
      const before = attn.stats.calls;
      const r = settle(attn.run(q, k, v, { out }, { signal: running.signal }));
      for (let i = 0; i < 10_000 && attn.stats.calls === before; i++) await Promise.resolve();
      expect(attn.stats.calls).toBe(before + 1);
      running.abort();
      expect(isAbort(await r)).toBe(true);
      expect((await attn.run(q, k, v)).output).toEqual(want.output); // the queue moved on
      expect(out.every((x) => x === 777)).toBe(true);

      const auto = await createAttention({ ...gpu.options, backend: 'auto', threads: 1, allowSoftwareAdapter: true, minGpuFlops: 1e5 });
      const tiny = [tensor(rng, [1, 1, 2, 4]), tensor(rng, [1, 1, 2, 4]), tensor(rng, [1, 1, 2, 4])] as const;
      expect(auto.picksGpu(q, k, v)).toBe(true);
      expect(auto.picksGpu(...tiny)).toBe(false);
      expect(isAbort(await settle(auto.run(q, k, v, {}, { signal: pre.signal })))).toBe(true);
      expect(isAbort(await settle(auto.run(...tiny, {}, { signal: pre.signal })))).toBe(true);
      auto.dispose();
    });

    it('plans key splits under a loop budget (llvmpipe / lavapipe) and none without one', () => {
      // planFor reads only the sizes.
      const sizes = (nq: number, nk: number, d: number): AttentionDescriptor =>
        ({ b: 1, hq: 1, hkv: 1, nq, nk, dk: d, dv: d }) as unknown as AttentionDescriptor;
      expect(planFor(sizes(17, 12000, 64)).nSplits).toBe(1);
      const limited = planFor(sizes(17, 12000, 64), false, 65535);
      expect(limited.nSplits).toBeGreaterThan(1);
      expect(limited.config.split).toBe(true);
      expect(limited.splitLen * limited.nSplits).toBeGreaterThanOrEqual(12000);
      const decode = planFor(sizes(2, 400_000, 256), false, 65535); // unlimited: 64 ranges of 6272 keys
      expect(decode.splitLen).toBeLessThan(400_000 / 64);
      expect(decode.splitLen * decode.nSplits).toBeGreaterThanOrEqual(400_000);
    });

    it("a device the caller passes gets the driver's loop budget too (measured on the device, not read from the adapter's name)", async () => {
      // No adapter comes with a caller's device, so its name cannot tell llvmpipe; the budget is probed on the device.
      const mine = await createWebGpuAttention({ device: attn.device });
      expect(mine.loopBudget).toBe(attn.loopBudget);
      console.log(`webgpu robustness ${gpu.runtime}: ${attn.adapter}: loop budget ${attn.loopBudget ?? 'none seen'}`);
      if (/llvmpipe|lavapipe/i.test(attn.adapter)) expect(attn.loopBudget).toBe(65535);
      const rng = new Rng(114);
      const q = tensor(rng, [1, 1, 17, 64]), k = tensor(rng, [1, 1, 12000, 64]), v = tensor(rng, [1, 1, 12000, 64]);
      checkVsReference(q, k, v, { returnLse: true }, await mine.run(q, k, v, { returnLse: true }));
      mine.dispose();
    });

    it('a tight loop budget (hundreds of key ranges) still merges right: the merge loops over ranges, not columns', async () => {
      // The backend's own device with a loop budget of 600: one 32-key block per range, 313 ranges of Dv 256 for
      // Nk 10000 (the shape llvmpipe reaches with ~1M keys); a thread per row walking 313 × 256 partials passed 65535.
      const acquired = { device: attn.device, description: attn.adapter, software: attn.software, owned: false, f16: false, loopBudget: 600 };
      const tight = new WebGpuAttention(acquired);
      const rng = new Rng(113);
      const q = tensor(rng, [1, 2, 2, 16]), k = tensor(rng, [1, 1, 10000, 16]), v = tensor(rng, [1, 1, 10000, 256]);
      const o: AttentionOptions = { returnLse: true, causal: 'bottom-right' };
      expect(planFor(buildDescriptor(q, k, v, o), false, 600).nSplits).toBeGreaterThan(256);
      checkVsReference(q, k, v, o, await tight.run(q, k, v, o));
      tight.dispose();
    });

    it("names the caller's option 'sparsity' (not the descriptor's 'sparse') when refusing it", async () => {
      const rng = new Rng(104);
      const q = tensor(rng, [1, 2, 16, 8]);
      const e = await settle(attn.run(q, q, q, { sparsity: { window: 2 } }));
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).code).toBe('INVALID_OPTION');
      expect((e as AttentionError).argument).toBe('sparsity');
    });

    it('names mask and returnWeights when their buffers exceed the device limit (not internal buffer names)', async () => {
      const rng = new Rng(105);
      const small = await createWebGpuAttention({ device: proxied(attn.device, { limits: smallLimits(attn.device, 4096) }) });
      const q = tensor(rng, [1, 1, 64, 8]);
      const mask = { data: new Uint8Array(64 * 64).fill(1), shape: [64, 64] };
      const m = await settle(small.run(q, q, q, { mask }));
      expect(m).toBeInstanceOf(AttentionError);
      expect((m as AttentionError).code).toBe('OUT_OF_MEMORY');
      expect((m as AttentionError).argument).toBe('mask');
      const w = await settle(small.run(q, q, q, { returnWeights: true }));
      expect(w).toBeInstanceOf(AttentionError);
      expect((w as AttentionError).code).toBe('OUT_OF_MEMORY');
      expect((w as AttentionError).argument).toBe('returnWeights');
      small.dispose();
    });

    it('turns a failed shader compilation into an AttentionError (KERNEL_ERROR, webgpu)', async () => {
      const rng = new Rng(106);
      const failing = await createWebGpuAttention({
        device: proxied(attn.device, { createComputePipelineAsync: () => Promise.reject(new Error('synthetic compile failure')) }),
      });
      const q = tensor(rng, [1, 1, 8, 8]);
      const e = await settle(failing.run(q, q, q));
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).code).toBe('KERNEL_ERROR');
      expect((e as AttentionError).argument).toBe('webgpu');
      expect((e as AttentionError).message).toMatch(/synthetic compile failure/);
      failing.dispose();
    });

    it('runs 24 calls of different shapes in flight at once, each matching the reference', async () => {
      const rng = new Rng(107);
      const jobs = Array.from({ length: 24 }, (_, i) => {
        const d = [8, 16, 33, 64][i % 4]!;
        const q = tensor(rng, [1, 2, 1 + ((i * 7) % 40), d]);
        const k = tensor(rng, [1, 1, 1 + ((i * 13) % 300), d]);
        const v = tensor(rng, [1, 1, k.shape[2]!, i % 3 === 0 ? 24 : d]);
        const o: AttentionOptions = { causal: i % 2 ? 'bottom-right' : false, returnLse: true };
        return { q, k, v, o, p: attn.run(q, k, v, o) };
      });
      for (const j of jobs) checkVsReference(j.q, j.k, j.v, j.o, await j.p);
    });
  });

  describe(`webgpu robustness (${gpu.runtime}): NaN inputs reach exactly the rows they touch, as in the reference`, () => {
    /** The first element where `got` differs from `want`: NaN must meet NaN, ±∞ the same ∞, the rest within `tol`
     * (relative to max(1, |want|) for LSE). */
    function firstMismatch(what: string, got: Float32Array | undefined, want: Float64Array | Float32Array, tol: number, log = false): string {
      if (!got || got.length !== want.length) return `${what}: length ${got?.length} instead of ${want.length}`;
      for (let i = 0; i < want.length; i++) {
        const g = got[i]!, w = want[i]!;
        const ok = Number.isNaN(w) ? Number.isNaN(g) : !Number.isFinite(w) ? g === w
          : Number.isFinite(g) && Math.abs(g - w) <= tol * (log ? Math.max(1, Math.abs(w)) : 1);
        if (!ok) return `${what}[${i}]: got ${g}, want ${w}`;
      }
      return '';
    }
    interface NanCase { name: string; b: number; hq: number; hkv: number; nq: number; nk: number; d: number; o: AttentionOptions; poison: (q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions) => void }
    const cases: NanCase[] = [
      { name: 'NaN in one query row (flash), weights too', b: 1, hq: 2, hkv: 2, nq: 40, nk: 60, d: 16, o: { returnLse: true, returnWeights: true },
        poison: (q) => { q.data[(1 * 40 + 7) * 16 + 3] = NaN; } },
      { name: 'NaN in one key, causal: only the rows that reach it', b: 1, hq: 2, hkv: 1, nq: 60, nk: 60, d: 16, o: { causal: true, returnLse: true, returnWeights: true },
        poison: (_q, k) => { k.data[37 * 16 + 5] = NaN; } },
      { name: 'NaN in one query row under softcap (clamp / tanh must not swallow it)', b: 1, hq: 1, hkv: 1, nq: 20, nk: 33, d: 8, o: { softcap: 2, returnLse: true },
        poison: (q) => { q.data[4 * 8] = NaN; } },
      { name: 'NaN key masked out for even rows', b: 1, hq: 1, hkv: 1, nq: 18, nk: 30, d: 8, o: { returnLse: true },
        poison: (_q, k, _v, o) => {
          k.data[11 * 8 + 2] = NaN;
          const data = new Uint8Array(18 * 30).fill(1);
          for (let i = 0; i < 18; i += 2) data[i * 30 + 11] = 0;
          o.mask = { data, shape: [18, 30] };
        } },
      { name: 'decode: NaN key beyond one batch item\'s key length, GQA', b: 2, hq: 4, hkv: 2, nq: 3, nk: 700, d: 32, o: { keyLengths: [700, 600], returnLse: true },
        poison: (_q, k) => { for (const b of [0, 1]) k.data[((b * 2 + 1) * 700 + 650) * 32 + 1] = NaN; } },
      { name: 'decode: NaN in the bias of one (row, key)', b: 1, hq: 2, hkv: 1, nq: 2, nk: 500, d: 16, o: { returnLse: true, returnWeights: true },
        poison: (_q, _k, _v, o) => {
          const bias = new Float32Array(2 * 500);
          bias[1 * 500 + 123] = NaN;
          o.bias = { data: bias, shape: [1, 1, 2, 500] };
        } },
      { name: 'NaN in one value column: only that output column', b: 1, hq: 1, hkv: 1, nq: 10, nk: 20, d: 8, o: { returnLse: true },
        poison: (_q, _k, v) => { v.data[6 * 8 + 5] = NaN; } },
    ];
    for (const [n, c] of cases.entries()) {
      it(c.name, async () => {
        const rng = new Rng(3000 + n);
        const q = tensor(rng, [c.b, c.hq, c.nq, c.d]), k = tensor(rng, [c.b, c.hkv, c.nk, c.d]), v = tensor(rng, [c.b, c.hkv, c.nk, c.d]);
        const o: AttentionOptions = { ...c.o };
        c.poison(q, k, v, o);
        const ref = referenceAttention(q, k, v, o);
        const got = await attn.run(q, k, v, o);
        expect(ref.output.some(Number.isNaN)).toBe(true); // the case does poison some rows …
        expect(ref.output.some((x) => !Number.isNaN(x))).toBe(true); // … and not all of them
        expect(firstMismatch('output', got.output, ref.output, TOL)).toBe('');
        if (o.returnLse) expect(firstMismatch('lse', got.lse, ref.lse, TOL, true)).toBe('');
        if (o.returnWeights) expect(firstMismatch('weights', got.weights, ref.weights, TOL)).toBe('');
      });
    }
  });

  describe(`webgpu robustness (${gpu.runtime}): cosine similarity at any finite magnitude, vs the float64 reference`, () => {
    // The reference normalises x / max(|x|, 1e-12) in float64. In f32, Σx² overflows from |x| ≈ 1.8e19 (every cosine
    // of the row read 0, or NaN when the dot product overflowed too), and the products of two rows below ~1e-19
    // underflow (the cosines of two sub-1e-12 rows, which a tiny temperature makes visible, read 0).
    interface CosCase { name: string; b: number; hq: number; hkv: number; nq: number; nk: number; dk: number; dv: number; o: AttentionOptions; qf: number[]; kf: number[]; split?: number }
    const mixedQ = [1, 1e25, 1e-30, 1e-13, 3e37, 0.5]; // normal rows are the control
    const mixedK = [1, 1e30, 1e-30, 1e-13, 0, 2e-7, 1e20];
    const apartQ = [1, 1e-13, 1e5, 0.5], apartK = [1, 1e-13, 0, 1e-12, 1e7]; // times chunksApart's 1e30 / 1e-25: finite
    const cases: CosCase[] = [
      { name: 'flash: |q| ~1e25 / 3e37, |k| ~1e30, tiny and zero rows', b: 1, hq: 2, hkv: 1, nq: 40, nk: 70, dk: 16, dv: 16,
        o: { returnLse: true }, qf: mixedQ, kf: mixedK },
      { name: 'flash, Dk 80 (two column chunks; rows ~1 in one chunk, ~1e30 or ~1e-25 in the other)', b: 1, hq: 2, hkv: 2, nq: 20, nk: 50, dk: 80, dv: 24,
        o: { returnLse: true, causal: true }, qf: apartQ, kf: apartK, split: 64 },
      { name: 'weights (returnWeights)', b: 1, hq: 2, hkv: 1, nq: 18, nk: 35, dk: 16, dv: 8,
        o: { returnWeights: true, returnLse: true }, qf: mixedQ, kf: mixedK },
      { name: 'decode: Nq 3, Nk 700, GQA', b: 2, hq: 4, hkv: 1, nq: 3, nk: 700, dk: 16, dv: 16,
        o: { returnLse: true }, qf: mixedQ, kf: mixedK },
      { name: 'decode, Dk 48 (two column chunks, magnitudes differing between them), weights', b: 1, hq: 2, hkv: 1, nq: 6, nk: 500, dk: 48, dv: 16,
        o: { returnLse: true, returnWeights: true }, qf: apartQ, kf: apartK, split: 32 },
      { name: 'flash over Nk 2000, D 256, causal (where llvmpipe\'s loop budget is tightest)', b: 1, hq: 1, hkv: 1, nq: 17, nk: 2000, dk: 256, dv: 256,
        o: { causal: 'bottom-right', returnLse: true }, qf: apartQ, kf: apartK, split: 128 },
      { name: 'flash + weights: both rows ~1e-23, temperature 1e-21 (the f32 products underflow even to subnormals)', b: 1, hq: 1, hkv: 1, nq: 20, nk: 40, dk: 16, dv: 16,
        o: { temperature: 1e-21, returnLse: true, returnWeights: true }, qf: [1e-23, 2e-23], kf: [1e-23, 2e-23, 5e-23] },
      { name: 'decode: both rows ~1e-23, temperature 1e-21', b: 1, hq: 2, hkv: 1, nq: 2, nk: 600, dk: 32, dv: 16,
        o: { temperature: 1e-21, returnLse: true }, qf: [1e-23, 2e-23], kf: [1e-23, 2e-23, 5e-23] },
    ];
    /** Row r of a [B, H, N, D] tensor times f[r % f.length] (rounded to f32). */
    function rowsTimes(t: Tensor, f: number[]): void {
      const d = t.shape[3]!;
      for (let r = 0; r < t.data.length / d; r++) for (let c = 0; c < d; c++) t.data[r * d + c] *= f[r % f.length]!;
    }
    /** Rows r ≡ 1 (mod 3): columns from `at` on times 1e30; rows r ≡ 2: columns before `at` times 1e-25 (a row's
     * largest element then sits in one column chunk of the kernel, or grows from one chunk to the next). */
    function chunksApart(t: Tensor, at: number): void {
      const d = t.shape[3]!;
      for (let r = 0; r < t.data.length / d; r++) {
        for (let c = 0; c < d; c++) {
          if (r % 3 === 1 && c >= at) t.data[r * d + c] *= 1e30;
          if (r % 3 === 2 && c < at) t.data[r * d + c] *= 1e-25;
        }
      }
    }
    for (const [n, c] of cases.entries()) {
      it(c.name, async () => {
        const rng = new Rng(4000 + n);
        const q = tensor(rng, [c.b, c.hq, c.nq, c.dk]), k = tensor(rng, [c.b, c.hkv, c.nk, c.dk]), v = tensor(rng, [c.b, c.hkv, c.nk, c.dv]);
        rowsTimes(q, c.qf);
        rowsTimes(k, c.kf);
        if (c.split !== undefined) {
          chunksApart(q, c.split);
          chunksApart(k, c.split);
        }
        const o: AttentionOptions = { similarity: 'cosine', temperature: 0.1, ...c.o };
        const ref = referenceAttention(q, k, v, o);
        expect(ref.output.every(Number.isFinite)).toBe(true);
        checkVsReference(q, k, v, o, await attn.run(q, k, v, o));
      });
    }
  });

  describe(`webgpu robustness (${gpu.runtime}): shapes the main suite does not make, vs the float64 reference`, () => {
    interface Shape { name: string; b: number; hq: number; hkv: number; nq: number; nk: number; dk: number; dv: number; o?: AttentionOptions; bnhd?: boolean; mask?: number[]; bias?: number[]; hugeBias?: boolean }
    const shapes: Shape[] = [
      { name: 'Dk = Dv = 255, GQA, causal', b: 1, hq: 2, hkv: 1, nq: 40, nk: 40, dk: 255, dv: 255, o: { causal: true, returnLse: true } },
      { name: 'Dk 1, Dv 200', b: 1, hq: 2, hkv: 1, nq: 20, nk: 70, dk: 1, dv: 200 },
      { name: 'Dk 300, Dv 3', b: 1, hq: 2, hkv: 2, nq: 20, nk: 70, dk: 300, dv: 3, o: { returnLse: true } },
      { name: 'Dv 512', b: 1, hq: 1, hkv: 1, nq: 17, nk: 40, dk: 64, dv: 512 },
      { name: 'Nq 700 ≫ Nk 17, causal (rows past the last key see nothing)', b: 1, hq: 1, hkv: 1, nq: 700, nk: 17, dk: 32, dv: 32, o: { causal: true, returnLse: true } },
      { name: 'Nq 17, Nk 3000, bottom-right causal', b: 1, hq: 2, hkv: 1, nq: 17, nk: 3000, dk: 64, dv: 64, o: { causal: 'bottom-right' } },
      { name: 'decode GQA 8:1, Nk 5000', b: 1, hq: 16, hkv: 2, nq: 1, nk: 5000, dk: 128, dv: 128, o: { returnLse: true } },
      { name: 'decode Nq 16, Nk 4097, window 700 + causal', b: 2, hq: 8, hkv: 2, nq: 16, nk: 4097, dk: 64, dv: 64, o: { causal: 'bottom-right', window: { left: 700 }, returnLse: true } },
      { name: 'decode, query and key lengths incl. 0', b: 3, hq: 4, hkv: 2, nq: 5, nk: 1000, dk: 48, dv: 40, o: { queryLengths: [5, 2, 0], keyLengths: [1000, 257, 3], causal: 'bottom-right', returnLse: true } },
      { name: 'MQA 12:1, BNHD, causal', b: 2, hq: 12, hkv: 1, nq: 37, nk: 129, dk: 40, dv: 24, bnhd: true, o: { causal: true, returnLse: true } },
      { name: 'mask [B,1,1,Nk] broadcast', b: 2, hq: 3, hkv: 3, nq: 31, nk: 65, dk: 16, dv: 16, mask: [2, 1, 1, 65] },
      { name: 'decode, mask [Hq,Nq,Nk] + bias [B,1,Nq,Nk]', b: 2, hq: 4, hkv: 2, nq: 3, nk: 777, dk: 16, dv: 16, mask: [4, 3, 777], bias: [2, 1, 3, 777], o: { returnLse: true } },
      { name: 'window left 7 only', b: 1, hq: 2, hkv: 2, nq: 100, nk: 100, dk: 16, dv: 16, o: { window: { left: 7 } } },
      { name: 'window left 3, right 20, Nq ≠ Nk', b: 1, hq: 2, hkv: 2, nq: 100, nk: 150, dk: 16, dv: 16, o: { window: { left: 3, right: 20 } } },
      { name: 'decode weights, MQA', b: 1, hq: 4, hkv: 1, nq: 1, nk: 1500, dk: 16, dv: 16, o: { returnWeights: true, returnLse: true } },
      { name: 'weights over Nk 1448 × Dk 31 (llvmpipe stopped a thread per row after 65535 loop iterations)', b: 1, hq: 2, hkv: 1, nq: 24, nk: 1448, dk: 31, dv: 8, o: { returnWeights: true, returnLse: true, causal: 'bottom-right' } },
      { name: 'decode weights over Nk 2000 × Dk 64, mask + GQA', b: 1, hq: 4, hkv: 2, nq: 3, nk: 2000, dk: 64, dv: 16, mask: [4, 3, 2000], o: { returnWeights: true, returnLse: true } },
      { name: 'flash over Nk 12000, D 64 (llvmpipe stops a workgroup\'s loops after 65535 iterations: keys are split)', b: 1, hq: 1, hkv: 1, nq: 17, nk: 12000, dk: 64, dv: 64, o: { returnLse: true } },
      { name: 'flash over Nk 2000, D 256, causal (the same limit, reached sooner)', b: 1, hq: 1, hkv: 1, nq: 17, nk: 2000, dk: 256, dv: 256, o: { causal: 'bottom-right', returnLse: true } },
      { name: 'bias −1e38 / −2.2e38 on whole rows: finite logits, as on wasm (flash)', b: 1, hq: 2, hkv: 1, nq: 12, nk: 40, dk: 16, dv: 16, bias: [12, 40], hugeBias: true, o: { returnLse: true } },
      { name: 'bias −1e38 / −2.2e38 on whole rows: finite logits, as on wasm (decode)', b: 1, hq: 2, hkv: 1, nq: 3, nk: 400, dk: 16, dv: 16, bias: [3, 400], hugeBias: true, o: { returnLse: true } },
      { name: 'B 70 tiny problems', b: 70, hq: 1, hkv: 1, nq: 3, nk: 5, dk: 8, dv: 8, o: { returnLse: true } },
    ];
    let worst = 0;
    for (const [n, s] of shapes.entries()) {
      it(s.name, async () => {
        const rng = new Rng(2000 + n);
        const sh = (h: number, len: number, d: number): number[] => (s.bnhd ? [s.b, len, h, d] : [s.b, h, len, d]);
        const q = tensor(rng, sh(s.hq, s.nq, s.dk)), k = tensor(rng, sh(s.hkv, s.nk, s.dk)), v = tensor(rng, sh(s.hkv, s.nk, s.dv));
        const o: AttentionOptions = { ...s.o };
        if (s.bnhd) o.layout = 'BNHD';
        if (s.mask) {
          const data = new Uint8Array(s.mask.reduce((a, b) => a * b, 1));
          for (let i = 0; i < data.length; i++) data[i] = rng.chance(0.7) ? 1 : 0;
          o.mask = { data, shape: s.mask };
        }
        if (s.bias) o.bias = tensor(rng, s.bias);
        if (s.hugeBias) { // rows 0 and 1 of the bias very negative everywhere (a "soft mask" some models use)
          const nk = s.bias![1]!;
          for (let j = 0; j < nk; j++) { o.bias!.data[j] = -1e38; o.bias!.data[nk + j] = -2.2e38; }
        }
        worst = Math.max(worst, checkVsReference(q, k, v, o, await attn.run(q, k, v, o)));
      });
    }
    it('worst error over these shapes is within budget', () => {
      console.log(`webgpu robustness ${gpu.runtime}: worst abs error vs float64 over ${shapes.length} shapes ${worst.toExponential(3)}`);
      expect(worst).toBeLessThanOrEqual(TOL);
    });
  });

  describe(`webgpu robustness (${gpu.runtime}): non-causal ALiBi over thousands of keys, vs the float64 reference`, () => {
    // Without a causal mask, keys right of the diagonal get a positive ALiBi term of up to slope·(kLen − 1 − diag):
    // ~2000 at slope 0.5 and 4096 keys. A logit formed in f32 at that size carries ulp(2048)/2 ≈ 1.2e-4 of rounding,
    // which softmax turns into a relative error of the weights (outputs off by 1e-5…1e-4). The kernels shift each
    // row's ALiBi term by its largest structural value, so that the largest logits sit near 0; the LSE adds it back.
    const OUT_TOL = 1e-6; // outputs and weights, absolute (~1.6e-7 measured; 1e-5…4e-5 before the shift)
    const LSE_TOL = 1e-6; // LSE, relative to max(1, |LSE|): the LSE itself is ~2000 here
    interface Case { name: string; b: number; hq: number; hkv: number; nq: number; nk: number; d: number; o: AttentionOptions }
    const slopes = (hq: number): Float32Array => Float32Array.from({ length: hq }, (_, h) => (h % 2 === 0 ? 0.5 : 0.25));
    const cases: Case[] = [
      { name: 'prefill Nq 256 × Nk 4096, GQA 4:2, slopes 0.5 / 0.25, top-left, LSE', b: 1, hq: 4, hkv: 2, nq: 256, nk: 4096, d: 64,
        o: { alibi: slopes(4), returnLse: true } },
      { name: 'decode Nq 1, Nk 4096, GQA 8:2, alibi: true (standard slopes), weights + LSE', b: 1, hq: 8, hkv: 2, nq: 1, nk: 4096, d: 64,
        o: { alibi: true, returnLse: true, returnWeights: true } },
      { name: 'decode Nq 4, Nk 4096, B 2, keyLengths [4096, 2900], right window 1500, weights + LSE', b: 2, hq: 4, hkv: 1, nq: 4, nk: 4096, d: 32,
        o: { alibi: slopes(4), keyLengths: [4096, 2900], window: { right: 1500 }, returnLse: true, returnWeights: true } },
      { name: 'Nq 256 × Nk 2048, B 2, keyLengths [2048, 1111], window left 300 right 900, cosine, weights + LSE', b: 2, hq: 2, hkv: 2, nq: 256, nk: 2048, d: 32,
        o: { alibi: slopes(2), keyLengths: [2048, 1111], window: { left: 300, right: 900 }, similarity: 'cosine', returnLse: true, returnWeights: true } },
      { name: 'bottom-right, not causal, Nq 64 × Nk 3000, query and key lengths, GQA 4:1, LSE', b: 2, hq: 4, hkv: 1, nq: 64, nk: 3000, d: 48,
        o: { alibi: slopes(4), window: { align: 'bottom-right' }, queryLengths: [64, 10], keyLengths: [3000, 2000], returnLse: true } },
    ];
    for (const [n, c] of cases.entries()) {
      it(c.name, async () => {
        const rng = new Rng(3000 + n);
        const q = tensor(rng, [c.b, c.hq, c.nq, c.d]), k = tensor(rng, [c.b, c.hkv, c.nk, c.d]), v = tensor(rng, [c.b, c.hkv, c.nk, c.d]);
        const got = await attn.run(q, k, v, c.o);
        const ref = referenceAttention(q, k, v, c.o);
        const e = errorsVsReference(got, ref, { lse: c.o.returnLse, weights: c.o.returnWeights }, OUT_TOL); // LSE: relative
        console.log(`webgpu alibi ${gpu.runtime}: ${c.name}: output ${e.output.toExponential(2)}, LSE rel ${e.lse.toExponential(2)}` +
          `, weights ${e.weights.toExponential(2)}`);
        expect(e.output).toBeLessThanOrEqual(OUT_TOL);
        expect(e.lse).toBeLessThanOrEqual(LSE_TOL);
        expect(e.weights).toBeLessThanOrEqual(OUT_TOL);
      });
    }

    // Causal rows have nothing right of the diagonal: their ALiBi term is unchanged, bit for bit the result of the
    // same slopes given as an explicit bias slope_h·(j − diag) (exact in float64, rounded once to f32 as the kernel's
    // product is).
    const causal: Case[] = [
      { name: 'causal top-left Nq = Nk 300, GQA 2:1, weights + LSE', b: 1, hq: 2, hkv: 1, nq: 300, nk: 300, d: 32,
        o: { alibi: slopes(2), causal: true, returnLse: true, returnWeights: true } },
      { name: 'causal bottom-right decode Nq 3, Nk 3000 (split keys), LSE', b: 1, hq: 4, hkv: 2, nq: 3, nk: 3000, d: 32,
        o: { alibi: slopes(4), causal: 'bottom-right', returnLse: true } },
    ];
    const bits = (x: Float32Array | undefined): number[] => Array.from(new Uint32Array(x!.buffer, x!.byteOffset, x!.length));
    for (const [n, c] of causal.entries()) {
      it(`${c.name}: bit for bit an explicit bias of the same values`, async () => {
        const rng = new Rng(3100 + n);
        const q = tensor(rng, [c.b, c.hq, c.nq, c.d]), k = tensor(rng, [c.b, c.hkv, c.nk, c.d]), v = tensor(rng, [c.b, c.hkv, c.nk, c.d]);
        const s = c.o.alibi as Float32Array;
        const shift = c.o.causal === 'bottom-right' ? c.nk - c.nq : 0;
        const bias = new Float32Array(c.hq * c.nq * c.nk);
        for (let h = 0; h < c.hq; h++) {
          for (let i = 0; i < c.nq; i++) for (let j = 0; j < c.nk; j++) bias[(h * c.nq + i) * c.nk + j] = s[h]! * (j - (i + shift));
        }
        const { alibi: _, ...rest } = c.o;
        const withBias: AttentionOptions = { ...rest, bias: { data: bias, shape: [1, c.hq, c.nq, c.nk] } };
        const got = await attn.run(q, k, v, c.o);
        const want = await attn.run(q, k, v, withBias);
        expect(bits(got.output)).toEqual(bits(want.output));
        expect(bits(got.lse)).toEqual(bits(want.lse));
        if (c.o.returnWeights) expect(bits(got.weights)).toEqual(bits(want.weights));
        checkVsReference(q, k, v, c.o, got);
      });
    }
  });
}
