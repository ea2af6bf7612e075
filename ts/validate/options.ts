/** The scalar options: names, types and ranges, and how causal / window / scale are normalised. */
import { ALIGN_BOTTOM_RIGHT, ALIGN_TOP_LEFT, SIM_COSINE, SIM_DOT, WINDOW_UNBOUNDED } from '../descriptor.js';
import type { AttentionOptions, Layout } from '../types.js';
import { valueString } from './describe.js';
import { fail } from './tensor.js';

/** Every option key; `satisfies` keeps this list in step with AttentionOptions. */
const KNOWN = {
  layout: true, scale: true, causal: true, window: true, queryLengths: true, keyLengths: true, mask: true, bias: true,
  softcap: true, similarity: true, temperature: true, returnLse: true, returnWeights: true, out: true, convert: true,
  variant: true, alibi: true, relativeBias: true, sparsity: true,
} as const satisfies Record<keyof AttentionOptions, true>;
const KNOWN_KEYS = Object.keys(KNOWN);
const WINDOW_KEYS = ['left', 'right', 'align'];

/** The options object with its undefined entries dropped (so `{ ...defaults, causal: undefined }` is fine). Unknown
 * keys are errors: a typo such as `casual` must not be silently ignored. */
export function readOptions(options: unknown): AttentionOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    fail('INVALID_OPTION', 'options', 'an options object', valueString(options));
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(key in KNOWN)) {
      const near = closest(key, KNOWN_KEYS);
      fail('INVALID_OPTION', key, `one of the options ${KNOWN_KEYS.join(', ')}`, `unknown option '${key}'`,
        near ? `did you mean '${near}'?` : undefined);
    }
    if (value !== undefined) out[key] = value;
  }
  return out as AttentionOptions;
}

