/**
 * Creating a GPU-backed attention: `createWebGpuAttention(opts)` (also reached through
 * `createAttention({ backend: 'webgpu' })`), and the 'auto' backend, which sends each call to WebGPU when a
 * hardware adapter exists and the problem is large enough to win, and to the wasm worker pool otherwise.
 */
import { AttentionError } from '../errors.js';
import type { AttentionPool, BatchItem, BatchOptions, PoolOptions } from '../pool/pool.js';
import { buildDescriptor } from '../spec.js';
import type { AttentionOptions, AttentionResult, ConvertOptions } from '../types.js';
import { WebGpuAttention, asConvertOptions, type WebGpuFallbackOptions, type WebGpuRunOptions } from './backend.js';
import { acquireDevice, type WebGpuDeviceOptions } from './device.js';
import { GpuTensor, type WebGpuConvertibleInput, type WebGpuInput } from './tensor.js';

export type BackendChoice = 'wasm' | 'webgpu' | 'auto';

export interface WebGpuAttentionOptions extends WebGpuDeviceOptions, WebGpuFallbackOptions {}

export interface AutoOptions {
  /** 'auto' sends a call to WebGPU when 4·B·Hq·Nq·Nk·max(Dk, Dv) is at least this. Default 1e9. */
  minGpuFlops?: number;
  /** Let 'auto' use a software adapter (SwiftShader, lavapipe): correct but slower than wasm. Default false. */
  allowSoftwareAdapter?: boolean;
}

/** Options of createAttention: the pool's, plus the backend choice and (for 'webgpu' / 'auto') the GPU's. */
export type CreateAttentionOptions = PoolOptions & WebGpuAttentionOptions & AutoOptions & { backend?: BackendChoice };

/** A WebGPU backend. Without an adapter it throws NOT_INITIALIZED, unless `fallback: 'wasm'`, which gives the
 * wasm pool `makePool` builds instead (createAttention passes its own). */
export async function createWebGpuAttention(opts: WebGpuAttentionOptions = {}): Promise<WebGpuAttention> {
  return new WebGpuAttention(await acquireDevice(opts), opts);
}

export const AUTO_MIN_FLOPS = 1e9;

/** One call's FLOPs as 'auto' counts them. */
export function problemFlops(
  q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options?: AttentionOptions | ConvertOptions,
): number {
  const shape = (x: WebGpuConvertibleInput): readonly number[] => ('shape' in x && x.shape ? x.shape : (x as { dims: readonly number[] }).dims);
  const dims = [shape(q), shape(k), shape(v)].map((s) => (s.length === 3 ? [1, ...s] : s));
  const [qd, kd, vd] = dims as [readonly number[], readonly number[], readonly number[]];
  const bnhd = options?.layout === 'BNHD';
  const n = (d: readonly number[]): number => (bnhd ? d[1]! : d[2]!);
  const h = (d: readonly number[]): number => (bnhd ? d[2]! : d[1]!);
  return 4 * qd[0]! * h(qd) * n(qd) * n(kd) * Math.max(qd[3]!, vd[3]!);
}

/** Routes each call: WebGPU for large problems when a usable adapter exists, the wasm pool otherwise. */
export class AutoAttention {
  readonly backend = 'auto' as const;
  /** Which backend ran the last call. */
  lastBackend: 'webgpu' | 'wasm' = 'wasm';

  /** Use createAttention({ backend: 'auto' }). */
  constructor(
    readonly pool: AttentionPool,
    /** The WebGPU backend, when an adapter could be used (undefined otherwise). */
    readonly gpu: WebGpuAttention | undefined,
    /** Why WebGPU is not used, when it is not. */
    readonly gpuUnavailable: string | undefined,
    private readonly minFlops: number,
  ) {}

  /** Whether this call would run on WebGPU (it reads shapes and options only, so it takes any input). */
  picksGpu(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options?: AttentionOptions | ConvertOptions,
  ): boolean {
    if (!this.gpu || this.gpu.lostReason !== undefined || options?.variant !== undefined) return false; // variants: wasm only
    if (options?.relativeBias !== undefined) return false; // relative-position tables: wasm only (for now)
    if (options?.sparsity !== undefined) return false; // structured sparsity (block mask): wasm only (for now)
    return problemFlops(q, k, v, options) >= this.minFlops;
  }

  /** `run.signal` aborts the call, on either backend. With `convert: true` either backend converts the inputs. */
  run(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options: ConvertOptions, run?: WebGpuRunOptions,
  ): Promise<AttentionResult>;
  run(q: WebGpuInput, k: WebGpuInput, v: WebGpuInput, options?: AttentionOptions, run?: WebGpuRunOptions): Promise<AttentionResult>;
  async run(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options?: AttentionOptions | ConvertOptions,
    run?: WebGpuRunOptions,
  ): Promise<AttentionResult> {
    const onGpu = q instanceof GpuTensor || k instanceof GpuTensor || v instanceof GpuTensor;
    if (this.gpu && (onGpu || this.picksGpu(q, k, v, options))) {
      const r = await this.gpu.run(q, k, v, asConvertOptions(options), run);
      this.lastBackend = this.gpu.lastBackend;
      return r;
    }
    if (q instanceof GpuTensor || k instanceof GpuTensor || v instanceof GpuTensor) {
      throw new AttentionError('INVALID_TYPE', 'q', 'arrays (this backend has no WebGPU device)', 'a GpuTensor');
    }
    buildDescriptor(q, k, v, options); // same validation errors whichever backend runs
    this.lastBackend = 'wasm';
    return this.pool.run(q, k, v, asConvertOptions(options), run);
  }

  async runBatch(items: readonly BatchItem[], opts: BatchOptions = {}): Promise<AttentionResult[]> {
    return this.pool.runBatch(items, opts);
  }

  dispose(): void {
    this.gpu?.dispose();
    this.pool.dispose();
  }
}

/** createAttention's 'webgpu' and 'auto' branches; `makePool` builds the wasm pool. */
export async function createGpuBackend(
  opts: CreateAttentionOptions,
  makePool: (o: PoolOptions) => Promise<AttentionPool>,
): Promise<WebGpuAttention | AttentionPool | AutoAttention> {
  if (opts.backend === 'webgpu') {
    try {
      return await createWebGpuAttention(opts);
    } catch (e) {
      if (opts.fallback === 'wasm' && e instanceof AttentionError && e.code === 'NOT_INITIALIZED') return makePool(opts);
      throw e;
    }
  }
  let gpu: WebGpuAttention | undefined;
  let why: string | undefined;
  try {
    gpu = await createWebGpuAttention(opts);
    if (gpu.software && !opts.allowSoftwareAdapter) {
      why = `the adapter (${gpu.adapter}) is a software one, slower than wasm (pass allowSoftwareAdapter: true to use it)`;
      gpu.dispose();
      gpu = undefined;
    }
  } catch (e) {
    why = e instanceof Error ? e.message : String(e);
  }
  return new AutoAttention(await makePool(opts), gpu, why, opts.minGpuFlops ?? AUTO_MIN_FLOPS);
}
