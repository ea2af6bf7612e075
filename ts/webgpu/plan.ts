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

/** Loop iterations one thread of the flash kernel runs per key block (staging, the dot products over DC columns, the
 * row max, the P·V update, and cosine's rescaling of the thread's keys per column chunk), counted generously:
 * measured on llvmpipe, Dk = Dv = 64 ran 500 blocks of 16 keys and failed at 750, Dk = Dv = 256 ran 94 and failed at
 * 125. */
function loopsPerBlock(c: FlashConfig, dk: number, dv: number): number {
  const staged = (c.bc * c.dc) / 64; // one staging loop: BC·DC elements over 64 threads
  const keysPerThread = (c.bc * c.br) / 64;
  const kChunks = Math.ceil(dk / c.dc), vChunks = Math.ceil(dv / c.dc);
  return kChunks * (staged + c.dc + keysPerThread + (dk > c.dc ? (c.br * c.dc) / 64 : 0)) + vChunks * (staged + c.bc) + c.bc + 8;
}

/** `loopBudget`: the driver's limit on loop iterations per invocation (see device.ts); the keys of a workgroup are
 * then split so that none walks more blocks than fit in 80% of it (a long flash call becomes a split call too). */
export function planFor(d: AttentionDescriptor, f16 = false, loopBudget?: number): Plan {
  const rows = (d.hq / d.hkv) * d.nq; // query rows per KV head (GQA stacking)
  const decode = d.nq <= DECODE_MAX_QUERIES && d.nk >= DECODE_MIN_KEYS;
  const maxKeys = (c: FlashConfig): number => (loopBudget === undefined ? Infinity
    : Math.max(1, Math.floor((0.8 * loopBudget - 2 * (d.dk + d.dv)) / loopsPerBlock(c, d.dk, d.dv))) * c.bc);
  if (decode) {
    const config: FlashConfig = { br: 4, bc: 32, dc: 32, dvPad: roundUp(d.dv, 32), split: true, f16 };
    const splitLen = Math.min(roundUp(Math.max(SPLIT_MIN_KEYS, Math.ceil(d.nk / MAX_SPLITS)), config.bc), maxKeys(config));
    return { config, nQBlocks: Math.ceil(rows / config.br), nSplits: Math.ceil(d.nk / splitLen), splitLen };
  }
  const config: FlashConfig = { br: 16, bc: 16, dc: 64, dvPad: roundUp(d.dv, 64), split: false, f16 };
  const limit = maxKeys(config);
  if (d.nk > limit) return { config: { ...config, split: true }, nQBlocks: Math.ceil(rows / config.br), nSplits: Math.ceil(d.nk / limit), splitLen: limit };
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
