/** q, k, v: 4-D (or 3-D with B = 1) tensors in one layout, read into sizes + strides without copying. */
import type { Strides } from '../descriptor.js';
import type { Layout } from '../types.js';
import { shapeString } from './describe.js';
import { OPERAND_CODES, checkLength, fail, readTensor, toFloat32 } from './tensor.js';

export interface Operand {
  data: Float32Array;
  /** The user's dims, as given. */
  dims: number[];
  b: number;
  h: number;
  n: number;
  d: number;
}

/** The dims of [b, h, n, d] written in `layout` order, 3-D when `rank` is 3. */
export function layoutDims<T>(b: T, h: T, n: T, d: T, layout: Layout, rank: number): T[] {
  const inner = layout === 'BHND' ? [h, n, d] : [n, h, d];
  return rank === 3 ? inner : [b, ...inner];
}

const dimNames = (layout: Layout, rank: number, h: string, n: string, d: string): string =>
  layoutDims('B', h, n, d, layout, rank).join(', ');

/** Element strides of a compact [b, h, n, d] operand in `layout`. */
export function layoutStrides(h: number, n: number, d: number, layout: Layout): Strides {
  return layout === 'BHND'
    ? { batch: h * n * d, head: n * d, row: d }
    : { batch: n * h * d, head: d, row: h * d };
}

export function readOperand(x: unknown, argument: 'q' | 'k' | 'v', layout: Layout, convert: boolean): Operand {
  const t = readTensor(x, argument, OPERAND_CODES);
  const data = toFloat32(t.data, argument, convert, OPERAND_CODES.type);
  const rank = t.dims.length;
  if (rank !== 3 && rank !== 4) {
    const [h, n, d] = argument === 'q' ? ['Hq', 'Nq', 'Dk'] : argument === 'k' ? ['Hkv', 'Nk', 'Dk'] : ['Hkv', 'Nk', 'Dv'];
    fail('INVALID_SHAPE', argument,
      `4-D [${dimNames(layout, 4, h, n, d)}] or 3-D [${dimNames(layout, 3, h, n, d)}] (layout ${layout})`,
      `${rank}-D ${shapeString(t.dims)}`);
  }
  checkLength(data.length, t.dims, argument, OPERAND_CODES.shape);
  const four = rank === 4 ? t.dims : [1, ...t.dims];
  const [b, h, n, d] = layout === 'BHND' ? four : [four[0], four[2], four[1], four[3]];
  return { data, dims: t.dims, b: b!, h: h!, n: n!, d: d! };
}

function divisorsOf(n: number): string {
  const ds: number[] = [];
  for (let i = 1; i <= n; i++) if (n % i === 0) ds.push(i);
  return ds.length <= 8 ? ds.join('|') : `a divisor of ${n}`;
}

/** k agrees with q: same B and Dk, and Hq a multiple of Hkv (GQA / MQA). */
export function checkKey(q: Operand, k: Operand, layout: Layout): void {
  const heads = q.h % k.h === 0;
  if (k.b === q.b && k.d === q.d && heads) return;
  const rank = k.dims.length === 3 && q.b === 1 ? 3 : 4;
  const expected = layoutDims(String(q.b), heads ? String(k.h) : divisorsOf(q.h), String(k.n), String(q.d), layout, rank);
  const onlyHeads = k.b === q.b && k.d === q.d;
  fail(onlyHeads ? 'INVALID_HEADS' : 'INVALID_SHAPE', 'k',
    `shape [${expected.join(', ')}] (${dimNames(layout, rank, 'Hkv', 'Nk', 'Dk')} with B = ${q.b} and Dk = ${q.d} as in q, ` +
      `and Hq = ${q.h} a multiple of Hkv)`,
    shapeString(k.dims));
}

/** v agrees with k: same B, Hkv and Nk (Dv is free). */
export function checkValue(q: Operand, k: Operand, v: Operand, layout: Layout): void {
  if (v.b === q.b && v.h === k.h && v.n === k.n) return;
  const rank = v.dims.length === 3 && q.b === 1 ? 3 : 4;
  const expected = layoutDims(q.b, k.h, k.n, v.d, layout, rank);
  fail('INVALID_SHAPE', 'v',
    `shape ${shapeString(expected)} (${dimNames(layout, rank, 'Hkv', 'Nk', 'Dv')} with B as in q, Hkv and Nk as in k)`,
    shapeString(v.dims));
}
