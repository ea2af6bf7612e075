/**
 * Positional encodings for the layer: rotary embeddings (RoPE) applied to q / k, and the sinusoidal absolute
 * encoding of "Attention Is All You Need". ALiBi is a kernel bias (the `alibi` option of attention(), slopes in
 * ./alibi.ts); it is re-exported here so all position schemes are found in one place.
 *
 * RoPE: with r = rotaryDim (default D, even), θ_i = base^(−2i/r) for i < r/2 and position p of a row (offset + row
 * index, or `positions[row]`), each pair (a, b) of the row becomes (a·cos pθ_i − b·sin pθ_i, a·sin pθ_i + b·cos pθ_i).
 * The pair of index i is (x[2i], x[2i+1]) with style 'interleaved' (GPT-J, RoFormer, Meta's LLaMA) or
 * (x[i], x[i + r/2]) with style 'half' (GPT-NeoX, Hugging Face LLaMA / Mistral / Qwen). Components past r pass
 * through unchanged (partial rotary, GPT-NeoX `rotary_pct`).
 */
import { AttentionError } from '../errors.js';
import type { Layout, TensorLike } from '../types.js';
import { isFloat32Array, shapeString, typeName, valueString } from '../validate/describe.js';
import { OPERAND_CODES, checkLength, fail, readTensor, toFloat32 } from '../validate/tensor.js';

export { alibiSlopes } from './alibi.js';

export type RopeStyle = 'half' | 'interleaved';

export interface RopeOptions {
  /** Which components form a rotated pair (see the module comment). Default 'half'. */
  style?: RopeStyle;
  /** Frequency base. Default 10000. */
  base?: number;
  /** Position of row 0 (the number of tokens already in a KV cache). Default 0. */
  offset?: number;
  /** Explicit position of every row (length N); replaces `offset`. */
  positions?: ArrayLike<number>;
  /** Leading components that are rotated (even, ≤ D). Default D. */
  rotaryDim?: number;
  /** Layout of x: 'BHND' ([B, H, N, D], [H, N, D] or [N, D]) or 'BNHD' ([B, N, H, D]; [N, H, D]). Default 'BHND'. */
  layout?: Layout;
  /** Write here (length of x) instead of allocating; may be x itself (in place). */
  out?: Float32Array;
}

export interface SinusoidalOptions {
  /** Position of row 0. Default 0. */
  offset?: number;
  /** Frequency base. Default 10000. */
  base?: number;
}

const ROPE_KEYS = ['style', 'base', 'offset', 'positions', 'rotaryDim', 'layout', 'out'];

/** θ_i = base^(−2i/r) for i < r/2. */
export function ropeFrequencies(rotaryDim: number, base = 10000): Float64Array {
  return Float64Array.from({ length: rotaryDim / 2 }, (_, i) => base ** (-(2 * i) / rotaryDim));
}

function readOptions(o: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) fail('INVALID_OPTION', 'options', `${what} options object`, typeName(o));
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fail('INVALID_OPTION', k, `one of the options ${keys.join(', ')}`, `unknown option '${k}'`);
  }
  return o as Record<string, unknown>;
}

function positiveNumber(v: unknown, argument: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('INVALID_OPTION', argument, 'a finite number > 0', valueString(v));
  return v;
}

function position(v: unknown, argument: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail('INVALID_OPTION', argument, 'a non-negative integer', valueString(v));
  return v;
}

/** Rotary position embedding of x (see the module comment). Returns `out` or a new array; x is not mutated
 * unless it is passed as `out`. */