/** The known name within edit distance 2 of `key`, if any. */
function closest(key: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const name of names) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDist) { best = name; bestDist = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

export function readBoolean(o: AttentionOptions, key: 'returnLse' | 'returnWeights' | 'convert'): boolean {
  const v: unknown = o[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') fail('INVALID_OPTION', key, 'true or false', valueString(v));
  return v;
}

export function readLayout(o: AttentionOptions): Layout {
  const v: unknown = o.layout ?? 'BHND';
  if (v !== 'BHND' && v !== 'BNHD') fail('INVALID_OPTION', 'layout', "'BHND' or 'BNHD'", valueString(v));
  return v;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export interface Scoring {
  similarity: typeof SIM_DOT | typeof SIM_COSINE;
  scale: number;
  softcap: number;
}

/** similarity, scale (default 1/√Dk for dot, 1/temperature for cosine), temperature, softcap. */
export function readScoring(o: AttentionOptions, dk: number): Scoring {
  const sim: unknown = o.similarity ?? 'dot';
  if (sim !== 'dot' && sim !== 'cosine') fail('INVALID_OPTION', 'similarity', "'dot' or 'cosine'", valueString(sim));
  const scale: unknown = o.scale;
  if (scale !== undefined && !isFiniteNumber(scale)) fail('INVALID_OPTION', 'scale', 'a finite number', valueString(scale));
  const temp: unknown = o.temperature;
  if (temp !== undefined) {
    if (sim !== 'cosine') {
      fail('INVALID_OPTION', 'temperature', "similarity: 'cosine' (temperature applies to cosine similarity only)",
        `similarity '${sim}'`, 'use scale with dot-product similarity');
    }
    if (scale !== undefined) {
      fail('INVALID_OPTION', 'temperature', 'either scale or temperature', `both (scale ${scale}, temperature ${valueString(temp)})`,
        'scale = 1 / temperature');
    }
    if (!isFiniteNumber(temp) || temp <= 0) fail('INVALID_OPTION', 'temperature', 'a finite number > 0', valueString(temp));
  }
  const softcap: unknown = o.softcap ?? 0;
  if (!isFiniteNumber(softcap) || softcap < 0) {
    fail('INVALID_OPTION', 'softcap', 'a finite number ≥ 0 (0 = off)', valueString(softcap));
  }
  // The kernels hold scale and softcap as float32: a value that rounds to ±∞ there, or a softcap that rounds to 0
  // (= off), would silently compute something else than the float64 definition.
  if (softcap > 0 && (Math.fround(softcap) === 0 || Math.fround(softcap) === Infinity)) {
    fail('INVALID_OPTION', 'softcap', `0 (off) or a number in [${F32_MIN_SUBNORMAL}, ${F32_MAX}] (float32)`, valueString(softcap));
  }
  const cosine = sim === 'cosine';
  const s = scale ?? (cosine ? 1 / ((temp as number | undefined) ?? 1) : 1 / Math.sqrt(dk));
  if (!Number.isFinite(Math.fround(s))) {
    const argument = scale === undefined && cosine ? 'temperature' : 'scale';
    fail('INVALID_OPTION', argument, argument === 'scale' ? `|scale| ≤ ${F32_MAX} (float32)` : `temperature ≥ 1 / ${F32_MAX} (scale = 1 / temperature is float32)`,
      valueString(argument === 'scale' ? s : temp));
  }
  return { similarity: cosine ? SIM_COSINE : SIM_DOT, scale: s, softcap };
}

/** Largest finite float32, and the smallest positive one. */
const F32_MAX = 3.4028234663852886e38;
const F32_MIN_SUBNORMAL = 1.401298464324817e-45;

export interface Structure {
  align: typeof ALIGN_TOP_LEFT | typeof ALIGN_BOTTOM_RIGHT;
  winLeft: number;
  winRight: number;
}

const ALIGN_NAMES = "'top-left' or 'bottom-right'";

/** causal and window → one window [diag − left, diag + right] with one alignment; causal is right = 0. */
export function readStructure(o: AttentionOptions, nq: number, nk: number): Structure {
  const causal: unknown = o.causal ?? false;
  if (causal !== true && causal !== false && causal !== 'top-left' && causal !== 'bottom-right') {
    fail('INVALID_OPTION', 'causal', `true, false, ${ALIGN_NAMES}`, valueString(causal));
  }
  const causalAlign = causal === true ? 'top-left' : causal || undefined;
  let left = WINDOW_UNBOUNDED;
  let right = WINDOW_UNBOUNDED;
  let windowAlign: unknown;
  const w: unknown = o.window;
  if (w !== undefined) {
    if (typeof w !== 'object' || w === null || Array.isArray(w)) {
      fail('INVALID_OPTION', 'window', '{ left?, right?, align? }', valueString(w));
    }
    for (const key of Object.keys(w)) {
      if (!WINDOW_KEYS.includes(key)) fail('INVALID_OPTION', `window.${key}`, 'only the keys left, right, align', `unknown key '${key}'`);
    }
    const win = w as { left?: unknown; right?: unknown; align?: unknown };
    left = windowBound(win.left, 'window.left', nq + nk);
    right = windowBound(win.right, 'window.right', nq + nk);
    windowAlign = win.align;
    if (windowAlign !== undefined && windowAlign !== 'top-left' && windowAlign !== 'bottom-right') {
      fail('INVALID_OPTION', 'window.align', ALIGN_NAMES, valueString(windowAlign));
    }
    if (causalAlign !== undefined && windowAlign !== undefined && windowAlign !== causalAlign) {
      fail('INVALID_OPTION', 'window.align', `'${causalAlign}' (the alignment of causal: ${valueString(causal)})`,
        valueString(windowAlign), 'causal and window share one diagonal: give the alignment once');
    }
  }
  if (causalAlign !== undefined) right = 0; // right ≥ 0 always, so min(right, 0) = 0
  const align = (windowAlign ?? causalAlign ?? 'top-left') === 'bottom-right' ? ALIGN_BOTTOM_RIGHT : ALIGN_TOP_LEFT;
  return { align, winLeft: left, winRight: right };
}

/** A window side: a non-negative integer, Infinity or undefined (unbounded). Bounds of at least Nq + Nk reach every
 * key from every query under either alignment, so they are stored as unbounded too (the descriptor word is an i32). */
function windowBound(v: unknown, argument: string, nqPlusNk: number): number {
  if (v === undefined || v === Infinity) return WINDOW_UNBOUNDED;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    fail('INVALID_OPTION', argument, 'a non-negative integer or Infinity', valueString(v));
  }
  if (v >= nqPlusNk) return WINDOW_UNBOUNDED;
  if (v > 0x7fffffff) fail('INVALID_OPTION', argument, `at most ${0x7fffffff} or Infinity`, String(v));
  return v;
}
