/**
 * Float64 references of the positional encodings, written as the reference implementations write them (so the
 * tests compare two formulations of one definition): 'half' as Hugging Face's `x·cos + rotate_half(x)·sin` with
 * rotate_half(x) = [−x₂, x₁], 'interleaved' as GPT-J's `x·cos + rotate_every_two(x)·sin` with
 * rotate_every_two(x) = [−x₁, x₀, −x₃, x₂, …] and cos / sin repeated per pair.
 */

/** RoPE of `rows` rows of width d (row-major [rows, d]); row t has position pos(t); components ≥ r pass through. */
export function referenceRope(
  x: ArrayLike<number>, rows: number, d: number, pos: (row: number) => number,
  style: 'half' | 'interleaved', r = d, base = 10000,
): Float64Array {
  const out = new Float64Array(rows * d);
  const half = r / 2;
  for (let t = 0; t < rows; t++) {
    const row = Array.from({ length: d }, (_, c) => x[t * d + c]!);
    const rot = row.slice(0, r);
    const pass = row.slice(r);
    const freq = (i: number): number => pos(t) / base ** ((2 * i) / r);
    let cos: number[], sin: number[], turned: number[];
    if (style === 'half') {
      const f = Array.from({ length: half }, (_, i) => freq(i));
      cos = [...f, ...f].map(Math.cos);
      sin = [...f, ...f].map(Math.sin);
      turned = [...rot.slice(half).map((v) => -v), ...rot.slice(0, half)];
    } else {
      const f = Array.from({ length: r }, (_, c) => freq(c >> 1));
      cos = f.map(Math.cos);
      sin = f.map(Math.sin);
      turned = rot.map((_, c) => (c % 2 === 0 ? -rot[c + 1]! : rot[c - 1]!));
    }
    const y = [...rot.map((v, c) => v * cos[c]! + turned[c]! * sin[c]!), ...pass];
    out.set(y, t * d);
  }
  return out;
}

/** PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)), p = offset + row. */
export function referenceSinusoidal(n: number, d: number, offset = 0, base = 10000): Float64Array {
  const out = new Float64Array(n * d);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < d; c++) {
      const i = Math.floor(c / 2);
      const angle = (offset + p) / base ** ((2 * i) / d);
      out[p * d + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}
