/**
 * MultiHeadAttention: the whole attention layer for inference — input projections (wasm SIMD128 GEMM, fused into
 * one product when the weights and inputs allow), optional rotary embeddings, exact attention (every option of
 * attention(): masks, lengths, bias, ALiBi, softcap, GQA/MQA), output projection, and an optional KV cache.
 *
 * Inputs are batch-first, [B, N, E] or [N, E] (PyTorch `batch_first=True`). The projected q / k / v are
 * [B, N, H, D] rows, i.e. attention() in layout 'BNHD', so nothing is transposed between the products and the
 * kernel. Weights: see ./weights.ts (PyTorch nn.MultiheadAttention state dict, or separate q / k / v / o).
 *
 * y = (softmax(q·kᵀ·scale + masks/bias) · v) · W_oᵀ + b_o with q = x_q·W_qᵀ + b_q, k = x_k·W_kᵀ + b_k,
 * v = x_v·W_vᵀ + b_v, heads split as [.., H, D]; with `rope`, q and k are rotated (./positional.ts) first.
 */
import { attention } from '../attention.js';
import { AttentionError } from '../errors.js';
import type { AttentionOptions, AttentionResult, TensorLike } from '../types.js';
import { isFloat32Array, shapeString, typeName, valueString } from '../validate/describe.js';
import { OPERAND_CODES, checkLength, fail, readTensor } from '../validate/tensor.js';
import { MhaCache } from './cache.js';
import { gemmInto } from './gemm.js';
import { applyRope, type RopeStyle } from './positional.js';
import { WasmMatrix } from './resident.js';
import { readWeights, type Dims, type LayerWeights, type MhaWeights, type Projection } from './weights.js';

export { MhaCache } from './cache.js';
export type { LinearWeights, MhaWeights, SeparateMhaWeights, TorchMhaWeights } from './weights.js';

export interface MhaRopeConfig {
  /** Default 'half' (GPT-NeoX / Hugging Face LLaMA); 'interleaved' for GPT-J / Meta LLaMA checkpoints. */
  style?: RopeStyle;
  /** Default 10000. */
  base?: number;
  /** Rotated components per head (even, ≤ D). Default D. */
  rotaryDim?: number;
}

export interface MhaConfig {
  /** E: width of the query input and of the output. */
  embedDim: number;
  /** Hq: query heads. */
  numHeads: number;
  /** Hkv: key/value heads (GQA; 1 = MQA). Default numHeads. */
  numKvHeads?: number;
  /** D: query/key width per head. Default embedDim / numHeads. */
  headDim?: number;
  /** Dv: value width per head. Default headDim. */
  valueHeadDim?: number;
  /** Width of the key input (cross-attention). Default embedDim. */
  kdim?: number;
  /** Width of the value input. Default embedDim. */
  vdim?: number;
  /** Rotary embeddings on q and k (true = defaults). */
  rope?: boolean | MhaRopeConfig;
  /** Keep a copy of the weights in wasm memory (uploaded at the first forward) instead of copying them in for every
   * product. Default true; `dispose()` frees the copy. Weights changed after the first forward need a dispose(). */
  residentWeights?: boolean;
}

/** The attention() options a layer call forwards (the layer fixes layout and output). */
export type MhaAttentionOptions = Omit<AttentionOptions, 'layout' | 'out' | 'convert' | 'variant'>;

export interface MhaForwardOptions extends MhaAttentionOptions {
  /** RoPE position of the first query (and of the first new key in self-attention). Default: the cache length, else 0. */
  positionOffset?: number;
  /** RoPE position of the first key of a separate key input (cross-attention). Default 0. */
  keyPositionOffset?: number;
  /** With returnWeights: average the weights over the heads, [B, Nq, Nk] (PyTorch's average_attn_weights=True). */
  averageWeights?: boolean;
  /** Decoding (self-attention only): the new keys/values are appended to it and the queries attend to everything it
   * holds. With a cache, `causal: true` means 'bottom-right' (query i sees the cache and the new tokens up to itself). */
  cache?: MhaCache;
}

export interface MhaResult {
  /** [B, Nq, E] (or [Nq, E] for a 2-D query). */
  output: Float32Array;
  shape: number[];
  /** Softmax weights (with returnWeights): per head [B, Hq, Nq, Nk], or [B, Nq, Nk] with averageWeights. */
  weights?: Float32Array;
  /** [B, Hq, Nq] (with returnLse). */
  lse?: Float32Array;
}

interface Resolved extends Dims {
  rope?: Required<MhaRopeConfig> | undefined;
  residentWeights: boolean;
}

