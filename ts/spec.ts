/**
 * Validation and normalisation: the user's arrays and options → one AttentionDescriptor that every backend (and the
 * float64 reference) consumes as is. Pure, no I/O. Inputs are never copied (except when `convert` is set and an
 * input is not already of the kernel's element type) and never mutated; layouts are expressed as strides.
 */
import type { AttentionDescriptor } from './descriptor.js';
import type { AttentionOptions, ConvertibleInput, ConvertOptions } from './types.js';
import { isFloat32Array, typeName } from './validate/describe.js';
import { readAlibi } from './validate/alibi.js';
import { readBroadcast } from './validate/broadcast.js';
import { readRelativeBias } from './validate/relbias.js';
import { readLengths } from './validate/lengths.js';
import { checkKey, checkValue, layoutStrides, readOperand } from './validate/operands.js';
import { readBoolean, readLayout, readOptions, readScoring, readStructure } from './validate/options.js';
import { MAX_ELEMENTS, fail, toFloat32, toMaskBytes } from './validate/tensor.js';
import { readVariant } from './variants/validate.js';
import { readSparsity } from './sparse/validate.js';
import { ALIGN_BOTTOM_RIGHT } from './descriptor.js';

export function buildDescriptor(
  q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options?: AttentionOptions | ConvertOptions,
): AttentionDescriptor {
  const o = readOptions(options);
  const layout = readLayout(o);
  const convert = readBoolean(o, 'convert');

  const Q = readOperand(q, 'q', layout, convert);
  const K = readOperand(k, 'k', layout, convert);
  const V = readOperand(v, 'v', layout, convert);
  checkKey(Q, K, layout);
  checkValue(Q, K, V, layout);
  const { b, h: hq, n: nq, d: dk } = Q;
  const { h: hkv, n: nk } = K;
  const dv = V.d;

  const returnLse = readBoolean(o, 'returnLse');
  const returnWeights = readBoolean(o, 'returnWeights');
  const outputSize = b * hq * nq * dv;
  if (outputSize > MAX_ELEMENTS) fail('INVALID_DIM', 'v', `an output of at most ${MAX_ELEMENTS} elements`, `B·Hq·Nq·Dv = ${outputSize}`);
  if (returnWeights && b * hq * nq * nk > MAX_ELEMENTS) {
    fail('INVALID_OPTION', 'returnWeights', `weights of at most ${MAX_ELEMENTS} elements`, `B·Hq·Nq·Nk = ${b * hq * nq * nk}`);
  }

  const d: AttentionDescriptor = {
    b, hq, hkv, nq, nk, dk, dv, layout,
    q: { data: Q.data, strides: layoutStrides(hq, nq, dk, layout) },
    k: { data: K.data, strides: layoutStrides(hkv, nk, dk, layout) },
    v: { data: V.data, strides: layoutStrides(hkv, nk, dv, layout) },
    o: layoutStrides(hq, nq, dv, layout),
    ...readScoring(o, dk),
    ...readStructure(o, nq, nk),
    returnLse, returnWeights,
    qStart: 0, kStart: 0, nqFull: nq, nkFull: nk,
  };

  if (o.queryLengths !== undefined) d.queryLengths = readLengths(o.queryLengths, 'queryLengths', b, nq, 'Nq');
  if (o.keyLengths !== undefined) d.keyLengths = readLengths(o.keyLengths, 'keyLengths', b, nk, 'Nk');
  const full = { b, hq, nq, nk };
  if (o.mask !== undefined) {
    d.mask = readBroadcast(o.mask, 'mask', 'INVALID_MASK', full, (x) => toMaskBytes(x, 'mask', convert, 'INVALID_MASK'));
  }
  if (o.bias !== undefined) {
    d.bias = readBroadcast(o.bias, 'bias', 'INVALID_BIAS', full, (x) => toFloat32(x, 'bias', convert, 'INVALID_BIAS'));
  }
  if (o.alibi !== undefined) {
    d.alibi = readAlibi(o.alibi, hq);
    if (o.variant !== undefined) fail('INVALID_OPTION', 'alibi', 'exact attention (no variant)', 'alibi with a variant');
  }
  if (o.relativeBias !== undefined) {
    d.relBias = readRelativeBias(o.relativeBias, hq);
    if (o.variant !== undefined) fail('INVALID_OPTION', 'relativeBias', 'exact attention (no variant)', 'relativeBias with a variant');
  }
  if (o.sparsity !== undefined) {
    if (o.variant !== undefined) fail('INVALID_OPTION', 'sparsity', 'exact attention (no variant)', 'sparsity with a variant');
    d.sparse = readSparsity(o.sparsity, nq, nk, d.align === ALIGN_BOTTOM_RIGHT ? nk - nq : 0);
  }
  if (o.variant !== undefined) d.variant = readVariant(o, d, convert);
  if (o.out !== undefined) d.out = checkOut(o.out, outputSize, d);
  return d;
}

/** `out` must be a Float32Array of exactly B·Hq·Nq·Dv elements that shares no bytes with any input the kernel reads
 * as given (inputs are never mutated, and a kernel writing its output over its own inputs would read clobbered
 * values); lengths and sparsity arrays are copied while they are read, so they cannot be clobbered. */
function checkOut(out: unknown, size: number, d: AttentionDescriptor): Float32Array {
  if (!isFloat32Array(out)) fail('INVALID_OUTPUT', 'out', 'Float32Array', typeName(out));
  if (out.length !== size) {
    fail('INVALID_OUTPUT', 'out', `${size} elements (B·Hq·Nq·Dv = ${d.b}·${d.hq}·${d.nq}·${d.dv})`, `${out.length} elements`);
  }
  const v = d.variant;
  const inputs: [string, ArrayBufferView | undefined][] = [['q', d.q.data], ['k', d.k.data], ['v', d.v.data],
    ['mask', d.mask?.data], ['bias', d.bias?.data], ['alibi', d.alibi], ['relativeBias', d.relBias?.table],
    ['variant.projection', v?.kind === 'performer' ? v.projection : undefined],
    ['variant.e', v?.kind === 'linformer' ? v.e : undefined], ['variant.f', v?.kind === 'linformer' ? v.f : undefined]];
  for (const [name, data] of inputs) {
    if (data && overlaps(out, data)) {
      fail('INVALID_OUTPUT', 'out', 'a buffer that shares no memory with any input (q, k, v, mask, bias, alibi, relativeBias, projections)',
        `a view overlapping ${name}`);
    }
  }
  return out;
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
