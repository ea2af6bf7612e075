/**
 * Float64 reference of the whole MultiHeadAttention layer (the oracle of test/layer-mha.test.ts): every step in
 * float64 with plain loops — projections (referenceMatmul), RoPE (the rotate_half / rotate_every_two formulation),
 * attention (referenceFromDescriptor, fed float64 q / k / v), output projection. No fusion, no cache: keys are all
 * the given keys (pass the whole sequence where the layer was fed a cache).
 */
import type { AttentionDescriptor } from '../descriptor.js';
import { referenceFromDescriptor } from './attention.js';
import { referenceMatmul } from './layer-ops.js';
import { referenceRope } from './layer-positional.js';
import { buildDescriptor } from '../spec.js';
import type { AttentionOptions, TensorLike } from '../types.js';
import type { MhaConfig } from '../layer/mha.js';
import { readWeights, type MhaWeights, type Projection } from '../layer/weights.js';

export interface ReferenceMhaOptions extends Omit<AttentionOptions, 'layout' | 'out' | 'convert' | 'variant'> {
  positionOffset?: number;
  keyPositionOffset?: number;
}

export interface ReferenceMhaResult {
  output: Float64Array;
  weights: Float64Array;
}

const linear = (x: ArrayLike<number>, rows: number, p: Projection): Float64Array =>
  referenceMatmul(x, p.weight, rows, p.in, p.out, { transB: true, bias: p.bias });

export function referenceMha(
  config: MhaConfig, weights: MhaWeights,
  query: TensorLike<Float32Array>, key?: TensorLike<Float32Array>, value?: TensorLike<Float32Array>,
  options: ReferenceMhaOptions = {},
): ReferenceMhaResult {
  const E = config.embedDim;
  const hq = config.numHeads;
  const hkv = config.numKvHeads ?? hq;
  const D = config.headDim ?? E / hq;
  const Dv = config.valueHeadDim ?? D;
  const w = readWeights(weights, { embedDim: E, hq, hkv, headDim: D, valueHeadDim: Dv, kdim: config.kdim ?? E, vdim: config.vdim ?? E });
  const dims = (t: TensorLike<Float32Array>): readonly number[] => ('shape' in t ? t.shape : t.dims);
  const qd = dims(query);
  const kIn = key ?? query;
  const vIn = value ?? kIn;
  const B = qd.length === 3 ? qd[0]! : 1;
  const nq = qd[qd.length - 2]!;
  const kd = dims(kIn);
  const nk = kd[kd.length - 2]!;

  const q = linear(query.data, B * nq, w.q);
  const k = linear(kIn.data, B * nk, w.k);
  const v = linear(vIn.data, B * nk, w.v);

  let qr: Float64Array = q;
  let kr: Float64Array = k;
  if (config.rope) {
    const r = config.rope === true ? {} : config.rope;
    const style = r.style ?? 'half';
    const qPos = options.positionOffset ?? 0;
    const kPos = options.keyPositionOffset ?? (key === undefined ? qPos : 0);
    // Rows of [B, N, H, D] in order: row t is token ⌊t / H⌋ mod N.
    qr = referenceRope(q, B * nq * hq, D, (t) => qPos + (Math.floor(t / hq) % nq), style, r.rotaryDim ?? D, r.base ?? 10000);
    kr = referenceRope(k, B * nk * hkv, D, (t) => kPos + (Math.floor(t / hkv) % nk), style, r.rotaryDim ?? D, r.base ?? 10000);
  }

  // The SDK's own validation builds the descriptor (same masks, same semantics); its operands are then swapped for
  // the float64 projections, which the reference reads by index only.
  const { positionOffset: _p, keyPositionOffset: _k, ...attn } = options;
  const d: AttentionDescriptor = buildDescriptor(
    { data: new Float32Array(qr.length), shape: [B, nq, hq, D] },
    { data: new Float32Array(kr.length), shape: [B, nk, hkv, D] },
    { data: new Float32Array(v.length), shape: [B, nk, hkv, Dv] },
    { ...attn, layout: 'BNHD' },
  );
  d.q.data = qr as unknown as Float32Array;
  d.k.data = kr as unknown as Float32Array;
  d.v.data = v as unknown as Float32Array;
  const a = referenceFromDescriptor(d);
  return { output: linear(a.output, B * nq, w.o), weights: a.weights };
}
