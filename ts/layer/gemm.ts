/**
 * `matmul`: C = A·B (+ bias) on the crate's SIMD128 GEMM (crate/src/gemm, entry `wa_gemm`), in this thread's wasm
 * instance (await init() first). A is [..., M, K] (leading dims are flattened into rows), B is [K, N], or [N, K] with
 * `transposeB` (the layout of PyTorch `Linear.weight`, so `matmul(x, { data: W, shape: [out, in] }, { bias,
 * transposeB: true })` is `nn.Linear`). Inputs are never mutated.
 */
import { AttentionError } from '../errors.js';
import { getExports, type KernelExports } from '../core/loader.js';
import { arenaFor, planBlocks } from '../core/memory.js';
import { isFloat32Array, shapeString, typeName } from '../validate/describe.js';
import { MAX_ELEMENTS, OPERAND_CODES, checkLength, fail, readTensor, toFloat32 } from '../validate/tensor.js';
import type { TensorLike } from '../types.js';
import { WasmMatrix } from './resident.js';

export interface MatmulOptions {
  /** Added to every row of the product: length N. */
  bias?: Float32Array;
  /** B is given as [N, K] (row j holds column j of the factor): C = A·Bᵀ of the stored matrix. Default false. */
  transposeB?: boolean;
  /** Write the product here (length M·N) instead of allocating. Must not share memory with a, b or bias. */
  out?: Float32Array;
}

export interface MatmulResult {
  /** Row-major [..., M, N]. */
  output: Float32Array;
  /** A's leading dims, then N. */
  shape: number[];
}

/** Word layout of RawGemm (crate/src/gemm/desc.rs). */
export const GEMM_MAGIC = 0x57414731;
export const GEMM_WORDS = 16;
const G = { magic: 0, m: 1, n: 2, k: 3, a: 4, lda: 5, b: 6, ldb: 7, transB: 8, bias: 9, c: 10, ldc: 11 } as const;

/** Status codes of wa_gemm; mirror of `GemmStatus` in crate/src/gemm/desc.rs. */
export const GEMM_STATUS = {
  OK: 0, BAD_MAGIC: 1, BAD_DIMS: 2, BAD_A: 3, BAD_B: 4, BAD_BIAS: 5, BAD_C: 6, BAD_FLAGS: 7, OUT_OF_MEMORY: 8,
} as const;

const STATUS_ARGUMENT: Record<number, [string, AttentionError['code']]> = {
  1: ['descriptor', 'KERNEL_ERROR'], 2: ['shape', 'INVALID_DIM'], 3: ['a', 'INVALID_SHAPE'], 4: ['b', 'INVALID_SHAPE'],
  5: ['bias', 'INVALID_BIAS'], 6: ['out', 'INVALID_OUTPUT'], 7: ['descriptor', 'KERNEL_ERROR'], 8: ['memory', 'OUT_OF_MEMORY'],
};

interface GemmExports extends KernelExports {
  wa_gemm(descPtr: number): number;
  wa_gemm_magic(): number;
  wa_gemm_words(): number;
}

const checked = new WeakSet<KernelExports>();

/** This thread's instance, checked once to export a GEMM with this SDK's descriptor layout. */
function gemmExports(): GemmExports {
  const k = getExports('matmul') as GemmExports;
  if (checked.has(k)) return k;
  const f = k as unknown as Record<string, unknown>;
  if (typeof f['wa_gemm'] !== 'function' || typeof f['wa_gemm_magic'] !== 'function') {
    throw new AttentionError('KERNEL_ERROR', 'wasm', 'a wasm module that exports wa_gemm', 'a module without it',
      'wasm: this webattn wasm module has no GEMM (wa_gemm); rebuild it (npm run build:wasm)');
  }
  const magic = k.wa_gemm_magic() >>> 0;
  const words = k.wa_gemm_words() >>> 0;
  if (magic !== GEMM_MAGIC || words !== GEMM_WORDS) {
    throw new AttentionError('KERNEL_ERROR', 'wasm', `GEMM descriptor magic 0x${GEMM_MAGIC.toString(16)} with ${GEMM_WORDS} words`,
      `magic 0x${magic.toString(16)} with ${words} words`);
  }
  checked.add(k);
  return k;
}

/** The operands of one product, already validated: a [m, k] (row stride k), b [k, n] or [n, k] (in JS memory, or
 * already in wasm memory as a WasmMatrix), bias [n]. */
export interface GemmCall {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  b: Float32Array | WasmMatrix;
  transB: boolean;
  bias?: Float32Array | undefined;
  /** Length ≥ m·n; written row-major with row stride n. */
  out: Float32Array;
}

