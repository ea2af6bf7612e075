/**
 * The weights of a MultiHeadAttention layer: the two accepted layouts, their validation against the configuration,
 * and the stacked projection matrices used for fused projections.
 *
 * Every matrix is a row-major Float32Array in nn.Linear layout [out_features, in_features] (y = x·Wᵀ + b).
 * - PyTorch `nn.MultiheadAttention` state dict (`TorchMhaWeights`): `in_proj_weight` [3E, E] (rows: q, then k, then
 *   v) and `in_proj_bias` [3E], or `q_proj_weight` [E, E], `k_proj_weight` [E, kdim], `v_proj_weight` [E, vdim]
 *   when kdim / vdim ≠ E; `out_proj.weight` [E, E], `out_proj.bias` [E]. Biases are absent with bias=False.
 *   `bias_k` / `bias_v` (add_bias_kv=True) are not supported.
 * - Separate projections (`SeparateMhaWeights`, the Hugging Face q_proj / k_proj / v_proj / o_proj form, GQA
 *   included): q.weight [Hq·D, E], k.weight [Hkv·D, kdim], v.weight [Hkv·Dv, vdim], o.weight [E, Hq·Dv], each
 *   with an optional bias of its out_features.
 */
import { AttentionError } from '../errors.js';
import { isFloat32Array, typeName } from '../validate/describe.js';

export interface LinearWeights {
  /** [out_features, in_features], row-major. */
  weight: Float32Array;
  /** [out_features]. */
  bias?: Float32Array;
}

export interface SeparateMhaWeights {
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  o: LinearWeights;
}

/** The keys of `nn.MultiheadAttention.state_dict()` (values as Float32Array, e.g. `t.detach().numpy().ravel()`). */
export interface TorchMhaWeights {
  in_proj_weight?: Float32Array;
  q_proj_weight?: Float32Array;
  k_proj_weight?: Float32Array;
  v_proj_weight?: Float32Array;
  in_proj_bias?: Float32Array;
  'out_proj.weight': Float32Array;
  'out_proj.bias'?: Float32Array;
}

export type MhaWeights = SeparateMhaWeights | TorchMhaWeights;

/** Sizes the weights must have: E = embedDim, D / Dv per head, kdim / vdim the widths of key / value inputs. */
export interface Dims {
  embedDim: number;
  hq: number;
  hkv: number;
  headDim: number;
  valueHeadDim: number;
  kdim: number;
  vdim: number;
}

/** One projection: weight [out, in] (possibly a view into a stacked matrix) and optional bias. */
export interface Projection {
  weight: Float32Array;
  bias?: Float32Array | undefined;
  out: number;
  in: number;
}

/** The layer's projections; `qkv` stacks q, k, v (when kdim = vdim = E) and `kv` stacks k, v (when kdim = vdim):
 * q, k, v are views into these, so a stacked copy costs no extra memory. */
export interface LayerWeights {
  q: Projection;
  k: Projection;
  v: Projection;
  o: Projection;
  qkv?: Projection;
  kv?: Projection;
}

function matrix(x: unknown, argument: string, rows: number, cols: number): Float32Array {
  if (!isFloat32Array(x)) throw new AttentionError('INVALID_TYPE', argument, `Float32Array [${rows}, ${cols}]`, typeName(x));
  if (x.length !== rows * cols) {
    throw new AttentionError('INVALID_SHAPE', argument, `${rows * cols} elements ([${rows}, ${cols}])`, `${x.length} elements`);
  }
  return x;
}

function vector(x: unknown, argument: string, n: number): Float32Array | undefined {
  if (x === undefined) return undefined;
  return matrix(x, argument, 1, n);
}

const isTorch = (w: object): w is TorchMhaWeights => 'out_proj.weight' in w;

/** Stacks projections with the same in_features: weight rows concatenated, missing biases as zeros. */
function stack(parts: Projection[]): Projection {
  const out = parts.reduce((s, p) => s + p.out, 0);
  const inF = parts[0]!.in;
  const weight = new Float32Array(out * inF);
  const anyBias = parts.some((p) => p.bias);
  const bias = anyBias ? new Float32Array(out) : undefined;
  let row = 0;
  for (const p of parts) {
    weight.set(p.weight, row * inF);
    if (p.bias) bias!.set(p.bias, row);
    row += p.out;
  }
  return { weight, bias, out, in: inF };
}

/** Views of rows [row0, row0 + out) of a stacked projection. */
function view(s: Projection, row0: number, out: number): Projection {
  return {
    weight: s.weight.subarray(row0 * s.in, (row0 + out) * s.in),
    bias: s.bias?.subarray(row0, row0 + out),
    out,
    in: s.in,
  };
}

