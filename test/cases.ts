/**
 * Seeded attention test cases, shared by every backend's tests. A case holds user-level inputs (TensorLike q, k, v
 * and AttentionOptions) exactly as a user would pass them; its name spells out the options, so a failing test says
 * which combination broke. Values are uniform in [−1, 1].
 */
import type {
  AttentionInput,
  AttentionOptions,
  Alignment,
  BiasInput,
  CausalOption,
  Layout,
  Lengths,
  MaskInput,
  WindowOption,
} from '../ts/types.js';
import { Rng } from './rng.js';

export interface AttentionCase {
  name: string;
  q: AttentionInput;
  k: AttentionInput;
  v: AttentionInput;
  options: AttentionOptions;
}

export interface GenerateOptions {
  /** Upper bound on B·Hq·Nq·Nk·(Dk + Dv) per case (keeps the float64 reference fast). Default 3e6. */
  maxWork?: number;
}

export const SEQ_LENGTHS = [1, 2, 3, 5, 7, 16, 17, 31, 33, 64, 65, 100, 130] as const;
export const HEAD_DIMS = [1, 3, 4, 5, 8, 16, 17, 32, 64, 65, 128] as const;

/** Which broadcast shape a mask or bias has (H is the number of query heads). */
export type BroadcastShape = 'NqNk' | '1NqNk' | 'HNqNk' | '11NqNk' | 'B1NqNk' | '1HNqNk' | 'BHNqNk';
const BROADCAST_SHAPES: readonly BroadcastShape[] = ['NqNk', '1NqNk', 'HNqNk', '11NqNk', 'B1NqNk', '1HNqNk', 'BHNqNk'];

/** One feature forced on per case, in turn, so that even a short list of cases covers every option. */
const FEATURES = [
  'plain', 'causal', 'window', 'mask', 'bias', 'lengths', 'softcap', 'cosine', 'scale', 'gqa', 'mqa', 'mask+bias',
  'causal+window', 'lengths+causal',
] as const;
type Feature = (typeof FEATURES)[number];

const tensor = <T>(data: T, shape: number[]): { data: T; shape: number[] } => ({ data, shape });

/** q/k/v data in `layout`, optionally as a view at an offset inside a larger buffer (zero-copy inputs). */
function operand(rng: Rng, b: number, h: number, n: number, d: number, layout: Layout, threeD: boolean): AttentionInput {
  const size = b * h * n * d;
  const pad = rng.chance(0.1) ? rng.int(1, 7) : 0;
  const data = pad ? rng.fill(new Float32Array(size + 2 * pad)).subarray(pad, pad + size) : rng.fill(new Float32Array(size));
  const inner = layout === 'BHND' ? [h, n, d] : [n, h, d];
  if (threeD) return tensor(data, inner);
  // onnxruntime-web tensors name their shape `dims`; accept both.
  return rng.chance(0.1) ? { data, dims: [b, ...inner] } : tensor(data, [b, ...inner]);
}

function broadcastDims(shape: BroadcastShape, b: number, h: number, nq: number, nk: number): number[] {
  switch (shape) {
    case 'NqNk': return [nq, nk];
    case '1NqNk': return [1, nq, nk];
    case 'HNqNk': return [h, nq, nk];
    case '11NqNk': return [1, 1, nq, nk];
    case 'B1NqNk': return [b, 1, nq, nk];
    case '1HNqNk': return [1, h, nq, nk];
    case 'BHNqNk': return [b, h, nq, nk];
  }
}

/** A random mask; some rows are fully masked, and with `fullRows` some rows are left fully open. */
function randomMask(rng: Rng, dims: number[]): MaskInput {
  const nk = dims[dims.length - 1]!;
  const rows = dims.reduce((a, x) => a * x, 1) / nk;
  const density = rng.pick([0.2, 0.6, 0.95]);
  const data = new Uint8Array(rows * nk);
  for (let r = 0; r < rows; r++) {
    const kind = rng.next();
    for (let j = 0; j < nk; j++) {
      // ~10% of rows attend nothing; mask values other than 1 are also "attend".
      data[r * nk + j] = kind < 0.1 ? 0 : rng.chance(density) ? rng.pick([1, 1, 1, 255, 7]) : 0;
    }
  }
  return tensor(data, dims);
}

