/**
 * GpuTensor: q, k or v kept on the GPU between calls (upload once, attend many times). The SDK validates shapes
 * exactly as for arrays: for validation a GpuTensor stands in as a data-less Float32Array of its length, so
 * buildDescriptor checks it like any other operand; the kernels then read the GPU buffer.
 */
import { AttentionError } from '../errors.js';
import type { AttentionInput, ConvertibleInput } from '../types.js';
import { OPERAND_CODES, checkLength, readTensor, toFloat32 } from '../validate/tensor.js';
import type { GpuBufferLike } from './gpu-types.js';

export class GpuTensor {
  private alive = true;

  /** Use WebGpuAttention.upload(). */
  constructor(
    readonly buffer: GpuBufferLike,
    readonly shape: readonly number[],
    readonly length: number,
    /** The backend whose device holds the buffer. */
    readonly owner: object,
  ) {}

  get destroyed(): boolean {
    return !this.alive;
  }

  /** Frees the GPU buffer; later calls that pass this tensor throw. Calls already made with it (queued or running)
   * still read it: then the buffer is freed when the last of them has finished. */
  destroy(): void {
    if (!this.alive) return;
    this.alive = false;
    if (!inUse.has(this)) this.buffer.destroy();
  }
}

/** Calls not yet finished that read each GpuTensor (absent = none). */
const inUse = new Map<GpuTensor, number>();

/** Marks the GpuTensors among a call's inputs as read by it until `releaseInputs` (called once the call settled). */
export function holdInputs(xs: readonly unknown[]): void {
  for (const x of xs) if (x instanceof GpuTensor) inUse.set(x, (inUse.get(x) ?? 0) + 1);
}

/** Ends holdInputs(xs): a tensor destroyed meanwhile is freed now that no call reads it any more. */
export function releaseInputs(xs: readonly unknown[]): void {
  for (const x of xs) {
    if (!(x instanceof GpuTensor)) continue;
    const n = (inUse.get(x) ?? 1) - 1;
    if (n > 0) {
      inUse.set(x, n);
      continue;
    }
    inUse.delete(x);
    if (x.destroyed) x.buffer.destroy();
  }
}

/** A q, k or v argument of the webgpu backend: an array tensor, or a tensor already on the GPU. */
export type WebGpuInput = AttentionInput | GpuTensor;

/** A q, k or v argument of the webgpu backend when the options say `convert: true`: what attention() then takes
 * (number[], Float64Array, other numeric typed arrays), or a tensor already on the GPU. */
export type WebGpuConvertibleInput = ConvertibleInput | GpuTensor;

/** The tensor's Float32Array data and dims, checked as for q/k/v; other numeric arrays are converted (a copy) only
 * with `convert`, as attention() does. */
export function readUpload(x: unknown, argument: string, convert = false): { data: Float32Array; dims: number[] } {
  const t = readTensor(x, argument, OPERAND_CODES);
  const data = toFloat32(t.data, argument, convert, OPERAND_CODES.type);
  checkLength(data.length, t.dims, argument, OPERAND_CODES.shape);
  return { data, dims: t.dims };
}

/** What buildDescriptor sees for an input: arrays as they are, a GpuTensor as a Float32Array with its length and
 * no elements (validation reads only lengths and dims). */
export function validationView(x: WebGpuConvertibleInput, argument: string, owner: object): ConvertibleInput {
  if (!(x instanceof GpuTensor)) return x;
  if (x.owner !== owner) {
    throw new AttentionError('INVALID_TYPE', argument, 'a GpuTensor uploaded by this webgpu backend', 'a GpuTensor of another backend');
  }
  if (x.destroyed) throw new AttentionError('INVALID_TYPE', argument, 'a live GpuTensor', 'a destroyed GpuTensor');
  const stand = new Float32Array(0);
  Object.defineProperty(stand, 'length', { value: x.length });
  return { data: stand, shape: x.shape };
}