/** Validates `w` against `d` and returns the projections, stacked where their input widths allow. */
export function readWeights(w: unknown, d: Dims): LayerWeights {
  if (typeof w !== 'object' || w === null) {
    throw new AttentionError('INVALID_TYPE', 'weights', 'an object ({ q, k, v, o } or a PyTorch MHA state dict)', typeName(w));
  }
  const qOut = d.hq * d.headDim;
  const kOut = d.hkv * d.headDim;
  const vOut = d.hkv * d.valueHeadDim;
  let q: Projection, k: Projection, v: Projection, o: Projection;
  let qkv: Projection | undefined;
  if (isTorch(w)) {
    const t = w as TorchMhaWeights & Record<string, unknown>;
    for (const key of ['bias_k', 'bias_v']) {
      if (t[key] !== undefined) {
        throw new AttentionError('INVALID_OPTION', `weights.${key}`, 'no add_bias_kv parameters', `${key} present`,
          `weights.${key}: nn.MultiheadAttention(add_bias_kv=True) is not supported`);
      }
    }
    if (d.hq !== d.hkv || d.valueHeadDim !== d.headDim || d.hq * d.headDim !== d.embedDim) {
      throw new AttentionError('INVALID_OPTION', 'weights', 'the separate { q, k, v, o } layout for GQA or head dims ≠ E / H',
        'a PyTorch nn.MultiheadAttention state dict', 'weights: nn.MultiheadAttention has Hkv = Hq and head_dim = E / H');
    }
    const E = d.embedDim;
    const inBias = vector(t.in_proj_bias, 'weights.in_proj_bias', 3 * E);
    if (t.in_proj_weight !== undefined) {
      if (d.kdim !== E || d.vdim !== E) {
        throw new AttentionError('INVALID_OPTION', 'weights.in_proj_weight', 'q_proj_weight, k_proj_weight, v_proj_weight when kdim / vdim ≠ E',
          'in_proj_weight');
      }
      qkv = { weight: matrix(t.in_proj_weight, 'weights.in_proj_weight', 3 * E, E), bias: inBias, out: 3 * E, in: E };
      q = view(qkv, 0, E);
      k = view(qkv, E, E);
      v = view(qkv, 2 * E, E);
    } else {
      q = { weight: matrix(t.q_proj_weight, 'weights.q_proj_weight', E, E), bias: inBias?.subarray(0, E), out: E, in: E };
      k = { weight: matrix(t.k_proj_weight, 'weights.k_proj_weight', E, d.kdim), bias: inBias?.subarray(E, 2 * E), out: E, in: d.kdim };
      v = { weight: matrix(t.v_proj_weight, 'weights.v_proj_weight', E, d.vdim), bias: inBias?.subarray(2 * E), out: E, in: d.vdim };
    }
    o = { weight: matrix(t['out_proj.weight'], 'weights.out_proj.weight', E, E), bias: vector(t['out_proj.bias'], 'weights.out_proj.bias', E), out: E, in: E };
  } else {
    const s = w as Partial<SeparateMhaWeights>;
    const lin = (p: LinearWeights | undefined, name: string, out: number, inF: number): Projection => {
      if (typeof p !== 'object' || p === null) {
        throw new AttentionError('INVALID_TYPE', `weights.${name}`, '{ weight, bias? } (or a PyTorch state dict with out_proj.weight)', typeName(p));
      }
      return { weight: matrix(p.weight, `weights.${name}.weight`, out, inF), bias: vector(p.bias, `weights.${name}.bias`, out), out, in: inF };
    };
    q = lin(s.q, 'q', qOut, d.embedDim);
    k = lin(s.k, 'k', kOut, d.kdim);
    v = lin(s.v, 'v', vOut, d.vdim);
    o = lin(s.o, 'o', d.embedDim, d.hq * d.valueHeadDim);
  }
  if (!qkv && d.kdim === d.embedDim && d.vdim === d.embedDim) {
    qkv = stack([q, k, v]);
    [q, k, v] = [view(qkv, 0, qOut), view(qkv, qOut, kOut), view(qkv, qOut + kOut, vOut)];
  }
  let kv: Projection | undefined;
  if (qkv) kv = view(qkv, qOut, kOut + vOut);
  else if (d.kdim === d.vdim) {
    kv = stack([k, v]);
    [k, v] = [view(kv, 0, kOut), view(kv, kOut, vOut)];
  }
  const out: LayerWeights = { q, k, v, o };
  if (qkv) out.qkv = qkv;
  if (kv) out.kv = kv;
  return out;
}
