/** The `alibi` option: `true` (standard slopes for Hq heads) or a Float32Array of Hq finite slopes. */
import { alibiSlopes } from '../layer/alibi.js';
import { isFloat32Array, typeName, valueString } from './describe.js';
import { fail } from './tensor.js';

export function readAlibi(v: unknown, hq: number): Float32Array {
  if (v === true) return alibiSlopes(hq);
  if (!isFloat32Array(v)) {
    fail('INVALID_OPTION', 'alibi', `true (standard slopes) or a Float32Array of ${hq} slopes (one per query head)`,
      typeof v === 'object' ? typeName(v) : valueString(v));
  }
  if (v.length !== hq) fail('INVALID_OPTION', 'alibi', `${hq} slopes (one per query head, Hq)`, `${v.length} slopes`);
  const bad = v.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) fail('INVALID_OPTION', 'alibi', 'finite slopes', `alibi[${bad}] = ${v[bad]}`);
  return v;
}
