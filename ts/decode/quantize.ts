/** Symmetric int8 quantisation of one (token, head) row: scale = max|x| / 127, q = round(x / scale) ∈ [−127, 127],
 * so |x − q·scale| ≤ scale / 2. An all-zero row gets scale 0; a row with a non-finite value gets a NaN scale (the
 * whole row then reads as NaN, as a NaN would propagate in f32). */
export function quantizeRow(src: Float32Array, dst: Int8Array): number {
  let amax = 0;
  let finite = true;
  for (let i = 0; i < src.length; i++) {
    const a = Math.abs(src[i]!);
    if (a > amax) amax = a;
    else if (!(a <= amax)) finite = false; // NaN
  }
  if (!finite || amax === Infinity) {
    dst.fill(0);
    return NaN;
  }
  if (amax === 0) {
    dst.fill(0);
    return 0;
  }
  const scale = Math.fround(amax / 127);
  const inv = 1 / scale;
  for (let i = 0; i < src.length; i++) {
    const q = Math.round(src[i]! * inv);
    dst[i] = q > 127 ? 127 : q < -127 ? -127 : q;
  }
  return scale;
}
