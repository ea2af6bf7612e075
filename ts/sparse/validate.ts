/** The `sparsity` option: every field checked (errors name `sparsity.<field>`), normalised, then compiled. */
import { typeName, typedArrayName, valueString } from '../validate/describe.js';
import { fail } from '../validate/tensor.js';
import { compileBlockMask, type SparsePattern } from './compile.js';
import { addRandomBlocks } from './random.js';
import { SPARSE_BK, SPARSE_BQ, type SparseSpec } from './types.js';

const KEYS = ['window', 'dilation', 'globalTokens', 'randomBlocks', 'blocks', 'csr'];
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);

/** Unknown keys of a nested object are errors, as at the top level: a typo must not be silently ignored. */
function onlyKeys(x: Record<string, unknown>, argument: string, keys: readonly string[]): void {
  for (const key of Object.keys(x)) {
    if (!keys.includes(key) && x[key] !== undefined) {
      fail('INVALID_OPTION', `${argument}.${key}`, `only the keys ${keys.join(', ')}`, `unknown key '${key}'`);
    }
  }
}

function integer(v: unknown, argument: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail('INVALID_OPTION', argument, `an integer in [${min}, ${max}]`, valueString(v));
  }
  return v;
}

/** An Int32Array, Uint32Array or number[] of integers in [0, max]. */
function indices(x: unknown, argument: string, max: number): Uint32Array {
  const name = ArrayBuffer.isView(x) ? typedArrayName(x) : undefined;
  if (!Array.isArray(x) && name !== 'Int32Array' && name !== 'Uint32Array') {
    fail('INVALID_OPTION', argument, 'an Int32Array, Uint32Array or number[]', typeName(x));
  }
  const values = x as ArrayLike<unknown>;
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      fail('INVALID_OPTION', argument, `integers in [0, ${max}]`, `${String(v)} at index ${i}`);
    }
    out[i] = v;
  }
  return out;
}

/** `shift`: diag = gi + shift (the causal / window alignment on the global counts). */
export function readSparsity(x: unknown, nq: number, nk: number, shift: number): SparseSpec {
  if (!isObject(x)) fail('INVALID_OPTION', 'sparsity', '{ window?, dilation?, globalTokens?, randomBlocks?, blocks?, csr? }', valueString(x));
  for (const key of Object.keys(x)) {
    if (!KEYS.includes(key)) fail('INVALID_OPTION', `sparsity.${key}`, `only the keys ${KEYS.join(', ')}`, `unknown key '${key}'`);
  }
  const o = Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined));
  if (Object.keys(o).every((k) => k === 'dilation')) {
    fail('INVALID_OPTION', 'sparsity', 'at least one of window, globalTokens, randomBlocks, blocks, csr', 'none');
  }
  const window = o.window === undefined ? -1 : integer(o.window, 'sparsity.window', 0, 0x7fffffff);
  const dilation = o.dilation === undefined ? 1 : integer(o.dilation, 'sparsity.dilation', 1, 0x7fffffff);
  if (o.dilation !== undefined && window < 0) fail('INVALID_OPTION', 'sparsity.dilation', 'a window to dilate (sparsity.window)', 'no window');
  const globals = o.globalTokens === undefined ? new Uint32Array(0)
    : Uint32Array.from(new Set(indices(o.globalTokens, 'sparsity.globalTokens', Math.max(nq, nk) - 1))).sort();
  const p: SparsePattern = { window, dilation, shift, globals };

  let blockSize: [number, number] = [SPARSE_BQ, SPARSE_BK];
  let layout: Uint8Array | undefined;
  if (o.blocks !== undefined) {
    const b = o.blocks;
    if (!isObject(b)) fail('INVALID_OPTION', 'sparsity.blocks', '{ layout: Uint8Array, blockSize: [bq, bk] }', valueString(b));
    onlyKeys(b, 'sparsity.blocks', ['layout', 'blockSize']);
    const size = b.blockSize;
    if (!Array.isArray(size) || size.length !== 2) fail('INVALID_OPTION', 'sparsity.blocks.blockSize', '[bq, bk]', valueString(size));
    // Blocks larger than the sequence are one partial block (ceil(N / b) = 1): a model's block size still applies to
    // a short input.
    blockSize = [integer(size[0], 'sparsity.blocks.blockSize[0]', 1, 0x7fffffff), integer(size[1], 'sparsity.blocks.blockSize[1]', 1, 0x7fffffff)];
    const rows = Math.ceil(nq / blockSize[0]);
    const cols = Math.ceil(nk / blockSize[1]);
    if (!(b.layout instanceof Uint8Array)) fail('INVALID_OPTION', 'sparsity.blocks.layout', 'a Uint8Array', typeName(b.layout));
    if (b.layout.length !== rows * cols) {
      fail('INVALID_OPTION', 'sparsity.blocks.layout', `${rows}·${cols} = ${rows * cols} entries (ceil(Nq / bq) × ceil(Nk / bk))`, `${b.layout.length}`);
    }
    layout = b.layout.slice();
  }
  if (o.randomBlocks !== undefined) {
    const rb = o.randomBlocks;
    if (!isObject(rb)) fail('INVALID_OPTION', 'sparsity.randomBlocks', '{ count, seed }', valueString(rb));
    onlyKeys(rb, 'sparsity.randomBlocks', ['count', 'seed']);
    const count = integer(rb.count, 'sparsity.randomBlocks.count', 0, 0x7fffffff);
    const seed = integer(rb.seed, 'sparsity.randomBlocks.seed', -0x80000000, 0xffffffff);
    const rows = Math.ceil(nq / blockSize[0]);
    const cols = Math.ceil(nk / blockSize[1]);
    layout ??= new Uint8Array(rows * cols);
    addRandomBlocks(layout, rows, cols, count, seed);
  }
  if (layout) {
    p.layout = { data: layout, bq: blockSize[0], bk: blockSize[1], rows: Math.ceil(nq / blockSize[0]), cols: Math.ceil(nk / blockSize[1]) };
  }
  if (o.csr !== undefined) p.csr = readCsr(o.csr, nq, nk);
  return compileBlockMask(p, nq, nk);
}

