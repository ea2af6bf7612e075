/** IEEE binary16 ↔ f32, for f16 KV caches (storage is the 16-bit pattern; the kernel converts on load). */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round-to-nearest-even f32 bits → binary16 bits. Overflow gives ±∞, NaN stays NaN (quiet), tiny values become
 * subnormals or ±0. */
export function f16BitsOf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const e = (bits >>> 23) & 0xff;
  let m = bits & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m !== 0 ? 0x200 : 0);
  const E = e - 112; // the half's biased exponent
  if (E >= 31) return sign | 0x7c00;
  if (E <= 0) {
    if (E < -10) return sign; // below 2^-25: rounds to ±0
    m |= 0x800000;
    const shift = 14 - E;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (E << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right (up to ∞)
  return sign | h;
}

/** One number → binary16 bits. */
export function toF16(x: number): number {
  f32[0] = x;
  return f16BitsOf(u32[0]!);
}

/** binary16 bits → number (exact). */
export function fromF16(h: number): number {
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** dst[i] = f16(src[i]) for Float32Array src. Returns whether every half is finite (no ∞ / NaN, overflow included). */
export function encodeF16(src: Float32Array, dst: Uint16Array): boolean {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  let special = 0;
  for (let i = 0; i < bits.length; i++) {
    const h = f16BitsOf(bits[i]!);
    dst[i] = h;
    special |= (h & 0x7c00) === 0x7c00 ? 1 : 0;
  }
  return special === 0;
}
