/**
 * Reading the `variant` option into a VariantSpec: its fields checked (every error names `variant.<field>`), its
 * projections drawn or read, and the other options checked to be ones the variant supports.
 */
import { SIM_DOT, type AttentionDescriptor } from '../descriptor.js';
import type { AttentionOptions } from '../types.js';
import { shapeString, valueString } from '../validate/describe.js';
import { checkLength, fail, readTensor, toFloat32 } from '../validate/tensor.js';
import { cachedLinformerProjection, cachedPerformerProjection } from './cache.js';
import { DEFAULT_LSH_CHUNK, MAX_LSH_ROUNDS, checkSharedQK, lshRotations } from './lsh.js';
import type { VariantKind, VariantSpec } from './types.js';

/** Largest feature / projected-row count (crate/src/variants/check.rs MAX_FEATURES). */
export const MAX_FEATURES = 1 << 16;
export const DEFAULT_FEATURES = 256;
export const DEFAULT_PROJECTED_LENGTH = 256;

const KINDS: readonly VariantKind[] = ['linear', 'performer', 'linformer', 'lsh'];
const KEYS: Record<VariantKind, readonly string[]> = {
  linear: ['kind'],
  performer: ['kind', 'features', 'seed', 'projection'],
  linformer: ['kind', 'projectedLength', 'seed', 'e', 'f'],
  lsh: ['kind', 'buckets', 'rounds', 'chunk', 'seed'],
};

/** The options each variant supports besides q, k, v (used in error messages). */
export function supportedOptions(kind: VariantKind): string {
  return `layout, ${kind === 'linear' ? '' : 'scale, '}${kind === 'linformer' ? '' : 'causal, '}out, convert`;
}

const ARG = 'INVALID_OPTION';

function count(v: unknown, argument: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_FEATURES) {
    fail(ARG, argument, `an integer in [1, ${MAX_FEATURES}]`, valueString(v));
  }
  return v;
}

function seedOf(v: unknown, argument: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    fail(ARG, argument, 'an integer in [0, 2³² − 1]', valueString(v));
  }
  return v;
}

/** A [rows, cols] f32 matrix; `rows` undefined = any. */
function matrix(x: unknown, argument: string, rows: number | undefined, cols: number, colName: string, convert: boolean): Float32Array {
  const codes = { type: ARG, shape: ARG, dim: ARG } as const;
  const t = readTensor(x, argument, codes);
  if (t.dims.length !== 2 || t.dims[1] !== cols || (rows !== undefined && t.dims[0] !== rows)) {
    fail(ARG, argument, `shape [${rows ?? 'rows'}, ${cols}] (${colName} = ${cols})`, shapeString(t.dims));
  }
  const data = toFloat32(t.data, argument, convert, ARG);
  checkLength(data.length, t.dims, argument, ARG);
  return data;
}

/** Rejects every option the variant cannot honour, naming it. */
function checkCombinations(kind: VariantKind, o: AttentionOptions, d: AttentionDescriptor): void {
  const no = (argument: string, given: string): never =>
    fail(ARG, argument, `no ${argument} with variant '${kind}' (it supports ${supportedOptions(kind)})`, given);
  if (o.mask !== undefined) no('mask', 'a mask');
  if (o.bias !== undefined) no('bias', 'a bias');
  if (o.window !== undefined) no('window', valueString(o.window));
  if (o.queryLengths !== undefined) no('queryLengths', 'per-batch lengths');
  if (o.keyLengths !== undefined) no('keyLengths', 'per-batch lengths');
  if (d.softcap !== 0) no('softcap', String(d.softcap));
  if (d.similarity !== SIM_DOT) no('similarity', "'cosine'");
  if (d.returnLse) no('returnLse', 'true');
  if (d.returnWeights) no('returnWeights', 'true');
  if (kind === 'linear' && o.scale !== undefined) no('scale', String(o.scale));
  if (kind === 'linformer' && d.winRight === 0) no('causal', valueString(o.causal));
  if (kind === 'lsh') checkSharedQK(d);
  if (kind === 'performer' && !(d.scale >= 0)) {
    fail(ARG, 'scale', "a scale ≥ 0 with variant 'performer' (its features need √scale)", String(d.scale));
  }
}

