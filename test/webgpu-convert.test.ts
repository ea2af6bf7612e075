/**
 * `convert: true` on the WebGPU backend and the 'auto' router: run(), runBatch() items, upload() and AutoAttention's
 * run() take number[], Float64Array and the other numeric typed arrays (and boolean[] masks) when the options say
 * `convert: true`, as attention() does; without it the compiler still says Float32Array (`tsc -p tsconfig.json`
 * checks this file: each @ts-expect-error line fails the typecheck once the types admit its call). A converted call
 * gives the Float32Array call's bits on the GPU and on the wasm paths (the router's pool, the fallback), within the
 * WebGPU budget of the float64 reference. Without an adapter the suite says why and skips, except in CI and in the
 * browser (see test/webgpu/gpu.ts).
 */
import { describe, expect, it } from 'vitest';
import { AttentionError, attention, createAttention, createWebGpuAttention, init, referenceAttention } from '../ts/index.js';
import type {
  AttentionPool, AttentionResult, ConvertOptions, GpuTensor, WebGpuAttention, WebGpuBatchItem, WebGpuConvertibleInput,
} from '../ts/index.js';
import { codeOf, maxAbsDiff, rejection } from './compare.js';
import { describeWithoutAdapter, openTestGpu } from './webgpu/gpu.js';
import { uniform } from './rng.js';

/** The WebGPU budget for outputs in [−1, 1] (DESIGN.md); v here is up to 100 in magnitude. */
const TOL = 1e-5;
const V_MAX = 100;

const gpu = await openTestGpu();
const label = `webgpu convert (${gpu.runtime}${gpu.attn ? `, ${gpu.attn.adapter}` : ''})`;

const [B, H, N, D] = [1, 2, 20, 8];
const shape = [B, H, N, D];
const q32 = uniform(31, B * H * N * D);
const k32 = uniform(32, B * H * N * D);
const v16 = Int16Array.from(uniform(33, B * H * N * D), (x) => Math.round(V_MAX * x));
const bias32 = uniform(34, N * N);
const allowed = Array.from({ length: N * N }, (_, i) => i % 3 !== 1);

/** The converted inputs, and the same values as Float32Array / Uint8Array. */
const conv = { q: { data: Array.from(q32), shape }, k: { data: Float64Array.from(k32), shape }, v: { data: v16, shape } };
const f32 = { q: { data: q32, shape }, k: { data: k32, shape }, v: { data: Float32Array.from(v16), shape } };
const convOptions: ConvertOptions = {
  convert: true, causal: true, returnLse: true, bias: { data: Array.from(bias32), shape: [N, N] }, mask: { data: allowed, shape: [N, N] },
};
const plainOptions = {
  causal: true, returnLse: true, bias: { data: bias32, shape: [N, N] }, mask: { data: Uint8Array.from(allowed, (a) => (a ? 1 : 0)), shape: [N, N] },
};

function bits(a: Float32Array | undefined): number[] {
  return a ? Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)) : [];
}

function expectSame(got: AttentionResult, want: AttentionResult): void {
  expect(got.shape).toEqual(want.shape);
  expect(bits(got.output)).toEqual(bits(want.output));
  expect(bits(got.lse)).toEqual(bits(want.lse));
}

/** createAttention({ backend: 'webgpu', fallback: 'wasm' }) is typed as this union: its run() must take both kinds. */
function runEither(b: WebGpuAttention | AttentionPool): Promise<AttentionResult> {
  return b.run(conv.q, conv.k, conv.v, convOptions);
}