/** Runs one validated product in wasm (copying operands in and the product out). For the SDK's own callers. */
export function gemmInto(c: GemmCall): void {
  const k = gemmExports();
  const { m, n } = c;
  const nA = m * c.k;
  if (c.b instanceof WasmMatrix && (c.b.rows !== (c.transB ? n : c.k) || c.b.cols !== (c.transB ? c.k : n))) {
    throw new AttentionError('INVALID_SHAPE', 'b', c.transB ? `[${n}, ${c.k}]` : `[${c.k}, ${n}]`, `a WasmMatrix [${c.b.rows}, ${c.b.cols}]`);
  }
  const resident = c.b instanceof WasmMatrix ? c.b.address(k) : 0;
  const nB = resident ? 0 : n * c.k;
  const { offsets, total } = planBlocks([GEMM_WORDS * 4, 4 * nA, 4 * nB, c.bias ? 4 * n : 0, 4 * m * n]);
  const arena = arenaFor(k);
  try {
    const base = arena.acquire(total);
    const [pDesc, pA, pCopyB, pBias, pC] = offsets.map((o) => (o < 0 ? 0 : base + o)) as [number, number, number, number, number];
    const pB = resident || pCopyB;
    const mem = k.memory.buffer;
    new Float32Array(mem, pA, nA).set(c.a.subarray(0, nA));
    if (!(c.b instanceof WasmMatrix)) new Float32Array(mem, pB, nB).set(c.b.subarray(0, nB));
    if (c.bias) new Float32Array(mem, pBias, n).set(c.bias.subarray(0, n));
    const u = new Uint32Array(mem, pDesc, GEMM_WORDS);
    u.fill(0);
    u[G.magic] = GEMM_MAGIC;
    u[G.m] = m; u[G.n] = n; u[G.k] = c.k;
    u[G.a] = pA; u[G.lda] = c.k;
    u[G.b] = pB; u[G.ldb] = c.transB ? c.k : n; u[G.transB] = c.transB ? 1 : 0;
    u[G.bias] = pBias;
    u[G.c] = pC; u[G.ldc] = n;
    const status = k.wa_gemm(pDesc);
    if (status !== 0) {
      const [argument, code] = STATUS_ARGUMENT[status] ?? ['kernel', 'KERNEL_ERROR'];
      throw new AttentionError(code, argument, 'status 0 (OK)', `status ${status}`,
        `${argument}: the wasm GEMM rejected the call with status ${status}`);
    }
    c.out.set(new Float32Array(k.memory.buffer, pC, m * n));
  } finally {
    arena.release();
  }
}

const overlaps = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;

/** C = A·B (+ bias); see the module comment. Throws AttentionError naming the argument on invalid input. */
export function matmul(a: TensorLike<Float32Array>, b: TensorLike<Float32Array>, options: MatmulOptions = {}): MatmulResult {
  gemmExports(); // NOT_INITIALIZED first: the first thing a caller must fix
  if (typeof options !== 'object' || options === null) fail('INVALID_OPTION', 'options', 'an options object', typeName(options));
  for (const key of Object.keys(options)) {
    if (key !== 'bias' && key !== 'transposeB' && key !== 'out') {
      fail('INVALID_OPTION', key, 'one of the options bias, transposeB, out', `unknown option '${key}'`);
    }
  }
  const A = readTensor(a, 'a', OPERAND_CODES);
  const B = readTensor(b, 'b', OPERAND_CODES);
  const aData = toFloat32(A.data, 'a', false, 'INVALID_TYPE');
  const bData = toFloat32(B.data, 'b', false, 'INVALID_TYPE');
  checkLength(aData.length, A.dims, 'a', 'INVALID_SHAPE');
  checkLength(bData.length, B.dims, 'b', 'INVALID_SHAPE');
  if (A.dims.length < 2) fail('INVALID_SHAPE', 'a', '[..., M, K] (at least 2 dims)', shapeString(A.dims));
  if (B.dims.length !== 2) fail('INVALID_SHAPE', 'b', options.transposeB ? '[N, K]' : '[K, N]', shapeString(B.dims));
  const transB = options.transposeB ?? false;
  if (typeof transB !== 'boolean') fail('INVALID_OPTION', 'transposeB', 'true or false', typeName(transB));
  const kA = A.dims[A.dims.length - 1]!;
  const m = aData.length / kA;
  const [kB, n] = transB ? [B.dims[1]!, B.dims[0]!] : [B.dims[0]!, B.dims[1]!];
  if (kA !== kB) {
    fail('INVALID_SHAPE', 'b', transB ? `[N, ${kA}] (K of a, transposeB)` : `[${kA}, N] (K of a)`, shapeString(B.dims));
  }
  if (m * n > MAX_ELEMENTS) fail('INVALID_DIM', 'b', `a product of at most ${MAX_ELEMENTS} elements`, `M·N = ${m * n}`);
  const bias = options.bias;
  if (bias !== undefined) {
    if (!isFloat32Array(bias)) fail('INVALID_BIAS', 'bias', `Float32Array of ${n} elements`, typeName(bias));
    if (bias.length !== n) fail('INVALID_BIAS', 'bias', `${n} elements (N)`, `${bias.length} elements`);
  }
  let out = options.out;
  if (out !== undefined) {
    if (!isFloat32Array(out)) fail('INVALID_OUTPUT', 'out', 'Float32Array', typeName(out));
    if (out.length !== m * n) fail('INVALID_OUTPUT', 'out', `${m * n} elements (M·N)`, `${out.length} elements`);
    for (const [name, x] of [['a', aData], ['b', bData], ['bias', bias]] as const) {
      if (x && overlaps(out, x)) fail('INVALID_OUTPUT', 'out', 'a buffer sharing no memory with a, b or bias', `a view overlapping ${name}`);
    }
  } else {
    out = new Float32Array(m * n);
  }
  gemmInto({ m, n, k: kA, a: aData, b: bData, transB, bias, out });
  return { output: out, shape: [...A.dims.slice(0, -1), n] };
}
