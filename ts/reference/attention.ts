/**
 * Float64 reference of exact attention: the oracle of the tests. It implements the semantics written on `RawDesc`
 * in crate/src/desc.rs, one (batch, head, query row) at a time, with plain loops and no blocking, so that it can be
 * checked by reading it. Validation and normalisation are the SDK's own (`buildDescriptor`), so every backend and
 * the reference see the same descriptor.
 */
import { buildDescriptor } from '../spec.js';
import { ALIGN_BOTTOM_RIGHT, SIM_COSINE } from '../descriptor.js';
import type { AttentionDescriptor, Strides } from '../descriptor.js';
import type { AttentionInput, AttentionOptions, ConvertibleInput, ConvertOptions } from '../types.js';
import { AttentionError } from '../errors.js';
import { sparseAllowed } from '../sparse/predicate.js';

export interface ReferenceResult {
  /** [B, Hq, Nq, Dv] in BHND or [B, Nq, Hq, Dv] in BNHD: the layout (strides `d.o`) of the descriptor. */
  output: Float64Array;
  /** [B, Hq, Nq] natural-log sum of exp of the allowed logits; −∞ for rows with no allowed key. */
  lse: Float64Array;
  /** [B, Hq, Nq, Nk] softmax weights; 0 for keys that are not allowed. */
  weights: Float64Array;
  /** Shape of `output` in the descriptor's layout. */
  shape: [number, number, number, number];
}

/** The reference always materialises the weights; beyond this many it refuses rather than exhausting memory. */
export const REFERENCE_MAX_WEIGHTS = 2 ** 26;

/** Smallest norm used by cosine similarity (x / max(|x|, 1e-12)). */
const COSINE_EPS = 1e-12;

// With `convert: true` the inputs are converted to float32 first, as attention() converts them: the reference then
// sees the values the kernels get. The convert overload first: the plain one, last, is what Parameters<> sees.
export function referenceAttention(q: ConvertibleInput, k: ConvertibleInput, v: ConvertibleInput, options: ConvertOptions): ReferenceResult;
export function referenceAttention(q: AttentionInput, k: AttentionInput, v: AttentionInput, options?: AttentionOptions): ReferenceResult;
export function referenceAttention(
  q: ConvertibleInput,
  k: ConvertibleInput,
  v: ConvertibleInput,
  options: AttentionOptions | ConvertOptions = {},
): ReferenceResult {
  return referenceFromDescriptor(buildDescriptor(q, k, v, options));
}

const at = (s: Strides, b: number, h: number, row: number): number => b * s.batch + h * s.head + row * s.row;