if (!gpu.attn) {
  describeWithoutAdapter(label, gpu, 'test/webgpu-convert.test.ts');
} else {
  const attn = gpu.attn;
  await init();

  describe(label, () => {
    it('run(): number[] / Float64Array / Int16Array q, k, v, number[] bias, boolean[] mask give the Float32Array run, bit for bit', async () => {
      expect(attn.precision).toBe('f32');
      const want = await attn.run(f32.q, f32.k, f32.v, plainOptions);
      expectSame(await attn.run(conv.q, conv.k, conv.v, convOptions), want);
      expect(attn.lastBackend).toBe('webgpu');
      const ref = referenceAttention(f32.q, f32.k, f32.v, plainOptions);
      expect(maxAbsDiff(want.output, ref.output)).toBeLessThanOrEqual(V_MAX * TOL);
      expect(maxAbsDiff(want.lse!, ref.lse)).toBeLessThanOrEqual(V_MAX * TOL);
      // The reference takes the converted inputs too, and sees the same float32 values.
      const refConv = referenceAttention(conv.q, conv.k, conv.v, convOptions);
      expect(Array.from(refConv.output)).toEqual(Array.from(ref.output));
      expect(Array.from((await runEither(attn)).output)).toEqual(Array.from(want.output));
    });

    it('upload(x, argument, { convert: true }) converts; without it upload() and run() refuse other arrays', async () => {
      const want = await attn.run(f32.q, f32.k, f32.v, plainOptions);
      const k: GpuTensor = attn.upload(conv.k, 'k', { convert: true });
      const v = attn.upload(conv.v, undefined, { convert: true });
      expect(k.shape).toEqual(shape);
      try {
        const q: WebGpuConvertibleInput = conv.q;
        expectSame(await attn.run(q, k, v, convOptions), want);
        // GpuTensors and Float32Array q need no convert.
        expectSame(await attn.run(f32.q, k, v, plainOptions), want);
      } finally {
        k.destroy();
        v.destroy();
      }
      // @ts-expect-error a Float64Array without convert
      expect(codeOf(() => attn.upload(conv.k, 'k'))).toBe('INVALID_TYPE');
      // @ts-expect-error convert: false
      expect(codeOf(() => attn.upload(conv.k, 'k', { convert: false }))).toBe('INVALID_TYPE');
      expect(codeOf(() => attn.upload(f32.k, 'k', { convert: 'yes' } as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => attn.upload(f32.k, 'k', { causal: true } as never))).toBe('INVALID_OPTION');
      // @ts-expect-error a Float64Array without convert
      const e = await rejection(attn.run(f32.q, conv.k, f32.v));
      expect(e instanceof AttentionError && e.code).toBe('INVALID_TYPE');
      // @ts-expect-error a boolean[] mask without convert
      const m = await rejection(attn.run(f32.q, f32.k, f32.v, { mask: { data: allowed, shape: [N, N] } }));
      expect(m instanceof AttentionError && m.code).toBe('INVALID_MASK');
    });

    it('runBatch() items with convert: true next to plain ones', async () => {
      const items: WebGpuBatchItem[] = [
        { q: conv.q, k: conv.k, v: conv.v, options: convOptions },
        { q: f32.q, k: f32.k, v: f32.v },
      ];
      const [a, b] = await attn.runBatch(items);
      expectSame(a!, await attn.run(f32.q, f32.k, f32.v, plainOptions));
      expectSame(b!, await attn.run(f32.q, f32.k, f32.v));
      // @ts-expect-error a number[] q without convert
      const bad: WebGpuBatchItem[] = [{ q: conv.q, k: f32.k, v: f32.v }];
      const e = await rejection(attn.runBatch(bad));
      expect(e instanceof AttentionError && e.code).toBe('INVALID_TYPE');
    });

    it("fallback: 'wasm' on a lost device computes the converted call on wasm: attention()'s bits", async () => {
      const lenient = await createWebGpuAttention({ ...gpu.options, fallback: 'wasm' });
      lenient.device.destroy();
      await lenient.device.lost;
      try {
        const got = await lenient.run(conv.q, conv.k, conv.v, convOptions);
        expect(lenient.lastBackend).toBe('wasm');
        expectSame(got, attention(f32.q, f32.k, f32.v, plainOptions));
      } finally {
        lenient.dispose();
      }
    });

    it("'auto' converts on both routes: WebGPU for the large call, the wasm pool for the small one", async () => {
      const auto = await createAttention({ ...gpu.options, backend: 'auto', threads: 1, allowSoftwareAdapter: true, minGpuFlops: 1e4 });
      try {
        expect(auto.picksGpu(conv.q, conv.k, conv.v, convOptions)).toBe(true);
        expectSame(await auto.run(conv.q, conv.k, conv.v, convOptions), await attn.run(f32.q, f32.k, f32.v, plainOptions));
        expect(auto.lastBackend).toBe('webgpu');

        const small = [1, 1, 2, 4];
        const qs = { data: [0.5, -1, 2, 0.25, 1, 1, -0.5, 0], shape: small };
        const vs = { data: Int8Array.of(1, 2, 3, 4, -5, 6, 7, -8), shape: small };
        const so: ConvertOptions = { convert: true, mask: { data: [true, false, true, true], shape: [2, 2] } };
        expect(auto.picksGpu(qs, qs, vs, so)).toBe(false);
        const got = await auto.run(qs, qs, vs, so);
        expect(auto.lastBackend).toBe('wasm');
        const q32s = { data: Float32Array.from(qs.data), shape: small };
        const plain = { mask: { data: Uint8Array.of(1, 0, 1, 1), shape: [2, 2] } };
        const want = attention(q32s, q32s, { data: Float32Array.from(vs.data), shape: small }, plain);
        expectSame(got, want);
        const ref = referenceAttention(q32s, q32s, { data: Float32Array.from(vs.data), shape: small }, plain);
        expect(maxAbsDiff(got.output, ref.output)).toBeLessThanOrEqual(8 * TOL);

        // @ts-expect-error a number[] q without convert
        const e = await rejection(auto.run(qs, q32s, q32s));
        expect(e instanceof AttentionError && e.code).toBe('INVALID_TYPE');
        // @ts-expect-error a Float64Array without convert, on the GPU route
        const g = await rejection(auto.run(f32.q, conv.k, f32.v));
        expect(g instanceof AttentionError && g.code).toBe('INVALID_TYPE');
      } finally {
        auto.dispose();
      }
    });
  });
}