function randomBias(rng: Rng, dims: number[]): BiasInput {
  const size = dims.reduce((a, x) => a * x, 1);
  return tensor(rng.fill(new Float32Array(size), -2, 2), dims);
}

function randomLengths(rng: Rng, b: number, n: number): Lengths {
  const values = Array.from({ length: b }, () => rng.pick([0, n, n, rng.int(0, n), Math.max(1, n - 1)]));
  const kind = rng.int(0, 2);
  return kind === 0 ? values : kind === 1 ? Int32Array.from(values) : Uint32Array.from(values);
}

const ALIGNS: readonly Alignment[] = ['top-left', 'bottom-right'];

function randomWindow(rng: Rng, causal: CausalOption, withRight: boolean): WindowOption {
  const bound = (): number | undefined => rng.pick([0, 1, 2, 3, 8, 16, 40, Infinity, undefined]);
  const w: WindowOption = {};
  const left = bound();
  if (left !== undefined) w.left = left;
  if (withRight) {
    const right = bound();
    if (right !== undefined) w.right = right;
  }
  // With causal the alignment follows causal; restating the same one must be accepted too.
  if (causal === false) {
    if (rng.chance(0.7)) w.align = rng.pick(ALIGNS);
  } else if (rng.chance(0.3)) {
    w.align = causal === 'bottom-right' ? 'bottom-right' : 'top-left';
  }
  return w;
}

const fmt = (x: number | undefined): string => (x === undefined ? '-' : x === Infinity ? '∞' : String(+x.toFixed(4)));

/** Chooses sizes, then shrinks B, heads and lengths until B·Hq·Nq·Nk·(Dk+Dv) fits in `maxWork`. */
function sizes(rng: Rng, feature: Feature, maxWork: number) {
  let b = rng.int(1, 3);
  const ratio = feature === 'gqa' ? rng.pick([2, 4]) : feature === 'mqa' ? 0 : rng.pick([1, 1, 2, 4, 0]);
  let hkv: number;
  let hq: number;
  if (ratio === 0) {
    hkv = 1;
    hq = rng.pick([2, 3, 4, 8]);
  } else {
    hkv = rng.int(1, 3);
    hq = hkv * ratio;
  }
  let nq = rng.pick(SEQ_LENGTHS);
  let nk = rng.chance(0.25) ? nq : rng.pick(SEQ_LENGTHS);
  const dk = rng.chance(0.04) ? rng.pick([192, 256]) : rng.pick(HEAD_DIMS);
  const dv = rng.chance(0.6) ? dk : rng.chance(0.04) ? 256 : rng.pick(HEAD_DIMS);
  const work = (): number => b * hq * nq * nk * (dk + dv);
  while (work() > maxWork) {
    if (b > 1) b--;
    else if (hkv > 1) { hkv--; hq = ratio === 0 ? hq : hkv * ratio; }
    else if (ratio === 0 && hq > 2) hq = Math.max(2, Math.floor(hq / 2));
    else if (nq >= nk && nq > 1) nq = SEQ_LENGTHS.filter((x) => x < nq).pop()!;
    else if (nk > 1) nk = SEQ_LENGTHS.filter((x) => x < nk).pop()!;
    else break;
  }
  return { b, hq, hkv, nq, nk, dk, dv };
}