/** Runs the reference on an already normalised descriptor (also for split descriptors with qStart/kStart set). */
export function referenceFromDescriptor(d: AttentionDescriptor): ReferenceResult {
  if (d.variant) {
    throw new AttentionError('INVALID_OPTION', 'variant', 'no variant (the exact reference)', `variant '${d.variant.kind}'`,
      'variant: referenceAttention is exact attention; use referenceVariantAttention for the variants');
  }
  const { b: B, hq: Hq, hkv: Hkv, nq: Nq, nk: Nk, dk: Dk, dv: Dv } = d;
  const weightCount = B * Hq * Nq * Nk;
  if (weightCount > REFERENCE_MAX_WEIGHTS) {
    throw new RangeError(
      `referenceAttention: B·Hq·Nq·Nk = ${weightCount} weights exceed the reference limit of ${REFERENCE_MAX_WEIGHTS}; ` +
        'use smaller test problems',
    );
  }
  const output = new Float64Array(B * Hq * Nq * Dv);
  const lse = new Float64Array(B * Hq * Nq);
  const weights = new Float64Array(weightCount);
  const groupSize = Hq / Hkv;
  const cosine = d.similarity === SIM_COSINE;
  const keyNorm = cosine ? keyNorms(d) : undefined;
  const qRow = new Float64Array(Dk);
  const logits = new Float64Array(Nk);
  const allowed = new Uint8Array(Nk);

  for (let b = 0; b < B; b++) {
    const qLen = d.queryLengths ? d.queryLengths[b]! : d.nqFull || Nq;
    const kLen = d.keyLengths ? d.keyLengths[b]! : d.nkFull || Nk;
    const shift = d.align === ALIGN_BOTTOM_RIGHT ? kLen - qLen : 0;
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / groupSize);
      for (let i = 0; i < Nq; i++) {
        const gi = d.qStart + i;
        const diag = gi + shift;
        const row = (b * Hq + h) * Nq + i;

        // The query row, normalised to unit length for cosine similarity.
        const qOff = at(d.q.strides, b, h, i);
        let qNorm = 0;
        for (let c = 0; c < Dk; c++) {
          qRow[c] = d.q.data[qOff + c]!;
          qNorm += qRow[c]! * qRow[c]!;
        }
        const qDiv = cosine ? Math.max(Math.sqrt(qNorm), COSINE_EPS) : 1;

        // Logits of the allowed keys, and their maximum.
        let max = -Infinity;
        let any = false;
        for (let j = 0; j < Nk; j++) {
          const gj = d.kStart + j;
          let ok = gi < qLen && gj < kLen;
          if (ok && d.winLeft >= 0 && gj < diag - d.winLeft) ok = false;
          if (ok && d.winRight >= 0 && gj > diag + d.winRight) ok = false;
          if (ok && d.mask && d.mask.data[at(d.mask.strides, b, h, i) + j] === 0) ok = false;
          if (ok && d.sparse && !sparseAllowed(d.sparse, gi, gj)) ok = false;
          allowed[j] = ok ? 1 : 0;
          if (!ok) continue;

          const kOff = at(d.k.strides, b, kvh, j);
          let sim = 0;
          for (let c = 0; c < Dk; c++) sim += qRow[c]! * d.k.data[kOff + c]!;
          if (cosine) sim /= qDiv * keyNorm![(b * Hkv + kvh) * Nk + j]!;
          let s = sim * d.scale;
          if (d.softcap > 0) s = d.softcap * Math.tanh(s / d.softcap);
          if (d.bias) s += d.bias.data[at(d.bias.strides, b, h, i) + j]!;
          if (d.alibi) s += d.alibi[h]! * (gj - diag);
          if (d.relBias) {
            const { table, len, zero } = d.relBias;
            s += table[h * len + Math.min(len - 1, Math.max(0, gj - diag + zero))]!;
          }
          logits[j] = s;
          // Math.max keeps a NaN logit, so NaN inputs reach (only) the rows they touch.
          max = any ? Math.max(max, s) : s;
          any = true;
        }

        // No allowed key, or every allowed logit is −∞: the row sum is 0, so the row is 0 and its LSE −∞.
        if (!any || max === -Infinity) {
          lse[row] = -Infinity;
          continue; // output and weights are already 0
        }

        // Softmax with the row maximum subtracted, so exp never overflows.
        let sum = 0;
        for (let j = 0; j < Nk; j++) if (allowed[j]) sum += Math.exp(logits[j]! - max);
        lse[row] = max + Math.log(sum);

        const oOff = at(d.o, b, h, i);
        for (let j = 0; j < Nk; j++) {
          if (!allowed[j]) continue;
          const w = Math.exp(logits[j]! - max) / sum;
          weights[row * Nk + j] = w;
          const vOff = at(d.v.strides, b, kvh, j);
          for (let c = 0; c < Dv; c++) output[oOff + c] += w * d.v.data[vOff + c]!;
        }
      }
    }
  }

  const shape: [number, number, number, number] = d.layout === 'BNHD' ? [B, Nq, Hq, Dv] : [B, Hq, Nq, Dv];
  return { output, lse, weights, shape };
}

/** max(|k|, 1e-12) for every key, indexed [(b·Hkv + kvh)·Nk + j]. */
function keyNorms(d: AttentionDescriptor): Float64Array {
  const norms = new Float64Array(d.b * d.hkv * d.nk);
  for (let b = 0; b < d.b; b++) {
    for (let h = 0; h < d.hkv; h++) {
      for (let j = 0; j < d.nk; j++) {
        const off = at(d.k.strides, b, h, j);
        let s = 0;
        for (let c = 0; c < d.dk; c++) s += d.k.data[off + c]! * d.k.data[off + c]!;
        norms[(b * d.hkv + h) * d.nk + j] = Math.max(Math.sqrt(s), COSINE_EPS);
      }
    }
  }
  return norms;
}
