/**
 * Pipeline cache: one bind group layout for every kernel, and one compute pipeline per kernel variant (flash with
 * its tile configuration, merge, weights), compiled on first use and reused for every later call.
 */
import { AttentionError } from '../errors.js';
import { BINDING, type BindingName } from './shaders/common.wgsl.js';
import { flashWgsl, type FlashConfig } from './shaders/flash.wgsl.js';
import { mergeWgsl } from './shaders/merge.wgsl.js';
import { weightsWgsl } from './shaders/weights.wgsl.js';
import { SHADER_STAGE_COMPUTE } from './gpu-types.js';
import type { GpuBindGroupLayoutLike, GpuComputePipelineLike, GpuDeviceLike, GpuPipelineLayoutLike } from './gpu-types.js';

export type KernelKey = { kind: 'flash'; config: FlashConfig } | { kind: 'merge' } | { kind: 'weights'; f16: boolean };

export class Pipelines {
  readonly layout: GpuBindGroupLayoutLike;
  private readonly pipelineLayout: GpuPipelineLayoutLike;
  private readonly cache = new Map<string, Promise<GpuComputePipelineLike>>();
  /** Shader modules compiled so far (the tests check that repeated calls compile nothing). */
  compiled = 0;

  constructor(private readonly device: GpuDeviceLike) {
    const entries = (Object.keys(BINDING) as BindingName[]).map((name) => ({
      binding: BINDING[name],
      visibility: SHADER_STAGE_COMPUTE,
      buffer: { type: name === 'params' ? 'uniform' as const : name === 'out' ? 'storage' as const : 'read-only-storage' as const },
    }));
    this.layout = device.createBindGroupLayout({ entries, label: 'webattn' });
    this.pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [this.layout], label: 'webattn' });
  }

  get(key: KernelKey): Promise<GpuComputePipelineLike> {
    const id = key.kind === 'flash' ? `flash:${JSON.stringify(key.config)}` : key.kind === 'weights' ? `weights:${key.f16 ? 'f16' : 'f32'}` : key.kind;
    let p = this.cache.get(id);
    if (!p) {
      const code = key.kind === 'flash' ? flashWgsl(key.config) : key.kind === 'merge' ? mergeWgsl() : weightsWgsl(key.f16);
      p = this.compile(id, code);
      this.cache.set(id, p);
      p.catch(() => this.cache.delete(id));
    }
    return p;
  }

  private async compile(label: string, code: string): Promise<GpuComputePipelineLike> {
    this.compiled += 1;
    const module = this.device.createShaderModule({ code, label });
    try {
      return await this.device.createComputePipelineAsync({ layout: this.pipelineLayout, compute: { module, entryPoint: 'main' }, label });
    } catch (e) {
      let detail = '';
      const info = await module.getCompilationInfo?.().catch(() => undefined);
      if (info) detail = info.messages.map((m) => `\n  ${m.type} line ${m.lineNum}: ${m.message}`).join('');
      throw new AttentionError('KERNEL_ERROR', 'webgpu', `a compiled ${label} kernel`, 'a failed compilation',
        `webgpu: compiling ${label} failed: ${e instanceof Error ? e.message : String(e)}${detail}`);
    }
  }
}
