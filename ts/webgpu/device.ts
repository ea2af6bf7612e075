/**
 * Finding a WebGPU device: `navigator.gpu` (browsers, Deno), or a `GPU` object the caller passes (Node's `webgpu`
 * package: `create([...])`), or a device the caller already has. Requests the limits the kernels need (7 storage
 * buffers per stage, the adapter's largest buffers) and says clearly what is missing.
 */
import { AttentionError } from '../errors.js';
import type { GpuAdapterLike, GpuDeviceLike, GpuLike } from './gpu-types.js';
import { probeLoopBudget } from './loop-probe.js';

export interface WebGpuDeviceOptions {
  /** A `GPU` object (default: `navigator.gpu`). In Node: `create([...])` of the `webgpu` package. */
  gpu?: GpuLike;
  /** An adapter to use instead of requesting one. */
  adapter?: GpuAdapterLike;
  /** A device to use as is (it must allow 7 storage buffers per shader stage). Not destroyed by dispose(). */
  device?: GpuDeviceLike;
  powerPreference?: 'low-power' | 'high-performance';
  /** Passed to requestAdapter: 'compatibility' for OpenGL ES backends (Dawn in Node on Debian 12). */
  featureLevel?: 'core' | 'compatibility';
  /** 'f16': q, k, v live on the GPU as f16 (half the memory and bandwidth; inputs are rounded to f16 on upload),
   * products and sums stay f32. Needs the adapter feature `shader-f16`. Default 'f32'. */
  precision?: 'f32' | 'f16';
}

/** Storage buffers one kernel binds: q, k, v, bias, meta, out, aux. */
export const STORAGE_BUFFERS = 7;

export interface AcquiredDevice {
  device: GpuDeviceLike;
  /** "vendor architecture device/description" of the adapter, for messages and `backendInfo`. */
  description: string;
  /** The adapter is a CPU implementation (SwiftShader, llvmpipe/lavapipe, WARP…): correct but slower than wasm. */
  software: boolean;
  /** Destroy the device on dispose (false when the caller passed it). */
  owned: boolean;
  /** q, k, v are stored as f16. */
  f16: boolean;
  /** Loop iterations one shader invocation may run in all, where the driver stops loops beyond (Mesa's llvmpipe /
   * lavapipe: 65535, silently), as probed on the device; undefined where no limit was seen. The plan keeps every
   * workgroup under it. */
  loopBudget?: number;
}

/** `navigator.gpu` where the runtime has one. */
export function defaultGpu(): GpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  return nav?.gpu ?? undefined;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|warp|basic render/i;

/** Mesa's gallivm (llvmpipe, lavapipe) breaks out of a shader's loops once they have run 65535 iterations in all.
 * The budget is measured on the device (loop-probe.ts); the name decides only where the probe cannot run. */
const LOOP_LIMITED = /llvmpipe|lavapipe/i;

/** The device's loop budget: probed, else (probe failed) known from the adapter's name. */
async function loopBudget(device: GpuDeviceLike, byName: number | undefined): Promise<number | undefined> {
  try {
    return await probeLoopBudget(device);
  } catch {
    return byName;
  }
}

function describe(a: GpuAdapterLike | undefined): { description: string; software: boolean; loopBudget?: number } {
  const info = a?.info;
  const description = info
    ? [info.vendor, info.architecture, info.device, info.description].filter((x) => x).join(' ') || 'unknown adapter'
    : 'unknown adapter';
  const fallback = (a as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true ||
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
  const software = fallback || SOFTWARE.test(description);
  return LOOP_LIMITED.test(description) ? { description, software, loopBudget: 65535 } : { description, software };
}

/** Why no adapter could be had, or undefined when one can: used by 'auto' and by the tests' skip messages. */
export async function requestAdapter(opts: WebGpuDeviceOptions = {}): Promise<GpuAdapterLike | string> {
  if (opts.adapter) return opts.adapter;
  const gpu = opts.gpu ?? defaultGpu();
  if (!gpu) return 'this runtime has no WebGPU (no navigator.gpu; in Node pass { gpu: create([...]) } from the `webgpu` package)';
  const request: { powerPreference?: 'low-power' | 'high-performance'; featureLevel?: string } = {};
  if (opts.powerPreference) request.powerPreference = opts.powerPreference;
  if (opts.featureLevel) request.featureLevel = opts.featureLevel;
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter(request);
  } catch (e) {
    return `requestAdapter() threw: ${e instanceof Error ? e.message : String(e)}`;
  }
  return adapter ?? 'requestAdapter() returned null (no usable GPU or software adapter)';
}

export async function acquireDevice(opts: WebGpuDeviceOptions = {}): Promise<AcquiredDevice> {
  const precision = opts.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16') {
    throw new AttentionError('INVALID_OPTION', 'precision', "'f32' or 'f16'", String(precision));
  }
  const f16 = precision === 'f16';
  if (opts.device) {
    checkDeviceLimits(opts.device);
    if (f16 && !opts.device.features.has('shader-f16')) {
      throw new AttentionError('INVALID_OPTION', 'precision', "a device created with the 'shader-f16' feature for precision 'f16'", 'a device without it');
    }
    const about = describe(opts.adapter);
    return { device: opts.device, ...about, loopBudget: await loopBudget(opts.device, about.loopBudget), owned: false, f16 };
  }
  const adapter = await requestAdapter(opts);
  if (typeof adapter === 'string') {
    throw new AttentionError('NOT_INITIALIZED', 'webgpu', 'a WebGPU adapter', 'none', `webgpu: no adapter: ${adapter}`);
  }
  const al = adapter.limits;
  if (al.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS) {
    throw new AttentionError('NOT_INITIALIZED', 'webgpu', `an adapter with ≥ ${STORAGE_BUFFERS} storage buffers per shader stage`,
      String(al.maxStorageBuffersPerShaderStage));
  }
  if (f16 && !adapter.features.has('shader-f16')) {
    throw new AttentionError('NOT_INITIALIZED', 'precision', "an adapter with the 'shader-f16' feature", 'an adapter without it',
      `precision: 'f16' needs the adapter feature 'shader-f16', which this adapter (${describe(adapter).description}) lacks; use 'f32'`);
  }
  const requiredLimits: Record<string, number> = {
    maxStorageBuffersPerShaderStage: Math.min(al.maxStorageBuffersPerShaderStage, 8),
    maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
    maxBufferSize: al.maxBufferSize,
    maxComputeInvocationsPerWorkgroup: Math.min(al.maxComputeInvocationsPerWorkgroup, 256),
    maxComputeWorkgroupSizeX: Math.min(al.maxComputeWorkgroupSizeX, 256),
  };
  let device: GpuDeviceLike;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures: f16 ? ['shader-f16'] : [], label: 'webattn' });
  } catch (e) {
    throw new AttentionError('NOT_INITIALIZED', 'webgpu', 'a WebGPU device', 'none',
      `webgpu: requestDevice() failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const about = describe(adapter);
  return { device, ...about, loopBudget: await loopBudget(device, about.loopBudget), owned: true, f16 };
}

function checkDeviceLimits(device: GpuDeviceLike): void {
  if (device.limits.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS) {
    throw new AttentionError('INVALID_OPTION', 'device', `a device created with maxStorageBuffersPerShaderStage ≥ ${STORAGE_BUFFERS}`,
      String(device.limits.maxStorageBuffersPerShaderStage));
  }
}