export function applyRope(x: TensorLike<Float32Array>, options?: RopeOptions): Float32Array {
  const o = readOptions(options, ROPE_KEYS, 'RoPE');
  const t = readTensor(x, 'x', OPERAND_CODES);
  const data = toFloat32(t.data, 'x', false, 'INVALID_TYPE');
  checkLength(data.length, t.dims, 'x', 'INVALID_SHAPE');
  const layout = o['layout'] ?? 'BHND';
  if (layout !== 'BHND' && layout !== 'BNHD') fail('INVALID_OPTION', 'layout', "'BHND' or 'BNHD'", valueString(layout));
  const dims = t.dims;
  if (dims.length < 2 || dims.length > 4 || (layout === 'BNHD' && dims.length < 3)) {
    fail('INVALID_SHAPE', 'x', layout === 'BHND' ? '[B, H, N, D], [H, N, D] or [N, D]' : '[B, N, H, D] or [N, H, D]', shapeString(dims));
  }
  const d = dims[dims.length - 1]!;
  // Rows are visited as [outer, n, inner] blocks of D: BHND → outer = B·H, inner = 1; BNHD → outer = B, inner = H.
  const n = layout === 'BHND' ? dims[dims.length - 2]! : dims[dims.length - 3]!;
  const inner = layout === 'BHND' ? 1 : dims[dims.length - 2]!;
  const outer = data.length / (n * inner * d);

  const style = o['style'] ?? 'half';
  if (style !== 'half' && style !== 'interleaved') fail('INVALID_OPTION', 'style', "'half' or 'interleaved'", valueString(style));
  const base = positiveNumber(o['base'], 'base', 10000);
  const r = o['rotaryDim'] ?? d;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 2 || r % 2 !== 0 || r > d) {
    fail('INVALID_OPTION', 'rotaryDim', `an even integer in [2, D = ${d}]`, valueString(r));
  }
  const offset = position(o['offset'], 'offset');
  let positions: ArrayLike<number> | undefined;
  if (o['positions'] !== undefined) {
    if (o['offset'] !== undefined) fail('INVALID_OPTION', 'positions', 'either positions or offset', 'both');
    const p = o['positions'] as ArrayLike<number>;
    if (typeof p !== 'object' || p === null || typeof p.length !== 'number') fail('INVALID_OPTION', 'positions', `${n} positions`, typeName(p));
    if (p.length !== n) fail('INVALID_OPTION', 'positions', `${n} positions (N)`, `${p.length} positions`);
    for (let i = 0; i < n; i++) position(p[i], `positions[${i}]`);
    positions = p;
  }
  let out = o['out'];
  if (out === undefined) out = new Float32Array(data.length);
  else if (!isFloat32Array(out) || out.length !== data.length) {
    fail('INVALID_OUTPUT', 'out', `Float32Array of ${data.length} elements`, isFloat32Array(out) ? `${out.length} elements` : typeName(out));
  }
  const dst = out as Float32Array;
  if (dst !== data) dst.set(data);

  const theta = ropeFrequencies(r, base);
  const half = r / 2;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  const interleaved = style === 'interleaved';
  for (let row = 0; row < n; row++) {
    const p = positions ? positions[row]! : offset + row;
    for (let i = 0; i < half; i++) {
      cos[i] = Math.cos(p * theta[i]!);
      sin[i] = Math.sin(p * theta[i]!);
    }
    for (let a = 0; a < outer; a++) {
      for (let h = 0; h < inner; h++) {
        const at = ((a * n + row) * inner + h) * d;
        for (let i = 0; i < half; i++) {
          const ia = at + (interleaved ? 2 * i : i);
          const ib = at + (interleaved ? 2 * i + 1 : i + half);
          const xa = data[ia]!;
          const xb = data[ib]!;
          dst[ia] = xa * cos[i]! - xb * sin[i]!;
          dst[ib] = xa * sin[i]! + xb * cos[i]!;
        }
      }
    }
  }
  return dst;
}

/** The sinusoidal absolute encoding [n, d]: PE[p, 2i] = sin(p·ω_i), PE[p, 2i+1] = cos(p·ω_i), ω_i = base^(−2i/d),
 * p = offset + row. Add it to the token embeddings before the first layer. */
export function sinusoidalEncoding(n: number, d: number, options?: SinusoidalOptions): Float32Array {
  const o = readOptions(options, ['offset', 'base'], 'sinusoidal');
  for (const [name, v] of [['n', n], ['d', d]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new AttentionError('INVALID_DIM', name, 'a positive integer', valueString(v));
  }
  const offset = position(o['offset'], 'offset');
  const base = positiveNumber(o['base'], 'base', 10000);
  const out = new Float32Array(n * d);
  for (let row = 0; row < n; row++) {
    const p = offset + row;
    for (let c = 0; c < d; c += 2) {
      const w = base ** (-c / d);
      out[row * d + c] = Math.sin(p * w);
      if (c + 1 < d) out[row * d + c + 1] = Math.cos(p * w);
    }
  }
  return out;
}
