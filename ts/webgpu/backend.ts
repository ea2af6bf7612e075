/**
 * The webgpu backend: the same descriptor as the wasm path (buildDescriptor), run by the WGSL kernels. Buffers are
 * pooled per role and grow on demand, bind groups are cached per buffer set, pipelines are compiled once per kernel
 * variant; calls are serialised on the device queue. Device loss and out-of-memory become AttentionErrors.
 */
import { buildDescriptor } from '../spec.js';
import { attention } from '../attention.js';
import { init, type InitSource } from '../core/loader.js';
import { AttentionError, abortError } from '../errors.js';
import type { AttentionDescriptor } from '../descriptor.js';
import type { AttentionInput, AttentionOptions, AttentionResult, ConvertibleInput, ConvertOptions } from '../types.js';
import type { AcquiredDevice } from './device.js';
import { BUFFER_USAGE, MAP_MODE_READ } from './gpu-types.js';
import type { GpuBindGroupLike, GpuBufferLike, GpuDeviceLike, GpuDeviceLostInfoLike } from './gpu-types.js';
import { descriptorParams, encodeParams, type Params } from './params.js';
import { Pipelines } from './pipelines.js';
import { grid2d, grid3d, planFor } from './plan.js';
import { BINDING, WORKGROUP, type BindingName } from './shaders/common.wgsl.js';
import { fail } from '../validate/tensor.js';
import { valueString } from '../validate/describe.js';
import {
  GpuTensor, holdInputs, readUpload, releaseInputs, validationView, type WebGpuConvertibleInput, type WebGpuInput,
} from './tensor.js';
import { toF16 } from './f16.js';

const STORAGE_IN = BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST;
const MIN_BYTES = 16;
/** How long a failed call waits for a device loss to be reported before blaming the submission itself. */
const LOSS_WAIT_MS = 100;

export interface WebGpuStats {
  /** Shader modules compiled (one per kernel variant; constant after warm-up). */
  shaderCompilations: number;
  bindGroupsCreated: number;
  buffersCreated: number;
  calls: number;
}

/** What may happen instead of an error when the GPU fails. */
export interface WebGpuFallbackOptions {
  /** 'wasm': when the device is lost or out of memory (or, at creation, when there is no adapter), compute on the
   * wasm backend instead of throwing. Inputs passed as GpuTensors cannot fall back (their data lives on the GPU).
   * Default 'none': every GPU failure is an AttentionError. */
  fallback?: 'wasm' | 'none';
  /** Where the fallback loads the wasm from (as for init()). */
  wasm?: InitSource;
}

/** One problem of runBatch: as run() takes it (with `convert: true`, q, k, v, mask and bias as ConvertOptions admits
 * them). */
export type WebGpuBatchItem =
  | { q: WebGpuInput; k: WebGpuInput; v: WebGpuInput; options?: AttentionOptions }
  | { q: WebGpuConvertibleInput; k: WebGpuConvertibleInput; v: WebGpuConvertibleInput; options: ConvertOptions };

/** Options of upload(). */
export interface WebGpuUploadOptions {
  /** Convert number[], Float64Array and the other numeric typed arrays to float32 (a copy) instead of rejecting them,
   * as attention()'s `convert`. Default false. */
  convert?: boolean;
}

/** The options as the convert overloads take them. Those admit every input; whether a non-Float32Array is converted
 * or refused is still decided at run time, by buildDescriptor reading `convert`. */
export function asConvertOptions(options: AttentionOptions | ConvertOptions | undefined): ConvertOptions {
  return options as ConvertOptions;
}

export interface WebGpuBatchOptions {
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; elapsedMs: number }) => void;
}

/** Options of one run() call (the same as the wasm pool's). */
export interface WebGpuRunOptions {
  /** Aborting rejects the call at once with the signal's reason (or an AbortError): a queued call never runs, a
   * running one finishes on the GPU but its result is dropped (nothing is written into `out`). */
  signal?: AbortSignal;
}

