/**
 * The subset of the WebGPU API that the webgpu backend uses, typed structurally so that the SDK needs no global
 * WebGPU typings (`@webgpu/types`) and accepts the objects of every implementation: browsers (Dawn / SwiftShader),
 * Deno (wgpu) and Node's `webgpu` package (Dawn). A real `GPU`, `GPUAdapter` or `GPUDevice` satisfies these types.
 */

/** GPUBufferUsage flags (numeric, since Node has no WebGPU globals). */
export const BUFFER_USAGE = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;
export const MAP_MODE_READ = 0x1;
export const SHADER_STAGE_COMPUTE = 0x4;

export interface GpuBufferLike {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GpuErrorLike {
  readonly message: string;
}

export interface GpuDeviceLostInfoLike {
  readonly reason: string;
  readonly message: string;
}

export interface GpuBindGroupLayoutLike { readonly label?: string }
export interface GpuPipelineLayoutLike { readonly label?: string }
export interface GpuBindGroupLike { readonly label?: string }
export interface GpuShaderModuleLike {
  getCompilationInfo?(): Promise<{ readonly messages: readonly { readonly type: string; readonly message: string; readonly lineNum: number }[] }>;
}
export interface GpuComputePipelineLike { readonly label?: string }

export interface GpuComputePassLike {
  setPipeline(p: GpuComputePipelineLike): void;
  setBindGroup(index: number, g: GpuBindGroupLike): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface GpuCommandEncoderLike {
  beginComputePass(descriptor?: { label?: string }): GpuComputePassLike;
  copyBufferToBuffer(src: GpuBufferLike, srcOffset: number, dst: GpuBufferLike, dstOffset: number, size: number): void;
  finish(): unknown;
}

export interface GpuQueueLike {
  writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferView, dataOffset?: number, size?: number): void;
  submit(commands: unknown[]): void;
  onSubmittedWorkDone(): Promise<void>;
}

export interface GpuSupportedLimitsLike {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

export interface GpuFeaturesLike {
  has(name: string): boolean;
}

export interface GpuBindGroupLayoutEntry {
  binding: number;
  visibility: number;
  buffer: { type: 'uniform' | 'storage' | 'read-only-storage' };
}

export interface GpuDeviceLike {
  readonly limits: GpuSupportedLimitsLike;
  readonly features: GpuFeaturesLike;
  readonly queue: GpuQueueLike;
  readonly lost: Promise<GpuDeviceLostInfoLike>;
  createBuffer(descriptor: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): GpuBufferLike;
  createShaderModule(descriptor: { code: string; label?: string }): GpuShaderModuleLike;
  createBindGroupLayout(descriptor: { entries: GpuBindGroupLayoutEntry[]; label?: string }): GpuBindGroupLayoutLike;
  createPipelineLayout(descriptor: { bindGroupLayouts: GpuBindGroupLayoutLike[]; label?: string }): GpuPipelineLayoutLike;
  createComputePipelineAsync(descriptor: {
    layout: GpuPipelineLayoutLike;
    compute: { module: GpuShaderModuleLike; entryPoint: string };
    label?: string;
  }): Promise<GpuComputePipelineLike>;
  createBindGroup(descriptor: {
    layout: GpuBindGroupLayoutLike;
    entries: { binding: number; resource: { buffer: GpuBufferLike; offset?: number; size?: number } }[];
    label?: string;
  }): GpuBindGroupLike;
  createCommandEncoder(descriptor?: { label?: string }): GpuCommandEncoderLike;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<GpuErrorLike | null>;
  destroy(): void;
}

export interface GpuAdapterLike {
  readonly features: GpuFeaturesLike;
  readonly limits: GpuSupportedLimitsLike;
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly device?: string; readonly description?: string };
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number>; label?: string }): Promise<GpuDeviceLike>;
}

/** `navigator.gpu`, or the object `create()` of Node's `webgpu` package returns. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance'; featureLevel?: string }): Promise<GpuAdapterLike | null>;
}