function generateCase(rng: Rng, index: number, feature: Feature, maxWork: number): AttentionCase {
  const { b, hq, hkv, nq, nk, dk, dv } = sizes(rng, feature, maxWork);
  const layout: Layout = rng.chance(0.5) ? 'BHND' : 'BNHD';
  const threeD = b === 1 && rng.chance(0.2);
  const options: AttentionOptions = {};
  const tags: string[] = [];
  const wants = (f: Feature, p: number): boolean => feature === f || rng.chance(p);

  if (layout === 'BNHD' || rng.chance(0.3)) options.layout = layout;
  tags.push(layout + (threeD ? '/3d' : ''));

  let causal: CausalOption = false;
  if (wants('causal', 0.3) || feature === 'causal+window' || feature === 'lengths+causal') {
    causal = rng.pick([true, 'top-left', 'bottom-right'] as const);
    options.causal = causal;
    tags.push(`causal=${causal}`);
  } else if (rng.chance(0.1)) {
    options.causal = false;
  }
  if (wants('window', 0.15) || feature === 'causal+window') {
    const w = randomWindow(rng, causal, causal === false);
    options.window = w;
    tags.push(`window[${fmt(w.left)},${fmt(w.right)}${w.align ? ',' + w.align : ''}]`);
  }

  const cosine = wants('cosine', 0.1);
  if (cosine) {
    options.similarity = 'cosine';
    const t = rng.pick([undefined, 0.05, 0.1, 0.5, 1, 2]);
    if (t !== undefined) options.temperature = t;
    tags.push(`cosine(T=${t ?? 'default'})`);
  } else if (wants('scale', 0.15)) {
    options.scale = rng.pick([0.05, 0.25, 0.5, 1, 2 / Math.sqrt(dk)]);
    tags.push(`scale=${fmt(options.scale)}`);
  }
  if (wants('softcap', 0.1)) {
    options.softcap = rng.pick([1, 2, 5, 20, 50]);
    tags.push(`softcap=${options.softcap}`);
  }

  if (wants('mask', 0.15) || feature === 'mask+bias') {
    const shape = rng.pick(BROADCAST_SHAPES);
    options.mask = randomMask(rng, broadcastDims(shape, b, hq, nq, nk));
    tags.push(`mask[${shape}]`);
  }
  if (wants('bias', 0.15) || feature === 'mask+bias') {
    const shape = rng.pick(BROADCAST_SHAPES);
    options.bias = randomBias(rng, broadcastDims(shape, b, hq, nq, nk));
    tags.push(`bias[${shape}]`);
  }
  if (wants('lengths', 0.15) || feature === 'lengths+causal') {
    const which = rng.int(0, 2);
    if (which !== 1) options.queryLengths = randomLengths(rng, b, nq);
    if (which !== 0) options.keyLengths = randomLengths(rng, b, nk);
    if (options.queryLengths) tags.push(`qLens=[${Array.from(options.queryLengths).join(',')}]`);
    if (options.keyLengths) tags.push(`kLens=[${Array.from(options.keyLengths).join(',')}]`);
  }
  if (rng.chance(0.5)) {
    options.returnLse = true;
    tags.push('lse');
  }
  if (rng.chance(0.3)) {
    options.returnWeights = true;
    tags.push('weights');
  }

  const name =
    `#${index} ${feature}: B${b} Hq${hq}/Hkv${hkv} Nq${nq} Nk${nk} Dk${dk} Dv${dv} ` + tags.join(' ');
  return {
    name,
    q: operand(rng, b, hq, nq, dk, layout, threeD),
    k: operand(rng, b, hkv, nk, dk, layout, threeD),
    v: operand(rng, b, hkv, nk, dv, layout, threeD),
    options,
  };
}

/** `count` cases, deterministic for `seed`. Case i forces feature FEATURES[i mod 14] and draws the rest at random. */
export function generateCases(seed: number, count: number, opts: GenerateOptions = {}): AttentionCase[] {
  const maxWork = opts.maxWork ?? 3e6;
  const cases: AttentionCase[] = [];
  for (let i = 0; i < count; i++) {
    // One generator per case: case i is the same whichever count is asked for.
    const rng = new Rng(seed * 1000003 + i);
    cases.push(generateCase(rng, i, FEATURES[i % FEATURES.length]!, maxWork));
  }
  return cases;
}

