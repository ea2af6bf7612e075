/** Word layout of the variant descriptor `VarDesc` (crate/src/variants/desc.rs) and its encoder. */
import { ALIGN_BOTTOM_RIGHT, type AttentionDescriptor, type Strides } from '../descriptor.js';
import type { VariantSpec } from './types.js';

export const VAR_MAGIC = 0x57415631;
export const VAR_WORDS = 32;
export const KIND_CODE = { linear: 1, performer: 2, linformer: 3, lsh: 4 } as const;
export const FLAG_CAUSAL = 1;
export const FLAG_BOTTOM_RIGHT = 2;
export const VW = {
  magic: 0, kind: 1, flags: 2, b: 3, hq: 4, hkv: 5, nq: 6, nk: 7, dk: 8, dv: 9,
  q: 10, k: 14, v: 18, o: 22, // each: ptr, batch, head, row
  scale: 26, features: 27, projA: 28, projB: 29, rounds: 30, chunk: 31, // rounds, chunk: lsh only (0 otherwise)
} as const;

/** Byte pointers of the operands in wasm memory (0 = absent). */
export interface VariantPointers {
  q: number;
  k: number;
  v: number;
  o: number;
  projA: number;
  projB: number;
}

/** The projection arrays of a spec, in descriptor order (A, B). */
export function projections(s: VariantSpec): [Float32Array | undefined, Float32Array | undefined] {
  switch (s.kind) {
    case 'linear': return [undefined, undefined];
    case 'performer': return [s.projection, undefined];
    case 'linformer': return [s.e, s.f];
    case 'lsh': return [s.rotations, undefined];
  }
}

/** Writes the VarDesc of `d` (whose `variant` is `s`) at byte offset `at` of `memory`. */
export function encodeVariant(memory: ArrayBuffer, at: number, d: AttentionDescriptor, s: VariantSpec, p: VariantPointers): void {
  const u = new Uint32Array(memory, at, VAR_WORDS);
  const f = new Float32Array(memory, at, VAR_WORDS);
  u.fill(0);
  u[VW.magic] = VAR_MAGIC;
  u[VW.kind] = KIND_CODE[s.kind];
  const causal = d.winRight === 0;
  u[VW.flags] = causal ? FLAG_CAUSAL | (d.align === ALIGN_BOTTOM_RIGHT ? FLAG_BOTTOM_RIGHT : 0) : 0;
  u[VW.b] = d.b; u[VW.hq] = d.hq; u[VW.hkv] = d.hkv; u[VW.nq] = d.nq; u[VW.nk] = d.nk; u[VW.dk] = d.dk; u[VW.dv] = d.dv;
  const operand = (w: number, ptr: number, st: Strides): void => {
    u[w] = ptr; u[w + 1] = st.batch; u[w + 2] = st.head; u[w + 3] = st.row;
  };
  operand(VW.q, p.q, d.q.strides);
  operand(VW.k, p.k, d.k.strides);
  operand(VW.v, p.v, d.v.strides);
  operand(VW.o, p.o, d.o);
  f[VW.scale] = d.scale;
  u[VW.features] = s.kind === 'performer' ? s.features : s.kind === 'linformer' ? s.rows : s.kind === 'lsh' ? s.buckets : 0;
  if (s.kind === 'lsh') { u[VW.rounds] = s.rounds; u[VW.chunk] = s.chunk; }
  u[VW.projA] = p.projA;
  u[VW.projB] = p.projB;
}
