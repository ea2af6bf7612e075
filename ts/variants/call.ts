/**
 * The call wrapper of the variant kernels: operands and projections into wasm memory (each one contiguous block, so
 * the descriptor's strides still hold), the VarDesc after them, wa_variant_attention, the output out.
 */
import type { AttentionDescriptor } from '../descriptor.js';
import { AttentionError, statusError } from '../errors.js';
import type { AttentionResult } from '../types.js';
import { getExports, type KernelExports } from '../core/loader.js';
import { arenaFor, extent, planBlocks } from '../core/memory.js';
import { VAR_MAGIC, VAR_WORDS, encodeVariant, projections } from './descriptor.js';

interface VariantExports {
  wa_variant_magic(): number;
  wa_variant_words(): number;
  wa_variant_attention(descPtr: number): number;
}

const checked = new WeakSet<KernelExports>();

/** This thread's exports with the variant entry points, checked once to speak this VarDesc layout. */
function variantExports(): KernelExports & VariantExports {
  const k = getExports('attention') as KernelExports & Partial<VariantExports>;
  if (checked.has(k)) return k as KernelExports & VariantExports;
  if (typeof k.wa_variant_attention !== 'function' || typeof k.wa_variant_magic !== 'function' || typeof k.wa_variant_words !== 'function') {
    throw new AttentionError('KERNEL_ERROR', 'wasm', 'a wasm module with wa_variant_attention', 'a module without it',
      'wasm: this webattn wasm module has no variant kernels (wa_variant_attention); rebuild it (npm run build:wasm)');
  }
  const magic = k.wa_variant_magic() >>> 0;
  const words = k.wa_variant_words() >>> 0;
  if (magic !== VAR_MAGIC || words !== VAR_WORDS) {
    throw new AttentionError('KERNEL_ERROR', 'wasm', `variant descriptor magic 0x${VAR_MAGIC.toString(16)} with ${VAR_WORDS} words`,
      `magic 0x${magic.toString(16)} with ${words} words`,
      'wasm: the wasm module and this SDK disagree on the variant descriptor layout; rebuild it (npm run build:wasm)');
  }
  checked.add(k);
  return k as KernelExports & VariantExports;
}

/** Runs the variant of a validated descriptor (`d.variant` set) in this thread's wasm instance. */
export function runVariant(d: AttentionDescriptor): AttentionResult {
  const spec = d.variant;
  if (!spec) throw new AttentionError('KERNEL_ERROR', 'variant', 'a descriptor with a variant', 'none');
  const k = variantExports();
  const { b, hq, hkv, nq, nk, dk, dv } = d;
  const nQ = extent(d.q.strides, b, hq, nq, dk);
  const nK = extent(d.k.strides, b, hkv, nk, dk);
  const nV = extent(d.v.strides, b, hkv, nk, dv);
  const nO = extent(d.o, b, hq, nq, dv);
  for (const [name, data, n] of [['q', d.q.data, nQ], ['k', d.k.data, nK], ['v', d.v.data, nV]] as const) {
    if (n > data.length) throw new AttentionError('INVALID_SHAPE', name, `at least ${n} elements for its strides`, `${data.length} elements`);
  }
  const output = d.out ?? new Float32Array(nO);
  if (output.length < nO) throw new AttentionError('INVALID_OUTPUT', 'out', `${nO} elements`, `${output.length} elements`);
  const [projA, projB] = projections(spec);
  // LSH never reads k (validated equal to q): with the same strides its descriptor points k at the copy of q.
  const sharedQK = spec.kind === 'lsh' && nK === nQ && d.k.strides.batch === d.q.strides.batch
    && d.k.strides.head === d.q.strides.head && d.k.strides.row === d.q.strides.row;
  const { offsets, total } = planBlocks([
    VAR_WORDS * 4, 4 * nQ, sharedQK ? 0 : 4 * nK, 4 * nV, 4 * nO, 4 * (projA?.length ?? 0), 4 * (projB?.length ?? 0),
  ]);
  const arena = arenaFor(k);
  try {
    const base = arena.acquire(total);
    const [pDesc, pQ, pKOwn, pV, pO, pA, pB] = offsets.map((o) => (o < 0 ? 0 : base + o)) as
      [number, number, number, number, number, number, number];
    const pK = sharedQK ? pQ : pKOwn;
    const mem = k.memory.buffer;
    new Float32Array(mem, pQ, nQ).set(d.q.data.subarray(0, nQ));
    if (!sharedQK) new Float32Array(mem, pK, nK).set(d.k.data.subarray(0, nK));
    new Float32Array(mem, pV, nV).set(d.v.data.subarray(0, nV));
    if (projA) new Float32Array(mem, pA, projA.length).set(projA);
    if (projB) new Float32Array(mem, pB, projB.length).set(projB);
    encodeVariant(mem, pDesc, d, spec, { q: pQ, k: pK, v: pV, o: pO, projA: pA, projB: pB });
    const status = k.wa_variant_attention(pDesc);
    if (status !== 0) throw statusError(status);
    output.set(new Float32Array(k.memory.buffer, pO, nO));
    return { output, shape: d.layout === 'BNHD' ? [b, nq, hq, dv] : [b, hq, nq, dv] };
  } finally {
    arena.release();
  }
}