/** Device loss and GPU out-of-memory: the failures the wasm fallback covers. */
export function isGpuFailure(e: unknown): boolean {
  return e instanceof AttentionError && (e.code === 'OUT_OF_MEMORY' || (e.code === 'KERNEL_ERROR' && e.argument === 'device'));
}

/** Descriptor fields the WGSL kernels implement (`variant` is rejected by name below). A field added to the
 * descriptor later is refused until the kernels learn it, rather than silently ignored. */
const KNOWN_FIELDS = new Set([
  'b', 'hq', 'hkv', 'nq', 'nk', 'dk', 'dv', 'layout', 'q', 'k', 'v', 'o', 'scale', 'softcap', 'similarity', 'align',
  'winLeft', 'winRight', 'queryLengths', 'keyLengths', 'mask', 'bias', 'returnLse', 'returnWeights', 'out', 'qStart',
  'kStart', 'nqFull', 'nkFull', 'variant', 'alibi', 'relBias',
]);

/** The option a descriptor field comes from, where the names differ (errors name what the caller passed). */
const OPTION_OF_FIELD: Record<string, string> = { sparse: 'sparsity' };

function unsupportedField(d: AttentionDescriptor): void {
  for (const [key, value] of Object.entries(d)) {
    if (value !== undefined && !KNOWN_FIELDS.has(key)) {
      const option = OPTION_OF_FIELD[key] ?? key;
      throw new AttentionError('INVALID_OPTION', option, `no '${option}' on the webgpu backend yet (use attention() or the wasm pool)`, option);
    }
  }
}

export class WebGpuAttention {
  readonly backend = 'webgpu' as const;
  /** Which backend computed the last result: 'wasm' after a fallback. */
  lastBackend: 'webgpu' | 'wasm' = 'webgpu';
  private readonly pipelines: Pipelines;
  private readonly pool = new Map<string, GpuBufferLike>();
  private readonly bindGroups = new Map<string, GpuBindGroupLike>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private lost?: GpuDeviceLostInfoLike;
  /** Settles once `lost` is set (never, while the device lives). */
  private readonly lostSeen: Promise<void>;
  private disposed = false;
  private readonly counts = { bindGroupsCreated: 0, buffersCreated: 0, calls: 0 };

  /** Use createWebGpuAttention(). */
  constructor(private readonly acquired: AcquiredDevice, private readonly fallback: WebGpuFallbackOptions = {}) {
    this.pipelines = new Pipelines(acquired.device);
    this.lostSeen = acquired.device.lost.then((info) => { this.lost = info; }, () => undefined);
  }

  get device(): GpuDeviceLike { return this.acquired.device; }
  /** The adapter, in words (vendor, architecture, device). */
  get adapter(): string { return this.acquired.description; }
  /** 'f16' when q, k, v are stored on the GPU as f16. */
  get precision(): 'f32' | 'f16' { return this.acquired.f16 ? 'f16' : 'f32'; }
  /** True on CPU adapters (SwiftShader, lavapipe/llvmpipe): correct, but slower than the wasm backend. */
  get software(): boolean { return this.acquired.software; }
  /** Loop iterations one shader invocation may run before the driver silently stops its loops (Mesa's llvmpipe /
   * lavapipe: 65535), probed on the device; undefined where none was seen. Long key ranges are split under it. */
  get loopBudget(): number | undefined { return this.acquired.loopBudget; }
  get stats(): WebGpuStats { return { shaderCompilations: this.pipelines.compiled, ...this.counts }; }
  /** Why the device was lost, once it has been. */
  get lostReason(): string | undefined { return this.lost ? `${this.lost.reason}: ${this.lost.message}` : undefined; }

