/** queryLengths / keyLengths: one valid length per batch entry (padding / variable-length sequences). */
import { typeName, typedArrayName } from './describe.js';
import { fail } from './tensor.js';

export function readLengths(x: unknown, argument: 'queryLengths' | 'keyLengths', b: number, max: number, dimName: string): Uint32Array {
  const name = ArrayBuffer.isView(x) ? typedArrayName(x) : undefined;
  if (!Array.isArray(x) && name !== 'Int32Array' && name !== 'Uint32Array') {
    fail('INVALID_LENGTHS', argument, 'an Int32Array, Uint32Array or number[]', typeName(x));
  }
  const values = x as ArrayLike<unknown>;
  if (values.length !== b) {
    fail('INVALID_LENGTHS', argument, `${b} lengths (one per batch entry, B = ${b})`, `${values.length} lengths`);
  }
  const out = new Uint32Array(b);
  for (let i = 0; i < b; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      fail('INVALID_LENGTHS', argument, `integers in [0, ${max}] (${dimName} = ${max})`, `${String(v)} at index ${i}`);
    }
    out[i] = v;
  }
  return out;
}
