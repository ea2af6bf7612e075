/**
 * The WebGPU backend against the float64 reference, in whichever runtime runs this file: Deno (wgpu on lavapipe),
 * headless Chromium (SwiftShader) and Node (the `webgpu` package, Dawn on OpenGL ES). Seeded cases covering every
 * option (test/cases.ts), the named edge cases, and decode shapes for the split-key kernel; then caching, GpuTensor
 * inputs, errors, device loss and the wasm fallback. Budget: max abs error ≤ 1e-5 (DESIGN.md).
 * Without an adapter the suite says why and skips, except in CI and in the browser (see test/webgpu/gpu.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  AttentionError,
  AttentionPool,
  AutoAttention,
  WebGpuAttention,
  createAttention,
  createWebGpuAttention,
  referenceAttention,
} from '../ts/index.js';
import type { AttentionResult } from '../ts/index.js';
import { edgeCases, generateCases } from './cases.js';
import type { AttentionCase } from './cases.js';
import { errorsVsReference } from './webgpu/compare.js';
import { decodeCases, positionBiasCases, stackedCases } from './webgpu/decode-cases.js';
import { rejection } from './compare.js';
import { describeWithoutAdapter, openTestGpu } from './webgpu/gpu.js';
import { f16Bits, f16ToNumber } from '../ts/webgpu/f16.js';

const TOL = 1e-5;
const gpu = await openTestGpu();
const label = `webgpu (${gpu.runtime}${gpu.attn ? `, ${gpu.attn.adapter}` : ''})`;

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((bits, i) => bits === y[i]);
}

/** The case with q, k, v rounded to f16 (what an f16 backend computes with). */
function roundedToF16(c: AttentionCase): AttentionCase {
  const round = (x: AttentionCase['q']): AttentionCase['q'] => {
    const data = x.data.map((e) => f16ToNumber(f16Bits(e)));
    return 'shape' in x ? { data, shape: x.shape } : { data, dims: x.dims };
  };
  return { ...c, q: round(c.q), k: round(c.k), v: round(c.v) };
}

function check(c: AttentionCase, got: AttentionResult, worst: { e: number; name: string }, refCase: AttentionCase = c): void {
  const ref = referenceAttention(refCase.q, refCase.k, refCase.v, refCase.options);
  expect(got.shape).toEqual(ref.shape);
  const e = errorsVsReference(got, ref, { lse: c.options.returnLse, weights: c.options.returnWeights }, TOL);
  const m = Math.max(e.output, e.lse, e.weights);
  if (m > worst.e) Object.assign(worst, { e: m, name: c.name });
  expect(e.first).toBe('');
}