  /** Copies a q, k or v tensor to the GPU for repeated use (pass the GpuTensor to run() instead of the array).
   * `argument` names the tensor in errors; `{ convert: true }` converts number[] and other numeric arrays. */
  upload(x: ConvertibleInput, argument: string | undefined, options: WebGpuUploadOptions & { convert: true }): GpuTensor;
  upload(x: AttentionInput, argument?: string, options?: WebGpuUploadOptions): GpuTensor;
  upload(x: ConvertibleInput, argument = 'tensor', options?: WebGpuUploadOptions): GpuTensor {
    this.checkUsable();
    const { data, dims } = readUpload(x, argument, readUploadConvert(options));
    const stored = this.stored(data);
    const bytes = Math.max(MIN_BYTES, stored.byteLength);
    this.checkSize(argument, bytes, true);
    const buffer = this.device.createBuffer({ size: bytes, usage: STORAGE_IN, label: `webattn ${argument}` });
    this.counts.buffersCreated += 1;
    this.device.queue.writeBuffer(buffer, 0, stored);
    return new GpuTensor(buffer, dims, data.length, this);
  }

  /** Same options and result as attention(); q, k, v may be GpuTensors. `run.signal` aborts the call. */
  run(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options: ConvertOptions, run?: WebGpuRunOptions,
  ): Promise<AttentionResult>;
  run(q: WebGpuInput, k: WebGpuInput, v: WebGpuInput, options?: AttentionOptions, run?: WebGpuRunOptions): Promise<AttentionResult>;
  run(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options?: AttentionOptions | ConvertOptions,
    run?: WebGpuRunOptions,
  ): Promise<AttentionResult> {
    return this.runAny(q, k, v, options, run);
  }

  private async runAny(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options?: AttentionOptions | ConvertOptions,
    run?: WebGpuRunOptions,
  ): Promise<AttentionResult> {
    const signal = run?.signal;
    try {
      const r = await this.runGpu(q, k, v, options, signal);
      this.lastBackend = 'webgpu';
      return r;
    } catch (e) {
      const arrays = !(q instanceof GpuTensor || k instanceof GpuTensor || v instanceof GpuTensor);
      if (this.fallback.fallback !== 'wasm' || !arrays || !isGpuFailure(e)) throw e;
      await init(this.fallback.wasm);
      if (signal?.aborted) throw abortError(signal);
      this.lastBackend = 'wasm';
      return attention(q, k, v, asConvertOptions(options));
    }
  }

