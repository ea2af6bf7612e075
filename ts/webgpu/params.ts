/**
 * The uniform block every WGSL kernel of the webgpu backend reads: the AttentionDescriptor's sizes, strides and
 * scoring options (the same descriptor the wasm path encodes in crate/src/desc.rs) plus the dispatch geometry.
 * One field list drives both the WGSL struct and the TS encoder, so the two cannot drift apart.
 */
import { ALIGN_BOTTOM_RIGHT, SIM_COSINE } from '../descriptor.js';
import type { AttentionDescriptor } from '../descriptor.js';

/** u32 fields, in order; `f32:` / `i32:` ones are bitcast in WGSL. */
export const PARAM_FIELDS = [
  'b', 'hq', 'hkv', 'nq', 'nk', 'dk', 'dv', 'group',
  'q_sb', 'q_sh', 'q_sr', 'k_sb', 'k_sh', 'k_sr', 'v_sb', 'v_sh',
  'v_sr', 'o_sb', 'o_sh', 'o_sr', 'm_sb', 'm_sh', 'm_sr', 'b_sb',
  'b_sh', 'b_sr', 'f32:scale', 'f32:softcap', 'cosine', 'bottom_right', 'i32:win_left', 'i32:win_right',
  'has_mask', 'has_bias', 'mask_byte', 'q_start', 'k_start', 'n_qblocks', 'n_splits', 'split_len',
  'lse_base', 'want_lse', 'rows', 'grid_x', 'aux_lse', 'neg_inf_bits', 'has_alibi', 'alibi_at',
  'rel_at', 'rel_len', 'i32:rel_zero', 'grid_y', 'ml_base', 'pad0', 'pad1', 'pad2',
] as const;

type FieldName<F> = F extends `${string}:${infer N}` ? N : F;
export type ParamName = FieldName<(typeof PARAM_FIELDS)[number]>;
export type Params = Partial<Record<ParamName, number>>;

export const PARAM_BYTES = PARAM_FIELDS.length * 4;

/** `struct Params { b: u32, ..., scale: f32, ... }` */
export function paramsStruct(): string {
  const fields = PARAM_FIELDS.map((f) => {
    const [type, name] = f.includes(':') ? f.split(':') as [string, string] : ['u32', f];
    return `  ${name}: ${type},`;
  });
  return `struct Params {\n${fields.join('\n')}\n}`;
}

/** Writes `p` into a new ArrayBuffer in the struct's layout (absent fields are 0). */
export function encodeParams(p: Params): Uint32Array {
  const buf = new ArrayBuffer(PARAM_BYTES);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  const i = new Int32Array(buf);
  PARAM_FIELDS.forEach((field, w) => {
    const [type, name] = field.includes(':') ? field.split(':') as [string, ParamName] : ['u32', field as ParamName];
    const x = p[name] ?? 0;
    if (type === 'f32') f[w] = x;
    else if (type === 'i32') i[w] = x;
    else u[w] = x;
  });
  return u;
}

/** The descriptor part of the params (sizes, strides, scoring, structure); `alibiAt`, `relAt` (words) and `maskByte`
 * (bytes) are where the ALiBi slopes, the relative-bias table and the mask bytes start in the meta buffer. */
export function descriptorParams(d: AttentionDescriptor, maskByte: number, alibiAt: number, relAt: number): Params {
  const p: Params = {
    b: d.b, hq: d.hq, hkv: d.hkv, nq: d.nq, nk: d.nk, dk: d.dk, dv: d.dv, group: d.hq / d.hkv,
    q_sb: d.q.strides.batch, q_sh: d.q.strides.head, q_sr: d.q.strides.row,
    k_sb: d.k.strides.batch, k_sh: d.k.strides.head, k_sr: d.k.strides.row,
    v_sb: d.v.strides.batch, v_sh: d.v.strides.head, v_sr: d.v.strides.row,
    o_sb: d.o.batch, o_sh: d.o.head, o_sr: d.o.row,
    scale: d.scale, softcap: d.softcap,
    cosine: d.similarity === SIM_COSINE ? 1 : 0,
    bottom_right: d.align === ALIGN_BOTTOM_RIGHT ? 1 : 0,
    win_left: d.winLeft, win_right: d.winRight,
    has_mask: d.mask ? 1 : 0, has_bias: d.bias ? 1 : 0, mask_byte: maskByte,
    q_start: d.qStart, k_start: d.kStart,
    want_lse: d.returnLse ? 1 : 0,
    rows: d.b * d.hq * d.nq,
    // −∞ comes from the uniform block: WGSL rejects a constant expression that evaluates to an infinity.
    neg_inf_bits: 0xff800000,
    has_alibi: d.alibi ? 1 : 0,
    alibi_at: alibiAt,
    rel_at: relAt,
    rel_len: d.relBias ? d.relBias.len : 0,
    rel_zero: d.relBias ? d.relBias.zero : 0,
  };
  if (d.mask) Object.assign(p, { m_sb: d.mask.strides.batch, m_sh: d.mask.strides.head, m_sr: d.mask.strides.row });
  if (d.bias) Object.assign(p, { b_sb: d.bias.strides.batch, b_sh: d.bias.strides.head, b_sr: d.bias.strides.row });
  return p;
}
