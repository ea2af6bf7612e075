/** Mask and bias: [Nq, Nk], [H, Nq, Nk] or [B, H, Nq, Nk] with any of B, H, Nq given as 1 to broadcast. */
import type { StridedView, Strides } from '../descriptor.js';
import type { AttentionErrorCode } from '../types.js';
import { shapeString } from './describe.js';
import { checkLength, fail, readTensor } from './tensor.js';

export interface Full {
  b: number;
  hq: number;
  nq: number;
  nk: number;
}

/** Strides of a [B', H', N', Nk] block, 0 for every size-1 dim (the kernels then read the same row or plane). */
export function broadcastStrides(dims: readonly [number, number, number, number]): Strides {
  const [b, h, n, nk] = dims;
  return {
    batch: b === 1 ? 0 : h * n * nk,
    head: h === 1 ? 0 : n * nk,
    row: n === 1 ? 0 : nk,
  };
}

export function readBroadcast<T extends Uint8Array | Float32Array>(
  x: unknown, argument: 'mask' | 'bias', code: AttentionErrorCode, full: Full,
  toData: (data: unknown) => T,
): StridedView<T> {
  const t = readTensor(x, argument, { type: code, shape: code, dim: code });
  const data = toData(t.data);
  const padded = [1, 1, 1, 1, ...t.dims].slice(-4) as [number, number, number, number];
  const want = [full.b, full.hq, full.nq];
  const fits = t.dims.length >= 2 && t.dims.length <= 4 && padded[3] === full.nk &&
    want.every((n, i) => padded[i] === n || padded[i] === 1);
  if (!fits) {
    const alt = (n: number): string => (n === 1 ? '1' : `${n}|1`);
    fail(code, argument,
      `[${alt(full.b)}, ${alt(full.hq)}, ${alt(full.nq)}, ${full.nk}] (B, Hq, Nq, Nk; size 1 broadcasts; leading dims may be omitted)`,
      shapeString(t.dims));
  }
  checkLength(data.length, t.dims, argument, code);
  return { data, strides: broadcastStrides(padded) };
}