  /** Many problems, one after another on the device; results in input order. */
  async runBatch(items: readonly WebGpuBatchItem[], opts: WebGpuBatchOptions = {}): Promise<AttentionResult[]> {
    const started = performance.now();
    const out: AttentionResult[] = [];
    for (const [i, it] of items.entries()) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      try {
        out.push(await this.runAny(it.q, it.k, it.v, it.options));
      } catch (e) {
        if (e instanceof AttentionError) e.message = `items[${i}]: ${e.message}`;
        throw e;
      }
      opts.onProgress?.({ done: i + 1, total: items.length, elapsedMs: performance.now() - started });
    }
    return out;
  }

  private runGpu(
    q: WebGpuConvertibleInput, k: WebGpuConvertibleInput, v: WebGpuConvertibleInput, options: AttentionOptions | ConvertOptions | undefined,
    signal?: AbortSignal,
  ): Promise<AttentionResult> {
    try {
      if (signal?.aborted) throw abortError(signal);
      this.checkUsable();
      const d = buildDescriptor(validationView(q, 'q', this), validationView(k, 'k', this), validationView(v, 'v', this), options);
      unsupportedField(d);
      if (d.variant) {
        throw new AttentionError('INVALID_OPTION', 'variant', 'no variant on the webgpu backend (variants run in wasm: attention() or the wasm pool)',
          `variant '${d.variant.kind}'`);
      }
      // A GpuTensor destroyed after this call was made is freed only once the call is done with it.
      const inputs = [q, k, v];
      holdInputs(inputs);
      const job = this.queue.then(() => {
        if (signal?.aborted) throw abortError(signal); // aborted while queued: never runs
        return this.execute(d, { q, k, v }, signal);
      }).finally(() => releaseInputs(inputs));
      this.queue = job.catch(() => undefined);
      if (!signal) return job;
      return new Promise<AttentionResult>((resolve, reject) => {
        const onAbort = (): void => reject(abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        void job.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Frees the pooled work buffers (they only grow: after one huge call, this gives the memory back). GpuTensors are
   * kept; the next call allocates what it needs again. Waits for queued calls. */
  async releaseBuffers(): Promise<void> {
    await this.queue;
    for (const b of this.pool.values()) b.destroy();
    this.pool.clear();
    this.bindGroups.clear();
  }

  /** Frees the pooled buffers and (unless the caller passed it) the device. Later calls throw. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.pool.values()) b.destroy();
    this.pool.clear();
    this.bindGroups.clear();
    if (this.acquired.owned) this.device.destroy();
  }

  private lostError(): AttentionError {
    const why = this.lostReason ?? 'unknown reason';
    return new AttentionError('KERNEL_ERROR', 'device', 'a live GPU device', `a lost device (${why})`,
      `device: the WebGPU device was lost (${why}); create a new backend with createWebGpuAttention()`);
  }

  private disposedError(): AttentionError {
    return new AttentionError('NOT_INITIALIZED', 'webgpu', 'an open backend', 'a disposed backend',
      'webgpu: the backend was disposed: create a new one with createWebGpuAttention()');
  }

  private checkUsable(): void {
    if (this.disposed) throw this.disposedError();
    if (this.lost) throw this.lostError();
  }

  /** After each await of a call: dispose() may have run meanwhile (its buffers, maybe its device, are gone). */
  private checkOpen(): void {
    if (this.disposed) throw this.disposedError();
  }

  /** After a GPU operation failed: gives a device loss that caused it time to be reported (`device.lost` settles a
   * few milliseconds after device.destroy() in Deno and Chromium, after the calls in flight have already failed), so
   * that the call reports the loss — and `fallback: 'wasm'` applies — rather than a stray validation error. */
  private async settleLoss(): Promise<void> {
    if (this.lost) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const wait = new Promise<void>((resolve) => { timer = setTimeout(resolve, LOSS_WAIT_MS); });
    await Promise.race([this.lostSeen, wait]);
    clearTimeout(timer);
  }

  private checkSize(role: string, bytes: number, storage: boolean): void {
    const l = this.device.limits;
    const max = storage ? Math.min(l.maxBufferSize, l.maxStorageBufferBindingSize) : l.maxBufferSize;
    if (bytes > max) {
      throw new AttentionError('OUT_OF_MEMORY', role, `at most ${max} bytes (this device's buffer limit)`, `${bytes} bytes`,
        `${role}: needs a GPU buffer of ${bytes} bytes, over this device's limit of ${max} bytes (use the wasm backend)`);
    }
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) { id = this.nextId++; this.ids.set(o, id); }
    return id;
  }

  /** The pooled buffer of `role`, grown (to a power of two, within the limits) when `bytes` do not fit. Over the
   * device's limit it throws OUT_OF_MEMORY naming `argument`, the caller's argument or option that needs it. */
  private buffer(role: string, bytes: number, usage: number, storage = true, argument = role): GpuBufferLike {
    bytes = Math.max(MIN_BYTES, Math.ceil(bytes / 4) * 4);
    this.checkSize(argument, bytes, storage);
    const have = this.pool.get(role);
    if (have && have.size >= bytes) return have;
    const l = this.device.limits;
    const cap = storage ? Math.min(l.maxBufferSize, l.maxStorageBufferBindingSize) : l.maxBufferSize;
    const size = Math.min(Math.max(bytes, 2 ** Math.ceil(Math.log2(bytes))), Math.floor(cap / 4) * 4);
    have?.destroy();
    const b = this.device.createBuffer({ size, usage, label: `webattn ${role}` });
    this.counts.buffersCreated += 1;
    this.pool.set(role, b);
    this.bindGroups.clear(); // entries naming the old buffer are stale
    return b;
  }

  private upload2(role: string, data: ArrayBufferView, argument = role): GpuBufferLike {
    const b = this.buffer(role, data.byteLength, STORAGE_IN, true, argument);
    if (data.byteLength > 0) this.device.queue.writeBuffer(b, 0, data);
    return b;
  }

  /** q, k, v as the kernels read them: as is (f32) or rounded to f16. */
  private stored(data: Float32Array): Float32Array | Uint16Array {
    return this.acquired.f16 ? toF16(data) : data;
  }

  private input(role: 'q' | 'k' | 'v', x: WebGpuConvertibleInput, data: Float32Array): GpuBufferLike {
    return x instanceof GpuTensor ? x.buffer : this.upload2(role, this.stored(data));
  }

  private bindGroup(label: string, buffers: Record<BindingName, GpuBufferLike>): GpuBindGroupLike {
    const names = Object.keys(BINDING) as BindingName[];
    const key = `${label}:${names.map((n) => this.id(buffers[n])).join(',')}`;
    let g = this.bindGroups.get(key);
    if (!g) {
      if (this.bindGroups.size > 64) this.bindGroups.clear();
      g = this.device.createBindGroup({
        layout: this.pipelines.layout,
        entries: names.map((n) => ({ binding: BINDING[n], resource: { buffer: buffers[n] } })),
        label: `webattn ${label}`,
      });
      this.counts.bindGroupsCreated += 1;
      this.bindGroups.set(key, g);
    }
    return g;
  }

  private params(role: string, p: Params): GpuBufferLike {
    const words = encodeParams(p);
    const b = this.buffer(`params-${role}`, words.byteLength, BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST, false);
    this.device.queue.writeBuffer(b, 0, words);
    return b;
  }

  private async execute(
    d: AttentionDescriptor, src: { q: WebGpuConvertibleInput; k: WebGpuConvertibleInput; v: WebGpuConvertibleInput }, signal?: AbortSignal,
  ): Promise<AttentionResult> {
    this.checkUsable();
    this.counts.calls += 1;
    const dev = this.device;
    const rows = d.b * d.hq * d.nq;
    const outElems = rows * d.dv;
    const shape: [number, number, number, number] = d.layout === 'BNHD' ? [d.b, d.nq, d.hq, d.dv] : [d.b, d.hq, d.nq, d.dv];
    const output = d.out ?? new Float32Array(outElems);
    if (outElems === 0) {
      const r: AttentionResult = { output, shape };
      if (d.returnLse) r.lse = new Float32Array(rows).fill(-Infinity);
      if (d.returnWeights) r.weights = new Float32Array(rows * d.nk);
      return r;
    }

    const plan = planFor(d, this.acquired.f16, this.acquired.loopBudget);
    const maxDim = dev.limits.maxComputeWorkgroupsPerDimension;
    const groups = plan.nQBlocks * plan.nSplits * d.hkv * d.b; // flash workgroups, folded onto up to 3 dimensions
    const [fx, fy, fz] = grid3d(groups, maxDim);
    if (fz > maxDim || groups > 0xffffffff) {
      throw new AttentionError('INVALID_DIM', 'q', `at most ${maxDim}³ query blocks on this device`, `B·Hq·Nq = ${rows}`);
    }

    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    let read: GpuBufferLike;
    let thrown: unknown;
    const outBytes = 4 * (outElems + rows);
    const weightsAt = Math.ceil(outBytes / 8) * 8;
    const weightsBytes = d.returnWeights ? 4 * rows * d.nk : 0;
    try {
      const q = this.input('q', src.q, d.q.data);
      const k = this.input('k', src.k, d.k.data);
      const v = this.input('v', src.v, d.v.data);
      const dummy = this.buffer('dummy', MIN_BYTES, STORAGE_IN);
      const bias = d.bias ? this.upload2('bias', d.bias.data) : dummy;
      const alibiAt = 2 * d.b;
      const relAt = alibiAt + (d.alibi ? d.hq : 0);
      const maskByte = 4 * (relAt + (d.relBias ? d.relBias.table.length : 0));
      const meta = new Uint32Array(maskByte / 4 + (d.mask ? Math.ceil(d.mask.data.length / 4) : 0));
      for (let b = 0; b < d.b; b++) {
        meta[b] = d.queryLengths ? d.queryLengths[b]! : d.nqFull;
        meta[d.b + b] = d.keyLengths ? d.keyLengths[b]! : d.nkFull;
      }
      if (d.alibi) new Float32Array(meta.buffer, 4 * alibiAt, d.hq).set(d.alibi);
      if (d.relBias) new Float32Array(meta.buffer, 4 * relAt, d.relBias.table.length).set(d.relBias.table);
      if (d.mask) new Uint8Array(meta.buffer, maskByte, d.mask.data.length).set(d.mask.data);
      // Over the limit, the meta buffer is big because of the mask (or, without one, the relative-bias table).
      const metaArg = d.mask ? 'mask' : d.relBias ? 'relativeBias' : 'keyLengths';
      const metaBuf = this.buffer('meta', meta.byteLength, STORAGE_IN, true, metaArg);
      dev.queue.writeBuffer(metaBuf, 0, meta);
      // After the output and the LSEs: each row's (max, sum) when the weights kernel needs them.
      const mlBase = d.returnWeights ? outElems + rows : 0;
      const out = this.buffer('out', outBytes + (d.returnWeights ? 8 * rows : 0), BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC);
      read = this.buffer('read', weightsAt + weightsBytes, BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST, false,
        d.returnWeights ? 'returnWeights' : 'out');

      const base = descriptorParams(d, maskByte, alibiAt, relAt);
      const inputs = { q, k, v, bias, meta: metaBuf };
      const enc = dev.createCommandEncoder({ label: 'webattn' });
      const pass = enc.beginComputePass({ label: 'webattn attention' });
      const flash = await this.pipelines.get({ kind: 'flash', config: plan.config });
      this.checkOpen();
      const flashParams = {
        ...base, n_qblocks: plan.nQBlocks, n_splits: plan.nSplits, split_len: plan.splitLen, lse_base: outElems, grid_x: fx, grid_y: fy, ml_base: mlBase,
      };
      if (plan.nSplits > 1) {
        const partBytes = 4 * plan.nSplits * rows * (d.dv + 2); // outputs, then m, then l per (split, row)
        const aux = this.buffer('partials', partBytes, BUFFER_USAGE.STORAGE, true, 'k'); // keys split across workgroups
        const merge = await this.pipelines.get({ kind: 'merge' });
        this.checkOpen();
        pass.setPipeline(flash);
        pass.setBindGroup(0, this.bindGroup('split', {
          params: this.params('flash', { ...flashParams, lse_base: plan.nSplits * rows * d.dv }), ...inputs, out: aux, aux: dummy,
        }));
        pass.dispatchWorkgroups(fx, fy, fz);
        const [gx, gy] = grid2d(Math.ceil((rows * d.dv) / WORKGROUP), maxDim); // one thread per output element
        pass.setPipeline(merge);
        pass.setBindGroup(0, this.bindGroup('merge', {
          params: this.params('merge', { ...flashParams, grid_x: gx, aux_lse: plan.nSplits * rows * d.dv }), ...inputs, out, aux,
        }));
        pass.dispatchWorkgroups(gx, gy);
      } else {
        pass.setPipeline(flash);
        pass.setBindGroup(0, this.bindGroup('flash', { params: this.params('flash', flashParams), ...inputs, out, aux: dummy }));
        pass.dispatchWorkgroups(fx, fy, fz);
      }
      let weights: GpuBufferLike | undefined;
      if (d.returnWeights) {
        weights = this.buffer('weights', weightsBytes, BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC, true, 'returnWeights');
        const [gx, gy] = grid2d(Math.ceil((rows * d.nk) / WORKGROUP), maxDim); // one thread per (row, key)
        const weightsPipeline = await this.pipelines.get({ kind: 'weights', f16: this.acquired.f16 });
        this.checkOpen();
        pass.setPipeline(weightsPipeline);
        pass.setBindGroup(0, this.bindGroup('weights', {
          params: this.params('weights', { ...base, grid_x: gx, ml_base: mlBase }), ...inputs, out: weights, aux: out,
        }));
        pass.dispatchWorkgroups(gx, gy);
      }
      pass.end();
      enc.copyBufferToBuffer(out, 0, read, 0, outBytes);
      if (weights) enc.copyBufferToBuffer(weights, 0, read, weightsAt, weightsBytes);
      dev.queue.submit([enc.finish()]);
    } catch (e) {
      thrown = e;
      throw e;
    } finally {
      const validation = await dev.popErrorScope().catch(() => null);
      const oom = await dev.popErrorScope().catch(() => null);
      const fromGpu = thrown !== undefined && (!(thrown instanceof AttentionError) || thrown.code === 'KERNEL_ERROR');
      if (validation || oom || fromGpu) await this.settleLoss();
      // Whatever failed, a call that dispose() overtook reports the disposal (its buffers were destroyed under it).
      this.checkOpen();
      if (this.lost) throw this.lostError();
      if (oom) {
        throw new AttentionError('OUT_OF_MEMORY', 'webgpu', 'GPU memory for the buffers of this call', 'out of memory',
          `webgpu: the GPU ran out of memory (${oom.message}); use smaller problems or the wasm backend`);
      }
      if (validation) {
        throw new AttentionError('KERNEL_ERROR', 'webgpu', 'a valid WebGPU submission', 'a validation error',
          `webgpu: the device rejected the submission: ${validation.message}`);
      }
    }

    const total = weightsAt + weightsBytes;
    try {
      await read.mapAsync(MAP_MODE_READ, 0, total);
    } catch (e) {
      await this.settleLoss();
      this.checkOpen();
      if (this.lost) throw this.lostError();
      throw new AttentionError('KERNEL_ERROR', 'webgpu', 'results read back', 'mapAsync failed',
        `webgpu: reading the results back failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.checkOpen();
    if (signal?.aborted) { // the caller has its AbortError already: leave `out` alone
      read.unmap();
      throw abortError(signal);
    }
    try {
      const range = read.getMappedRange(0, total);
      output.set(new Float32Array(range, 0, outElems));
      const r: AttentionResult = { output, shape };
      if (d.returnLse) r.lse = new Float32Array(range, 4 * outElems, rows).slice();
      if (d.returnWeights) r.weights = new Float32Array(range, weightsAt, rows * d.nk).slice();
      return r;
    } finally {
      read.unmap();
    }
  }
}

/** upload()'s `convert` (unknown keys and a non-boolean are INVALID_OPTION, as in attention()'s options). */
function readUploadConvert(options: unknown): boolean {
  if (options === undefined || options === null) return false;
  if (typeof options !== 'object' || Array.isArray(options)) fail('INVALID_OPTION', 'options', 'an upload options object', valueString(options));
  for (const key of Object.keys(options)) {
    if (key !== 'convert') fail('INVALID_OPTION', key, 'the upload option convert', `unknown option '${key}'`);
  }
  const convert: unknown = (options as WebGpuUploadOptions).convert;
  if (convert !== undefined && typeof convert !== 'boolean') fail('INVALID_OPTION', 'convert', 'true or false', valueString(convert));
  return convert === true;
}