export function readVariant(o: AttentionOptions, d: AttentionDescriptor, convert: boolean): VariantSpec {
  const v: unknown = o.variant;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail(ARG, 'variant', "{ kind: 'linear' | 'performer' | 'linformer' | 'lsh', … }", valueString(v));
  }
  const r = v as Record<string, unknown>;
  const kind = r['kind'];
  if (!KINDS.includes(kind as VariantKind)) {
    fail(ARG, 'variant.kind', KINDS.map((k) => `'${k}'`).join(', '), valueString(kind));
  }
  const k = kind as VariantKind;
  for (const key of Object.keys(r)) {
    if (r[key] !== undefined && !KEYS[k].includes(key)) {
      fail(ARG, `variant.${key}`, `only the keys ${KEYS[k].join(', ')} for kind '${k}'`, `unknown key '${key}'`);
    }
  }
  checkCombinations(k, o, d);
  switch (k) {
    case 'linear':
      return { kind: 'linear' };
    case 'performer': {
      if (r['projection'] !== undefined) {
        if (r['seed'] !== undefined) fail(ARG, 'variant.seed', 'either seed or projection', 'both');
        const given = r['features'] === undefined ? undefined : count(r['features'], 'variant.features', 0);
        const projection = matrix(r['projection'], 'variant.projection', given, d.dk, 'Dk', convert);
        const features = projection.length / d.dk;
        if (features > MAX_FEATURES) fail(ARG, 'variant.projection', `at most ${MAX_FEATURES} rows`, `${features} rows`);
        return { kind: 'performer', features, projection };
      }
      const features = count(r['features'], 'variant.features', DEFAULT_FEATURES);
      return { kind: 'performer', features, projection: cachedPerformerProjection(features, d.dk, seedOf(r['seed'], 'variant.seed')) };
    }
    case 'linformer': {
      const e = r['e'];
      const f = r['f'];
      if ((e === undefined) !== (f === undefined)) {
        fail(ARG, e === undefined ? 'variant.e' : 'variant.f', 'both e and f, or neither', 'only one of them');
      }
      if (e !== undefined) {
        if (r['seed'] !== undefined) fail(ARG, 'variant.seed', 'either seed or e and f', 'both');
        const given = r['projectedLength'] === undefined ? undefined : count(r['projectedLength'], 'variant.projectedLength', 0);
        const E = matrix(e, 'variant.e', given, d.nk, 'Nk', convert);
        const rows = E.length / d.nk;
        const F = matrix(f, 'variant.f', rows, d.nk, 'Nk', convert);
        if (rows > MAX_FEATURES) fail(ARG, 'variant.e', `at most ${MAX_FEATURES} rows`, `${rows} rows`);
        return { kind: 'linformer', rows, e: E, f: F };
      }
      const rows = count(r['projectedLength'], 'variant.projectedLength', Math.min(DEFAULT_PROJECTED_LENGTH, d.nk));
      const { e: E, f: F } = cachedLinformerProjection(rows, d.nk, seedOf(r['seed'], 'variant.seed'));
      return { kind: 'linformer', rows, e: E, f: F };
    }
    case 'lsh': {
      if (r['buckets'] === undefined) fail(ARG, 'variant.buckets', `an even integer in [2, ${MAX_FEATURES}]`, 'undefined');
      const buckets = count(r['buckets'], 'variant.buckets', 0);
      if (buckets % 2 !== 0 || buckets < 2) fail(ARG, 'variant.buckets', `an even integer in [2, ${MAX_FEATURES}]`, String(buckets));
      const rounds = r['rounds'];
      if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1 || rounds > MAX_LSH_ROUNDS) {
        fail(ARG, 'variant.rounds', `an integer in [1, ${MAX_LSH_ROUNDS}]`, valueString(rounds));
      }
      const chunk = count(r['chunk'], 'variant.chunk', DEFAULT_LSH_CHUNK);
      if (rounds * d.dk * (buckets / 2) > 0xffffffff) {
        fail(ARG, 'variant.buckets', 'rounds · Dk · buckets / 2 ≤ 2³² − 1', String(rounds * d.dk * (buckets / 2)));
      }
      return { kind: 'lsh', buckets, rounds, chunk, rotations: lshRotations(rounds, d.dk, buckets, seedOf(r['seed'], 'variant.seed')) };
    }
  }
}
