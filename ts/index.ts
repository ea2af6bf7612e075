/** webattn public API. */
export { init, isInitialized, memoryBytes } from './core/loader.js';
export type { InitSource } from './core/loader.js';
export { attention } from './attention.js';
export { AttentionError } from './errors.js';
export { buildDescriptor } from './spec.js';
export { referenceAttention } from './reference/attention.js';
export type { ReferenceResult } from './reference/attention.js';
export { createAttention, AttentionPool } from './pool/pool.js';
export { PoolTaskError } from './pool/scheduler.js';
export type { BatchItem, BatchOptions, BatchProgress, PoolOptions, RunOptions } from './pool/pool.js';
export { PoolKVCache } from './pool/kv-cache.js';
export type { PoolKVCacheOptions } from './pool/kv-cache.js';
export { createWebGpuAttention, AutoAttention, AUTO_MIN_FLOPS } from './webgpu/create.js';
export type { AutoOptions, BackendChoice, CreateAttentionOptions, WebGpuAttentionOptions } from './webgpu/create.js';
export { WebGpuAttention } from './webgpu/backend.js';
export type {
  WebGpuBatchItem, WebGpuBatchOptions, WebGpuFallbackOptions, WebGpuRunOptions, WebGpuStats, WebGpuUploadOptions,
} from './webgpu/backend.js';
export { GpuTensor } from './webgpu/tensor.js';
export type { WebGpuConvertibleInput, WebGpuInput } from './webgpu/tensor.js';
export type { WebGpuDeviceOptions } from './webgpu/device.js';
export type { GpuAdapterLike, GpuDeviceLike, GpuLike } from './webgpu/gpu-types.js';
export type { AttentionDescriptor, Strides, StridedView } from './descriptor.js';
export type {
  Alignment,
  AttentionErrorCode,
  AttentionInput,
  AttentionOptions,
  AttentionResult,
  BiasInput,
  CausalOption,
  ConvertibleFloats,
  ConvertibleInput,
  ConvertOptions,
  Layout,
  Lengths,
  MaskInput,
  Similarity,
  TensorLike,
  WindowOption,
} from './types.js';
export { heatmapSvg } from './viz/heatmap.js';
export type { ColorScale, HeatmapOptions, HeatmapShape } from './viz/heatmap.js';
export { headViewSvg } from './viz/headview.js';
export type { HeadViewOptions, HeadViewShape } from './viz/headview.js';
export { maskPattern } from './viz/pattern.js';
export type { PatternSelection, PatternShape } from './viz/pattern.js';
export { maskPatternSvg } from './viz/maskview.js';
export type { MaskPatternOptions } from './viz/maskview.js';
export {
  attentionDistance, attentionRollout, headAblationMask, headEntropy, headImportance, mixedLayers, rowEntropy, topK,
} from './viz/analysis.js';
export { attentionFlow } from './viz/flow.js';
export type { WeightsArray, WeightsShape } from './viz/analysis.js';
export { matmul } from './layer/gemm.js';
export type { MatmulOptions, MatmulResult } from './layer/gemm.js';
export { linformerProjection, performerProjection } from './variants/random.js';
export type { LinearVariant, LinformerVariant, PerformerVariant, VariantKind, VariantOption } from './variants/types.js';
export type { BlockLayoutOption, CsrOption, RandomBlocksOption, SparsityOption } from './sparse/types.js';
export { lshRotations } from './variants/lsh.js';
export type { LshVariant } from './variants/types.js';
export { referenceVariantAttention } from './reference/variants/index.js';
export type { VariantReferenceResult } from './reference/variants/index.js';
export * from './decode/index.js';
export { alibiSlopes, applyRope, ropeFrequencies, sinusoidalEncoding } from './layer/positional.js';
export type { RopeOptions, RopeStyle, SinusoidalOptions } from './layer/positional.js';
export { t5Bucket, t5RelativeBias } from './layer/t5.js';
export type { T5BucketOptions } from './layer/t5.js';
export type { RelativeBiasInput } from './types.js';
export { MhaCache, MultiHeadAttention } from './layer/mha.js';
export type {
  LinearWeights, MhaAttentionOptions, MhaConfig, MhaForwardOptions, MhaResult, MhaRopeConfig, MhaWeights, SeparateMhaWeights,
  TorchMhaWeights,
} from './layer/mha.js';
export { referenceMha } from './reference/layer.js';
export type { ReferenceMhaOptions, ReferenceMhaResult } from './reference/layer.js';