if (!gpu.attn) {
  describeWithoutAdapter(label, gpu, 'test/webgpu.test.ts');
} else {
  const attn = gpu.attn;
  const cases = [...generateCases(20251123, 98, { maxWork: 1e6 }), ...edgeCases(), ...decodeCases(5, 16), ...stackedCases(9), ...positionBiasCases(3, 21)];
  const worst = { e: 0, name: '' };

  describe(`${label} vs the float64 reference`, () => {
    for (const c of cases) {
      it(c.name, async () => {
        check(c, await attn.run(c.q, c.k, c.v, c.options), worst);
      });
    }
    it('stays within the error budget over all cases (worst error reported)', () => {
      console.log(`webgpu ${gpu.runtime} (${attn.adapter}): worst abs error vs float64 over ${cases.length} cases ` +
        `${worst.e.toExponential(3)} (${worst.name}); ${JSON.stringify(attn.stats)}`);
      expect(worst.e).toBeLessThanOrEqual(TOL);
    });
  });

  // f16 storage: the reference runs on the inputs rounded to f16, so the budget is the f32 one.
  let f16: WebGpuAttention | undefined;
  let noF16 = '';
  try {
    f16 = await createWebGpuAttention({ ...gpu.options, precision: 'f16' });
  } catch (e) {
    noF16 = e instanceof Error ? e.message : String(e);
  }
  describe(`${label}: f16 storage (shader-f16)`, () => {
    if (!f16) {
      const skip = (it as { skip?: (name: string, fn: () => void) => void }).skip;
      const name = `SKIPPED: no f16 kernels here: ${noF16}`;
      console.warn(`test/webgpu.test.ts ${name}`);
      if (skip) skip(name, () => undefined);
      else it(name, () => undefined);
      return;
    }
    const attn16 = f16;
    const worst16 = { e: 0, name: '' };
    const some = cases.filter((_, i) => i % 3 === 0);
    for (const c of some) {
      it(`f16 ${c.name}`, async () => {
        check(c, await attn16.run(c.q, c.k, c.v, c.options), worst16, roundedToF16(c));
      });
    }
    it('f16: GpuTensor inputs give the same bits, and the worst error is reported', async () => {
      const c = some[1]!;
      const a = await attn16.run(c.q, c.k, c.v, c.options);
      const b = await attn16.run(attn16.upload(c.q, 'q'), attn16.upload(c.k, 'k'), attn16.upload(c.v, 'v'), c.options);
      expect(sameBits(a.output, b.output)).toBe(true);
      expect(attn16.precision).toBe('f16');
      console.log(`webgpu f16 ${gpu.runtime}: worst abs error vs float64 (f16-rounded inputs) over ${some.length} cases ` +
        `${worst16.e.toExponential(3)} (${worst16.name})`);
      expect(worst16.e).toBeLessThanOrEqual(TOL);
      attn16.dispose();
    });
  });

  describe(`${label}: buffers, caching, GpuTensor, errors`, () => {
    it('compiles no shader and creates no bind group when warm calls repeat', async () => {
      const some = cases.filter((_, i) => i % 5 === 0);
      for (const c of some) await attn.run(c.q, c.k, c.v, c.options);
      const before = attn.stats;
      for (const c of some) await attn.run(c.q, c.k, c.v, c.options);
      const after = attn.stats;
      expect(after.shaderCompilations).toBe(before.shaderCompilations);
      expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
      expect(after.buffersCreated).toBe(before.buffersCreated);
      expect(after.calls).toBe(before.calls + some.length);
      await attn.releaseBuffers();
      check(some[0]!, await attn.run(some[0]!.q, some[0]!.k, some[0]!.v, some[0]!.options), { e: 0, name: '' });
      expect(attn.stats.buffersCreated).toBeGreaterThan(after.buffersCreated);
      expect(attn.stats.shaderCompilations).toBe(after.shaderCompilations);
    });

    it('gives bit-identical results on repeated calls, and from GpuTensor inputs', async () => {
      for (const c of cases.filter((_, i) => i % 11 === 0)) {
        const a = await attn.run(c.q, c.k, c.v, { ...c.options, returnLse: true });
        const q = attn.upload(c.q, 'q');
        const k = attn.upload(c.k, 'k');
        const v = attn.upload(c.v, 'v');
        const b = await attn.run(q, k, v, { ...c.options, returnLse: true });
        const mixed = await attn.run(c.q, k, v, { ...c.options, returnLse: true });
        expect(sameBits(a.output, b.output)).toBe(true);
        expect(sameBits(a.lse!, b.lse!)).toBe(true);
        expect(sameBits(a.output, mixed.output)).toBe(true);
        q.destroy(); k.destroy(); v.destroy();
        const e = await rejection(attn.run(q, c.k, c.v, c.options));
        expect(e).toBeInstanceOf(AttentionError);
        expect((e as AttentionError).argument).toBe('q');
      }
    });

    it('writes into `out`, and nothing around it', async () => {
      const c = cases[3]!;
      const plain = await attn.run(c.q, c.k, c.v, c.options);
      const n = plain.output.length;
      const backing = new Float32Array(n + 4).fill(777);
      const out = backing.subarray(2, 2 + n);
      const r = await attn.run(c.q, c.k, c.v, { ...c.options, out });
      expect(r.output).toBe(out);
      expect(sameBits(out, plain.output)).toBe(true);
      expect([backing[0], backing[1], backing[n + 2], backing[n + 3]]).toEqual([777, 777, 777, 777]);
    });

    it('rejects invalid inputs with the same AttentionError as the wasm path, naming the argument', async () => {
      const q = { data: new Float32Array(2 * 4 * 8), shape: [1, 2, 4, 8] };
      const kBad = { data: new Float32Array(2 * 4 * 7), shape: [1, 2, 4, 7] };
      const e = await rejection(attn.run(q, kBad, q));
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).argument).toBe('k');
      const m = await rejection(attn.run(q, q, q, { mask: { data: new Uint8Array(3), shape: [4, 4] } }));
      expect((m as AttentionError).code).toBe('INVALID_MASK');
      expect(() => attn.upload({ data: new Float64Array(4), shape: [1, 1, 2, 2] } as never, 'k')).toThrow(AttentionError);
    });

    it('turns device loss into a clear error, and falls back to wasm only when allowed', async () => {
      const c = cases[1]!;
      const strict = await createWebGpuAttention(gpu.options);
      strict.device.destroy();
      await strict.device.lost;
      const e = await rejection(strict.run(c.q, c.k, c.v, c.options));
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).code).toBe('KERNEL_ERROR');
      expect((e as AttentionError).argument).toBe('device');
      expect((e as AttentionError).message).toMatch(/lost/);

      const lenient = await createWebGpuAttention({ ...gpu.options, fallback: 'wasm' });
      lenient.device.destroy();
      await lenient.device.lost;
      const w = { e: 0, name: '' };
      check(c, await lenient.run(c.q, c.k, c.v, c.options), w);
      expect(lenient.lastBackend).toBe('wasm');
      strict.dispose();
      lenient.dispose();
    });

    it("createAttention({ backend: 'webgpu' | 'auto' }) runs on the GPU for large enough calls", async () => {
      const c = cases[0]!;
      const viaCreate = await createAttention({ ...gpu.options, backend: 'webgpu' });
      expect(viaCreate).toBeInstanceOf(WebGpuAttention);
      check(c, await viaCreate.run(c.q, c.k, c.v, c.options), { e: 0, name: '' });
      viaCreate.dispose();

      const auto = await createAttention({ ...gpu.options, backend: 'auto', threads: 1, allowSoftwareAdapter: true, minGpuFlops: 1e6 });
      expect(auto).toBeInstanceOf(AutoAttention);
      const big = cases.find((x) => x.q.data.length * 16 > 1e6 / 4)!;
      for (const x of [c, big]) {
        check(x, await auto.run(x.q, x.k, x.v, x.options), { e: 0, name: '' });
        expect(auto.lastBackend).toBe(auto.picksGpu(x.q, x.k, x.v, x.options) ? 'webgpu' : 'wasm');
      }
      expect(auto.picksGpu(big.q, big.k, big.v, big.options)).toBe(true);
      const tiny = { data: new Float32Array(8).fill(0.5), shape: [1, 1, 2, 4] };
      expect(auto.picksGpu(tiny, tiny, tiny)).toBe(false);
      await auto.run(tiny, tiny, tiny);
      expect(auto.lastBackend).toBe('wasm');
      expect(auto.pool).toBeInstanceOf(AttentionPool);
      auto.dispose();
    });

    it('reports buffers over the device limit as OUT_OF_MEMORY naming the operand, and falls back only when allowed', async () => {
      const real = attn.device;
      const l = real.limits;
      const limits = {
        maxBufferSize: 4096, maxStorageBufferBindingSize: 4096, maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      };
      // The real device, seen through limits of 4 KiB per buffer.
      const small = new Proxy(real, {
        get: (t, p) => (p === 'limits' ? limits : typeof Reflect.get(t, p) === 'function' ? Reflect.get(t, p).bind(t) : Reflect.get(t, p)),
      });
      const c = cases.find((x) => x.q.data.length > 1024 && x.k.data.length <= 1024 && x.v.data.length <= 1024 &&
        !x.options.mask && !x.options.bias && !x.options.returnWeights)!;
      const strict = await createWebGpuAttention({ device: small });
      const e = await rejection(strict.run(c.q, c.k, c.v, c.options));
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).code).toBe('OUT_OF_MEMORY');
      expect((e as AttentionError).argument).toBe('q');
      const lenient = await createWebGpuAttention({ device: small, fallback: 'wasm' });
      check(c, await lenient.run(c.q, c.k, c.v, c.options), { e: 0, name: '' });
      expect(lenient.lastBackend).toBe('wasm');
      strict.dispose();
      lenient.dispose();
      // Not owned: the device still works for the shared backend.
      check(cases[0]!, await attn.run(cases[0]!.q, cases[0]!.k, cases[0]!.v, cases[0]!.options), { e: 0, name: '' });
    });
  });
}