const CONFIG_KEYS = ['embedDim', 'numHeads', 'numKvHeads', 'headDim', 'valueHeadDim', 'kdim', 'vdim', 'rope', 'residentWeights'];

function positiveInt(v: unknown, argument: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail('INVALID_OPTION', argument, 'a positive integer', valueString(v));
  return v;
}

function resolveConfig(c: unknown): Resolved {
  if (typeof c !== 'object' || c === null) fail('INVALID_OPTION', 'config', 'an MhaConfig object', typeName(c));
  for (const key of Object.keys(c)) {
    if (!CONFIG_KEYS.includes(key)) fail('INVALID_OPTION', `config.${key}`, `one of ${CONFIG_KEYS.join(', ')}`, `unknown key '${key}'`);
  }
  const o = c as MhaConfig;
  const embedDim = positiveInt(o.embedDim, 'config.embedDim');
  const hq = positiveInt(o.numHeads, 'config.numHeads');
  const hkv = positiveInt(o.numKvHeads, 'config.numKvHeads', hq);
  if (hq % hkv !== 0) fail('INVALID_HEADS', 'config.numKvHeads', `a divisor of numHeads (${hq})`, String(hkv));
  if (o.headDim === undefined && embedDim % hq !== 0) {
    fail('INVALID_OPTION', 'config.headDim', `given, since embedDim (${embedDim}) is not a multiple of numHeads (${hq})`, 'undefined');
  }
  const headDim = positiveInt(o.headDim, 'config.headDim', embedDim / hq);
  const valueHeadDim = positiveInt(o.valueHeadDim, 'config.valueHeadDim', headDim);
  const kdim = positiveInt(o.kdim, 'config.kdim', embedDim);
  const vdim = positiveInt(o.vdim, 'config.vdim', embedDim);
  let rope: Required<MhaRopeConfig> | undefined;
  if (o.rope !== undefined && o.rope !== false) {
    const r = o.rope === true ? {} : o.rope;
    if (typeof r !== 'object' || r === null) fail('INVALID_OPTION', 'config.rope', 'true or { style?, base?, rotaryDim? }', valueString(r));
    rope = { style: r.style ?? 'half', base: r.base ?? 10000, rotaryDim: r.rotaryDim ?? headDim };
    if (rope.style !== 'half' && rope.style !== 'interleaved') fail('INVALID_OPTION', 'config.rope.style', "'half' or 'interleaved'", valueString(rope.style));
    if (typeof rope.base !== 'number' || !Number.isFinite(rope.base) || rope.base <= 0) {
      fail('INVALID_OPTION', 'config.rope.base', 'a finite number > 0', valueString(rope.base));
    }
  }
  const residentWeights = o.residentWeights ?? true;
  if (typeof residentWeights !== 'boolean') fail('INVALID_OPTION', 'config.residentWeights', 'true or false', valueString(residentWeights));
  return { embedDim, hq, hkv, headDim, valueHeadDim, kdim, vdim, rope, residentWeights };
}

interface Input {
  data: Float32Array;
  b: number;
  n: number;
  rank: number;
}

function readInput(x: unknown, argument: string, width: number, widthName: string): Input {
  const t = readTensor(x, argument, OPERAND_CODES);
  if (!isFloat32Array(t.data)) fail('INVALID_TYPE', argument, 'Float32Array', typeName(t.data));
  checkLength(t.data.length, t.dims, argument, 'INVALID_SHAPE');
  const d = t.dims;
  if ((d.length !== 2 && d.length !== 3) || d[d.length - 1] !== width) {
    fail('INVALID_SHAPE', argument, `[B, N, ${width}] or [N, ${width}] (${widthName} = ${width})`, shapeString(d));
  }
  return { data: t.data, b: d.length === 3 ? d[0]! : 1, n: d[d.length - 2]!, rank: d.length };
}

const sameData = (a: Float32Array, b: Float32Array): boolean =>
  a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length);

/** y [rows, p.out] = x [rows, p.in]·Wᵀ + b, with W read from wasm memory when it is resident there. */
function project(x: Float32Array, rows: number, p: Projection, resident?: Map<Projection, WasmMatrix>): Float32Array {
  const out = new Float32Array(rows * p.out);
  gemmInto({ m: rows, n: p.out, k: p.in, a: x, b: resident?.get(p) ?? p.weight, transB: true, bias: p.bias, out });
  return out;
}

