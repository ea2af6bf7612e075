/** The decode descriptor's word layout (crate/src/decode/desc.rs `DecodeDesc`) and its encoder. */

export const DECODE_MAGIC = 0x57414433; // "WAD3"
export const DECODE_WORDS = 31;
export const DTYPE_CODES = { f32: 0, f16: 1, int8: 2 } as const;
/** `flags`: every half of this f16 cache is finite (the kernel's fast widening). */
export const FLAG_F16_FINITE = 1;
/** Most new queries per decode call. */
export const MAX_DECODE_QUERIES = 16;

export const DW = {
  magic: 0, hq: 1, hkv: 2, nq: 3, dk: 4, dv: 5, dtype: 6, capacity: 7, start: 8, end: 9,
  kPtr: 10, vPtr: 11, kScalePtr: 12, vScalePtr: 13, qPtr: 14, qHead: 15, qRow: 16, oPtr: 17, oHead: 18, oRow: 19,
  lsePtr: 20, sinksPtr: 21, scale: 22, causal: 23, winLeft: 24, split: 25, pageSize: 26, pageTablePtr: 27,
  pageCount: 28, flags: 29, qEnd: 30,
} as const;

/** Every field of a decode call, pointers already in wasm memory (0 = absent). */
export interface DecodeFields {
  hq: number;
  hkv: number;
  nq: number;
  dk: number;
  dv: number;
  dtype: number;
  capacity: number;
  start: number;
  end: number;
  kPtr: number;
  vPtr: number;
  kScalePtr: number;
  vScalePtr: number;
  qPtr: number;
  qHead: number;
  qRow: number;
  oPtr: number;
  oHead: number;
  oRow: number;
  lsePtr: number;
  sinksPtr: number;
  scale: number;
  causal: boolean;
  /** −1 = unbounded. */
  winLeft: number;
  /** 0 = the kernel's default. */
  split: number;
  /** 0 = contiguous slots; else tokens per page (capacity then counts the pool's pages). */
  pageSize: number;
  pageTablePtr: number;
  pageCount: number;
  /** FLAG_F16_FINITE or 0. */
  flags: number;
  /**
   * Position just after the last query row, in the coordinates of start / end (≥ nq); 0 or absent = end. With a
   * value, [start, end) is one chunk of a sharded history: the kernel no longer checks that every key a query may see
   * is held (see crate/src/decode/desc.rs).
   */
  qEnd?: number;
}

export function encodeDecodeDescriptor(mem: ArrayBuffer, at: number, f: DecodeFields): void {
  const u = new Uint32Array(mem, at, DECODE_WORDS);
  const i = new Int32Array(mem, at, DECODE_WORDS);
  const x = new Float32Array(mem, at, DECODE_WORDS);
  u.fill(0);
  u[DW.magic] = DECODE_MAGIC;
  const words: [keyof typeof DW & keyof DecodeFields, number][] = [
    ['hq', f.hq], ['hkv', f.hkv], ['nq', f.nq], ['dk', f.dk], ['dv', f.dv], ['dtype', f.dtype], ['capacity', f.capacity],
    ['start', f.start], ['end', f.end], ['kPtr', f.kPtr], ['vPtr', f.vPtr], ['kScalePtr', f.kScalePtr],
    ['vScalePtr', f.vScalePtr], ['qPtr', f.qPtr], ['qHead', f.qHead], ['qRow', f.qRow], ['oPtr', f.oPtr],
    ['oHead', f.oHead], ['oRow', f.oRow], ['lsePtr', f.lsePtr], ['sinksPtr', f.sinksPtr], ['split', f.split],
    ['pageSize', f.pageSize], ['pageTablePtr', f.pageTablePtr], ['pageCount', f.pageCount], ['flags', f.flags],
    ['qEnd', f.qEnd ?? 0],
  ];
  for (const [k, v] of words) u[DW[k]] = v;
  x[DW.scale] = f.scale;
  u[DW.causal] = f.causal ? 1 : 0;
  i[DW.winLeft] = f.winLeft;
}
