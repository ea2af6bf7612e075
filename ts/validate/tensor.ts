/** Reading a user tensor `{ data, shape | dims }`: its dims, and its data as the element type a kernel needs. */
import { AttentionError, formatErrorMessage } from '../errors.js';
import type { AttentionErrorCode } from '../types.js';
import { isFloat32Array, product, shapeString, typeName, typedArrayName, valueString } from './describe.js';

/** Largest element count of one operand: lengths and offsets must fit the descriptor's u32 words with room to spare
 * (and a wasm32 memory holds at most 4 GiB anyway). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Which error code each kind of problem gets for this argument (q/k/v use three codes; mask and bias one each). */
export interface Codes {
  type: AttentionErrorCode;
  shape: AttentionErrorCode;
  dim: AttentionErrorCode;
}

export const OPERAND_CODES: Codes = { type: 'INVALID_TYPE', shape: 'INVALID_SHAPE', dim: 'INVALID_DIM' };

export function fail(code: AttentionErrorCode, argument: string, expected: string, actual: string, hint?: string): never {
  throw new AttentionError(code, argument, expected, actual, formatErrorMessage(argument, expected, actual, hint));
}

export interface RawTensor {
  data: unknown;
  dims: number[];
}

/** The tensor's data and dims (from `shape`, or `dims` as onnxruntime-web names it), dims checked to be positive
 * integers whose product fits MAX_ELEMENTS. The data is checked later, by the converter for its element type. */
export function readTensor(x: unknown, argument: string, codes: Codes): RawTensor {
  if (typeof x !== 'object' || x === null || !('data' in x)) {
    fail(codes.type, argument, 'a tensor { data, shape }', typeName(x));
  }
  const t = x as { data: unknown; shape?: unknown; dims?: unknown };
  const raw = t.shape ?? t.dims;
  if (!Array.isArray(raw)) {
    fail(codes.shape, argument, 'a shape (or dims) array', raw === undefined ? 'no shape' : typeName(raw));
  }
  if (t.shape !== undefined && t.dims !== undefined && !sameDims(t.shape, t.dims)) {
    fail(codes.shape, argument, 'shape and dims to agree', `shape ${shapeString(t.shape as unknown[])} and dims ${shapeString(t.dims as unknown[])}`);
  }
  const dims = raw as unknown[];
  if (!dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 1)) {
    fail(codes.dim, argument, 'dimensions that are positive integers', `shape ${shapeString(dims)}`);
  }
  const n = product(dims as number[]);
  if (n > MAX_ELEMENTS) {
    fail(codes.dim, argument, `at most ${MAX_ELEMENTS} elements`, `${shapeString(dims)} = ${n} elements`);
  }
  return { data: t.data, dims: [...(dims as number[])] };
}

function sameDims(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Throws unless the data holds exactly the product of the dims. */
export function checkLength(length: number, dims: readonly number[], argument: string, code: AttentionErrorCode): void {
  const n = product(dims);
  if (length !== n) {
    fail(code, argument, `${n} elements (the product of shape ${shapeString(dims)})`, `${length} elements`);
  }
}

const isNumericView = (x: unknown): x is ArrayLike<number> =>
  ArrayBuffer.isView(x) && !(x instanceof DataView) && !/^Big/.test(typedArrayName(x) ?? 'Big');

/** The first index of array `x` whose element fails `ok`, or −1. A plain loop: `every` skips holes, so a sparse array
 * (`new Array(n)`) passed as number[] and converted to NaN (data) or to 0 = masked (masks). */
function firstBad(x: readonly unknown[], ok: (e: unknown) => boolean): number {
  for (let i = 0; i < x.length; i++) if (!ok(x[i])) return i;
  return -1;
}

/** An array that is not entirely of the accepted element types: the error names the first element that is not. */
function failArray(code: AttentionErrorCode, argument: string, expected: string, x: readonly unknown[], at: number): never {
  const e = x[at];
  const what = at in x ? (typeof e === 'object' && e !== null ? typeName(e) : `${typeof e} ${valueString(e)}`) : 'a hole';
  fail(code, argument, expected, `an array with ${what} at index ${at}`);
}

const isNumber = (e: unknown): boolean => typeof e === 'number';

/** Float32Array as is (never copied); with `convert`, other numeric typed arrays and number[] are converted. */
export function toFloat32(data: unknown, argument: string, convert: boolean, code: AttentionErrorCode): Float32Array {
  if (isFloat32Array(data)) return data;
  if (convert && Array.isArray(data)) {
    const bad = firstBad(data, isNumber);
    if (bad >= 0) failArray(code, argument, 'Float32Array or number[]', data, bad);
    return Float32Array.from(data as number[]);
  }
  const convertible = isNumericView(data) || (Array.isArray(data) && firstBad(data, isNumber) < 0);
  if (convert && convertible) return Float32Array.from(data as ArrayLike<number>);
  fail(code, argument, 'Float32Array', typeName(data), convertible ? 'pass { convert: true } to convert' : undefined);
}

/** Uint8Array as is, Uint8ClampedArray viewed as Uint8Array (no copy); with `convert`, boolean[], number[] and other
 * numeric typed arrays become 0/1 bytes (truthy = attend). */
export function toMaskBytes(data: unknown, argument: string, convert: boolean, code: AttentionErrorCode): Uint8Array {
  if (ArrayBuffer.isView(data)) {
    const name = typedArrayName(data);
    if (name === 'Uint8Array') return data as Uint8Array;
    if (name === 'Uint8ClampedArray') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const isFlag = (e: unknown): boolean => typeof e === 'number' || typeof e === 'boolean';
  if (convert && Array.isArray(data)) {
    const bad = firstBad(data, isFlag);
    if (bad >= 0) failArray(code, argument, 'Uint8Array, or boolean[] / number[]', data, bad);
  }
  const convertible = isNumericView(data) || (Array.isArray(data) && firstBad(data, isFlag) < 0);
  if (convert && convertible) return Uint8Array.from(data as ArrayLike<number | boolean>, (e) => (e ? 1 : 0));
  fail(code, argument, 'Uint8Array (nonzero = attend)', typeName(data), convertible ? 'pass { convert: true } to convert' : undefined);
}