/** Uploads the layer's matrices (stacks once, q / k / v as views of them). */
function upload(w: LayerWeights, owned: WasmMatrix[]): Map<Projection, WasmMatrix> {
  const m = new Map<Projection, WasmMatrix>();
  const put = (p: Projection): WasmMatrix => {
    const x = WasmMatrix.upload(p.weight, p.out, p.in);
    owned.push(x);
    m.set(p, x);
    return x;
  };
  if (w.qkv) {
    const s = put(w.qkv);
    m.set(w.q, s.view(0, w.q.out));
    m.set(w.k, s.view(w.q.out, w.k.out));
    m.set(w.v, s.view(w.q.out + w.k.out, w.v.out));
    if (w.kv) m.set(w.kv, s.view(w.q.out, w.kv.out));
  } else {
    put(w.q);
    if (w.kv) {
      const s = put(w.kv);
      m.set(w.k, s.view(0, w.k.out));
      m.set(w.v, s.view(w.k.out, w.v.out));
    } else {
      put(w.k);
      put(w.v);
    }
  }
  put(w.o);
  return m;
}

/** The mean over heads of [b, h, plane] weights: [b, plane]. */
function headMean(w: Float32Array, b: number, h: number, plane: number): Float32Array {
  const out = new Float32Array(b * plane);
  for (let bi = 0; bi < b; bi++) {
    const o = out.subarray(bi * plane, (bi + 1) * plane);
    for (let hi = 0; hi < h; hi++) {
      const src = w.subarray((bi * h + hi) * plane, (bi * h + hi + 1) * plane);
      for (let x = 0; x < plane; x++) o[x]! += src[x]!;
    }
    for (let x = 0; x < plane; x++) o[x]! /= h;
  }
  return out;
}

/** Columns [c0, c0 + w) of a [rows, width] matrix, compact. */
function columns(y: Float32Array, rows: number, width: number, c0: number, w: number): Float32Array {
  if (c0 === 0 && w === width) return y;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(y.subarray(r * width + c0, r * width + c0 + w), r * w);
  return out;
}

export class MultiHeadAttention {
  readonly config: Readonly<Resolved>;
  private readonly w: LayerWeights;
  private resident: Map<Projection, WasmMatrix> | undefined;
  private owned: WasmMatrix[] = [];

  /** Validates the configuration and the weights (copied once into stacked matrices when they come separate). */
  constructor(config: MhaConfig, weights: MhaWeights) {
    this.config = resolveConfig(config);
    this.w = readWeights(weights, this.config);
    const r = this.config.rope;
    if (r && (!Number.isInteger(r.rotaryDim) || r.rotaryDim < 2 || r.rotaryDim % 2 !== 0 || r.rotaryDim > this.config.headDim)) {
      fail('INVALID_OPTION', 'config.rope.rotaryDim', `an even integer in [2, headDim = ${this.config.headDim}]`, valueString(r.rotaryDim));
    }
  }

  /** Frees the wasm copy of the weights (uploaded again if the layer is used again). */
  dispose(): void {
    for (const m of this.owned) m.dispose();
    this.owned = [];
    this.resident = undefined;
  }

  /** The resident weights, uploaded on first use (undefined when `residentWeights` is off). */
  private weightsInWasm(): Map<Projection, WasmMatrix> | undefined {
    if (!this.config.residentWeights) return undefined;
    if (!this.resident) {
      try {
        this.resident = upload(this.w, this.owned);
      } catch (e) {
        this.dispose();
        throw e;
      }
    }
    return this.resident;
  }

  /** An empty KV cache for `batch` sequences decoded together. */
  createCache(batch = 1, capacity = 64): MhaCache {
    const c = this.config;
    return new MhaCache(positiveInt(batch, 'batch'), c.hkv * c.headDim, c.hkv * c.valueHeadDim, capacity);
  }

