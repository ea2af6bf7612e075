/** Reading KVCache and decode options: known keys only (a typo is an error), each value checked and named. */
import { fail } from '../validate/tensor.js';
import { valueString } from '../validate/describe.js';

/** The options object with undefined entries dropped; unknown keys throw INVALID_OPTION naming the key. */
export function readKnown<T extends object>(options: unknown, known: readonly (keyof T & string)[], what: string): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) fail('INVALID_OPTION', what, 'an options object', valueString(options));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(known as readonly string[]).includes(key)) {
      fail('INVALID_OPTION', key, `one of the ${what} ${known.join(', ')}`, `unknown option '${key}'`);
    }
    if (value !== undefined) out[key] = value;
  }
  return out as Partial<T>;
}

/** A positive integer ≤ max (or, with `allowZero`, ≥ 0). */
export function readCount(v: unknown, argument: string, max: number, allowZero = false): number {
  const lo = allowZero ? 0 : 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > max) {
    fail('INVALID_OPTION', argument, `an integer in [${lo}, ${max}]`, valueString(v));
  }
  return v;
}

export function readFlag(v: unknown, argument: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail('INVALID_OPTION', argument, 'true or false', valueString(v));
  return v;
}
