/**
 * createAttention, run and runBatch read known option keys only, as attention() does: a misspelled key, a backend
 * that does not exist or a GPU option given to the wasm backend is an AttentionError naming it, not silently ignored.
 */
import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention } from '../ts/index.js';

async function refusal(p: Promise<unknown>): Promise<AttentionError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AttentionError);
  return e as AttentionError;
}

/** Options as a caller without TypeScript (or with a cast) might pass them. */
const loose = <T>(x: Record<string, unknown>): T => x as unknown as T;

describe('pool options: known keys only', () => {
  it('createAttention refuses unknown keys, unknown backends and options of another backend', async () => {
    const typo = await refusal(createAttention(loose({ threads: 1, stagingbytes: 1024 })));
    expect([typo.code, typo.argument]).toEqual(['INVALID_OPTION', 'stagingbytes']);
    expect(typo.message).toMatch(/stagingBytes/);
    const backend = await refusal(createAttention(loose({ backend: 'gpu' })));
    expect([backend.code, backend.argument]).toEqual(['INVALID_OPTION', 'backend']);
    const gpuOnWasm = await refusal(createAttention(loose({ threads: 1, precision: 'f16' })));
    expect([gpuOnWasm.code, gpuOnWasm.argument]).toEqual(['INVALID_OPTION', 'precision']);
    expect(gpuOnWasm.message).toMatch(/backend 'webgpu' or 'auto'/);
    const autoOnGpu = await refusal(createAttention(loose({ backend: 'webgpu', minGpuFlops: 1 })));
    expect([autoOnGpu.code, autoOnGpu.argument]).toEqual(['INVALID_OPTION', 'minGpuFlops']);
  });

  it('run and runBatch refuse unknown keys and a non-function onProgress', async () => {
    const pool = await createAttention({ threads: 1 });
    try {
      const x = { data: new Float32Array(2 * 8 * 4).fill(0.5), shape: [1, 2, 8, 4] };
      const run = await refusal(pool.run(x, x, x, {}, loose({ sigal: new AbortController().signal })));
      expect([run.code, run.argument]).toEqual(['INVALID_OPTION', 'sigal']);
      const batch = await refusal(pool.runBatch([{ q: x, k: x, v: x }], loose({ onprogress: () => {} })));
      expect([batch.code, batch.argument]).toEqual(['INVALID_OPTION', 'onprogress']);
      const notFn = await refusal(pool.runBatch([{ q: x, k: x, v: x }], loose({ onProgress: 5 })));
      expect([notFn.code, notFn.argument]).toEqual(['INVALID_OPTION', 'onProgress']);
      // The known keys still work.
      let done = 0;
      const r = await pool.runBatch([{ q: x, k: x, v: x }], { onProgress: (p) => { done = p.done; }, signal: new AbortController().signal });
      expect([r.length, done]).toEqual([1, 1]);
    } finally {
      pool.dispose();
    }
  });

  it("'auto' takes the pool's, the GPU's and its own options (and falls back to a pool without an adapter)", async () => {
    const auto = await createAttention({ backend: 'auto', threads: 1, stagingBytes: 1 << 20, minGpuFlops: 1e12, allowSoftwareAdapter: false, precision: 'f32' });
    try {
      const x = { data: new Float32Array(8 * 4).fill(0.25), shape: [1, 1, 8, 4] };
      expect((await auto.run(x, x, x)).output.length).toBe(32);
    } finally {
      auto.dispose();
    }
  });
});