  /**
   * One layer call. Self-attention: `forward(x)` (or key and value holding the same data as the query: the q/k/v
   * projections then run as one fused product). Cross-attention: `forward(x, memory)` (value = key) or
   * `forward(x, key, value)`. Requires `await init()`.
   */
  forward(query: TensorLike<Float32Array>, key?: TensorLike<Float32Array>, value?: TensorLike<Float32Array>,
    options: MhaForwardOptions = {}): MhaResult {
    const c = this.config;
    const { positionOffset, keyPositionOffset, cache, averageWeights, ...rest } = options;
    if (averageWeights !== undefined && typeof averageWeights !== 'boolean') fail('INVALID_OPTION', 'averageWeights', 'true or false', valueString(averageWeights));
    const q = readInput(query, 'query', c.embedDim, 'embedDim');
    const k = key === undefined ? q : readInput(key, 'key', c.kdim, 'kdim');
    const v = value === undefined ? k : readInput(value, 'value', c.vdim, 'vdim');
    if (k.b !== q.b || v.b !== q.b) fail('INVALID_SHAPE', k.b !== q.b ? 'key' : 'value', `batch ${q.b} (of query)`, `batch ${k.b !== q.b ? k.b : v.b}`);
    if (v.n !== k.n) fail('INVALID_SHAPE', 'value', `${k.n} rows (N of key)`, `${v.n} rows`);
    const self = sameData(k.data, q.data) && sameData(v.data, q.data) && k.n === q.n;
    if (cache !== undefined) {
      if (!self) {
        fail('INVALID_OPTION', 'cache', 'self-attention (key and value omitted or the query itself)',
          'a separate key/value input (cross-attention keys are not appended to a decoding cache)');
      }
      if (!(cache instanceof MhaCache) || cache.batch !== q.b || cache.keyWidth !== c.hkv * c.headDim || cache.valueWidth !== c.hkv * c.valueHeadDim) {
        fail('INVALID_OPTION', 'cache', `a MhaCache of this layer for batch ${q.b} (createCache(${q.b}))`,
          cache instanceof MhaCache ? `a cache for batch ${cache.batch}, widths ${cache.keyWidth}/${cache.valueWidth}` : typeName(cache));
      }
    }
    const qRows = q.b * q.n;
    const kRows = k.b * k.n;
    const qW = c.hq * c.headDim;
    const kW = c.hkv * c.headDim;
    const vW = c.hkv * c.valueHeadDim;
    const res = this.weightsInWasm();

    // Projections: one product for q, k, v (self-attention), or q alone and k, v fused when they share an input.
    let qp: Float32Array, kp: Float32Array, vp: Float32Array;
    if (self && this.w.qkv) {
      const y = project(q.data, qRows, this.w.qkv, res);
      const width = qW + kW + vW;
      [qp, kp, vp] = [columns(y, qRows, width, 0, qW), columns(y, qRows, width, qW, kW), columns(y, qRows, width, qW + kW, vW)];
    } else {
      qp = project(q.data, qRows, this.w.q, res);
      if (sameData(k.data, v.data) && this.w.kv) {
        const y = project(k.data, kRows, this.w.kv, res);
        [kp, vp] = [columns(y, kRows, kW + vW, 0, kW), columns(y, kRows, kW + vW, kW, vW)];
      } else {
        kp = project(k.data, kRows, this.w.k, res);
        vp = project(v.data, kRows, this.w.v, res);
      }
    }

    const qPos = positionOffset ?? cache?.length ?? 0;
    if (c.rope) {
      const rope = { style: c.rope.style, base: c.rope.base, rotaryDim: c.rope.rotaryDim, layout: 'BNHD' as const };
      const kPos = keyPositionOffset ?? (self || key === undefined ? qPos : 0);
      applyRope({ data: qp, shape: [q.b, q.n, c.hq, c.headDim] }, { ...rope, offset: qPos, out: qp });
      applyRope({ data: kp, shape: [k.b, k.n, c.hkv, c.headDim] }, { ...rope, offset: kPos, out: kp });
    }

    let nk = k.n;
    const before = cache?.length ?? 0;
    if (cache) {
      cache.append(kp, vp, k.n);
      kp = cache.keys();
      vp = cache.values();
      nk = cache.length;
    }
    const attnOptions: AttentionOptions = { ...rest, layout: 'BNHD' };
    if (cache && attnOptions.causal === true) attnOptions.causal = 'bottom-right';
    let r: AttentionResult;
    let output: Float32Array;
    try {
      r = attention(
        { data: qp, shape: [q.b, q.n, c.hq, c.headDim] },
        { data: kp, shape: [k.b, nk, c.hkv, c.headDim] },
        { data: vp, shape: [k.b, nk, c.hkv, c.valueHeadDim] },
        attnOptions,
      );
      output = project(r.output, qRows, this.w.o, res);
    } catch (e) {
      // A failed call (an invalid attention option, out of memory) leaves the cache as it was: its tokens go again
      // with the retried call, and RoPE positions (the cache length) stay right.
      cache?.truncate(before);
      throw e;
    }
    const result: MhaResult = { output, shape: q.rank === 3 ? [q.b, q.n, c.embedDim] : [q.n, c.embedDim] };
    if (r.weights) result.weights = averageWeights ? headMean(r.weights, q.b, c.hq, q.n * nk) : r.weights;
    if (r.lse) result.lse = r.lse;
    return result;
  }
}

