/**
 * Which kernel runs a descriptor and how it is dispatched: the flash kernel (16 query rows × 16-key blocks per
 * workgroup; the query heads of one KV head are stacked as rows) for ordinary shapes, the split-key decode kernel
 * (4 rows × 32-key blocks, key range cut across workgroups, then an LSE merge) when there are few queries and many
 * keys. Depends only on the shape.
 */
import type { AttentionDescriptor } from '../descriptor.js';
import type { FlashConfig } from './shaders/flash.wgsl.js';

/** Decode kernel when Nq ≤ this and Nk ≥ DECODE_MIN_KEYS. */
export const DECODE_MAX_QUERIES = 16;
export const DECODE_MIN_KEYS = 256;
/** Keys per decode split (at least), and the most splits. */
const SPLIT_MIN_KEYS = 128;
const MAX_SPLITS = 64;

export interface Plan {
  config: FlashConfig;
  nQBlocks: number;
  nSplits: number;
  splitLen: number;
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

export function planFor(d: AttentionDescriptor, f16 = false): Plan {
  const rows = (d.hq / d.hkv) * d.nq; // query rows per KV head (GQA stacking)
  const decode = d.nq <= DECODE_MAX_QUERIES && d.nk >= DECODE_MIN_KEYS;
  if (decode) {
    const config: FlashConfig = { br: 4, bc: 32, dc: 32, dvPad: roundUp(d.dv, 32), split: true, f16 };
    const splitLen = roundUp(Math.max(SPLIT_MIN_KEYS, Math.ceil(d.nk / MAX_SPLITS)), config.bc);
    return { config, nQBlocks: Math.ceil(rows / config.br), nSplits: Math.ceil(d.nk / splitLen), splitLen };
  }
  const config: FlashConfig = { br: 16, bc: 16, dc: 64, dvPad: roundUp(d.dv, 64), split: false, f16 };
  return { config, nQBlocks: Math.ceil(rows / config.br), nSplits: 1, splitLen: Math.max(d.nk, 1) };
}

/** A 1-D grid of `groups` workgroups laid out as x × y with x ≤ maxPerDim. */
export function grid2d(groups: number, maxPerDim: number): [number, number] {
  const x = Math.max(1, Math.min(groups, maxPerDim));
  return [x, Math.max(1, Math.ceil(groups / x))];
}

/** A 1-D grid of `groups` workgroups laid out as x × y × z, each ≤ maxPerDim (z may exceed it: the caller checks). */
export function grid3d(groups: number, maxPerDim: number): [number, number, number] {
  const x = Math.max(1, Math.min(groups, maxPerDim));
  const y = Math.max(1, Math.min(Math.ceil(groups / x), maxPerDim));
  return [x, y, Math.max(1, Math.ceil(groups / (x * y)))];
}