/** q/k/v in BHND with values from `rng` (or from `values` when given, for grid-valued inputs). */
function bhnd(rng: Rng, b: number, hq: number, hkv: number, nq: number, nk: number, d: number, values?: readonly number[]) {
  const make = (h: number, n: number): AttentionInput => {
    const data = new Float32Array(b * h * n * d);
    for (let i = 0; i < data.length; i++) data[i] = values ? rng.pick(values) : rng.float(-1, 1);
    return tensor(data, [b, h, n, d]);
  };
  return { q: make(hq, nq), k: make(hkv, nk), v: make(hkv, nk) };
}

/** Named edge cases: fully masked rows, decode with a long key sequence, and logits far beyond exp's f32 range. */
export function edgeCases(seed = 1): AttentionCase[] {
  const rng = new Rng(seed);
  const cases: AttentionCase[] = [];

  {
    // Rows 0, 3 and the last row of every head attend nothing; the others attend a random subset.
    const nq = 9, nk = 21;
    const { q, k, v } = bhnd(rng, 2, 4, 2, nq, nk, 16);
    const mask = new Uint8Array(2 * 4 * nq * nk);
    for (let r = 0; r < 2 * 4 * nq; r++) {
      const i = r % nq;
      const dead = i === 0 || i === 3 || i === nq - 1;
      for (let j = 0; j < nk; j++) mask[r * nk + j] = dead ? 0 : rng.chance(0.5) ? 1 : 0;
    }
    cases.push({ name: 'edge: all keys masked for rows 0, 3, last', q, k, v, options: { mask: tensor(mask, [2, 4, nq, nk]), returnLse: true, returnWeights: true } });
  }
  {
    // Key padding to 0 for one batch entry: every row of it is empty.
    const { q, k, v } = bhnd(rng, 2, 2, 2, 5, 7, 8);
    cases.push({ name: 'edge: keyLengths [7, 0]', q, k, v, options: { keyLengths: [7, 0], returnLse: true, returnWeights: true } });
  }
  {
    // Causal bottom-right with Nq > Nk: the first Nq − Nk rows see no key.
    const { q, k, v } = bhnd(rng, 1, 2, 1, 12, 5, 8);
    cases.push({ name: 'edge: causal bottom-right Nq12 > Nk5', q, k, v, options: { causal: 'bottom-right', returnLse: true, returnWeights: true } });
  }
  {
    // Decode-like: one query against a long key sequence, GQA.
    const { q, k, v } = bhnd(rng, 1, 8, 2, 1, 1000, 64);
    cases.push({ name: 'edge: decode Nq1 Nk1000 GQA 8/2 D64', q, k, v, options: { returnLse: true } });
  }
  {
    const { q, k, v } = bhnd(rng, 2, 4, 1, 1, 1000, 32);
    cases.push({ name: 'edge: decode Nq1 Nk1000 MQA causal bottom-right, keyLengths', q, k, v, options: { causal: 'bottom-right', keyLengths: [1000, 613], returnLse: true } });
  }
  {
    // Large logits (scale 30): a kernel without the running max overflows exp and returns Inf/NaN. Inputs are
    // multiples of 1/8 so every dot product is exact in f32 and the comparison measures the softmax, not rounding.
    const grid = Array.from({ length: 17 }, (_, i) => (i - 8) / 8);
    const { q, k, v } = bhnd(rng, 1, 2, 2, 33, 70, 8, grid);
    cases.push({ name: 'edge: large logits, scale 30', q, k, v, options: { scale: 30, returnLse: true, returnWeights: true } });
  }
  {
    // Large logits from the bias, with a causal mask so that the running max changes from block to block.
    const nq = 40, nk = 140;
    const { q, k, v } = bhnd(rng, 1, 1, 1, nq, nk, 16);
    const bias = new Float32Array(nq * nk);
    for (let i = 0; i < bias.length; i++) bias[i] = ((i * 37) % 11) * 40 - 200;
    cases.push({ name: 'edge: large logits, bias ±200 causal bottom-right', q, k, v, options: { bias: tensor(bias, [nq, nk]), causal: 'bottom-right', returnLse: true } });
  }
  return cases;
}