/** CSR over the Nq query rows; each row's column indices are sorted and de-duplicated (a copy). */
function readCsr(c: unknown, nq: number, nk: number): { rowPtr: Uint32Array; colIdx: Uint32Array } {
  if (!isObject(c)) fail('INVALID_OPTION', 'sparsity.csr', '{ rowPtr, colIdx }', valueString(c));
  onlyKeys(c, 'sparsity.csr', ['rowPtr', 'colIdx']);
  const colIdx = indices(c.colIdx, 'sparsity.csr.colIdx', nk - 1);
  const rowPtr = indices(c.rowPtr, 'sparsity.csr.rowPtr', colIdx.length);
  if (rowPtr.length !== nq + 1) fail('INVALID_OPTION', 'sparsity.csr.rowPtr', `Nq + 1 = ${nq + 1} entries`, `${rowPtr.length}`);
  if (rowPtr[0] !== 0 || rowPtr[nq] !== colIdx.length) {
    fail('INVALID_OPTION', 'sparsity.csr.rowPtr', `rowPtr[0] = 0 and rowPtr[Nq] = colIdx.length = ${colIdx.length}`, `${rowPtr[0]} and ${rowPtr[nq]}`);
  }
  const outPtr = new Uint32Array(nq + 1);
  const out: number[] = [];
  for (let i = 0; i < nq; i++) {
    if (rowPtr[i + 1]! < rowPtr[i]!) fail('INVALID_OPTION', 'sparsity.csr.rowPtr', 'non-decreasing entries', `${rowPtr[i]} then ${rowPtr[i + 1]} at index ${i}`);
    const row = [...new Set(colIdx.subarray(rowPtr[i]!, rowPtr[i + 1]!))].sort((a, b) => a - b);
    for (const col of row) out.push(col);
    outPtr[i + 1] = out.length;
  }
  return { rowPtr: outPtr, colIdx: Uint32Array.from(out) };
}
