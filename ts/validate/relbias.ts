/** The `relativeBias` option: a table [Hq|1, L] of biases by distance gj − diag, distance 0 at index `zero`. */
import type { RelativeBias } from '../descriptor.js';
import { shapeString, typeName, valueString } from './describe.js';
import { checkLength, fail, readTensor, toFloat32 } from './tensor.js';

const CODES = { type: 'INVALID_BIAS', shape: 'INVALID_BIAS', dim: 'INVALID_BIAS' } as const;

export function readRelativeBias(v: unknown, hq: number): RelativeBias {
  if (typeof v !== 'object' || v === null || !('table' in v)) {
    fail('INVALID_BIAS', 'relativeBias', '{ table: { data: Float32Array, shape: [Hq|1, L] }, zero }', typeName(v));
  }
  const o = v as { table: unknown; zero?: unknown };
  for (const key of Object.keys(o)) {
    if (key !== 'table' && key !== 'zero') fail('INVALID_OPTION', `relativeBias.${key}`, 'only the keys table, zero', `unknown key '${key}'`);
  }
  const t = readTensor(o.table, 'relativeBias.table', CODES);
  const data = toFloat32(t.data, 'relativeBias.table', false, 'INVALID_BIAS');
  checkLength(data.length, t.dims, 'relativeBias.table', 'INVALID_BIAS');
  if (t.dims.length !== 2 || (t.dims[0] !== hq && t.dims[0] !== 1)) {
    fail('INVALID_BIAS', 'relativeBias.table', `[${hq}|1, L] (one row per query head, or one row for all)`, shapeString(t.dims));
  }
  const len = t.dims[1]!;
  const zero = o.zero;
  if (typeof zero !== 'number' || !Number.isInteger(zero) || zero < 0 || zero >= len) {
    fail('INVALID_BIAS', 'relativeBias.zero', `an integer index in [0, ${len}) (the entry of distance 0)`, valueString(zero));
  }
  let table = data;
  if (t.dims[0] !== hq) {
    table = new Float32Array(hq * len);
    for (let h = 0; h < hq; h++) table.set(data, h * len);
  }
  return { table, len, zero };
}
