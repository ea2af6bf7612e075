/** How values are spelled in error messages. */

/** 'Float32Array', 'number[]', 'boolean[]', 'null', 'string', ... (works across realms). */
export function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) {
    const first: unknown = x[0];
    return x.length === 0 ? 'an empty array' : `${typeof first === 'object' ? typeName(first) : typeof first}[]`;
  }
  if (ArrayBuffer.isView(x)) return typedArrayName(x) ?? 'DataView';
  if (typeof x === 'object') {
    const ctor = (x as { constructor?: { name?: unknown } }).constructor;
    return typeof ctor?.name === 'string' && ctor.name !== 'Object' ? ctor.name : 'object';
  }
  return typeof x;
}

/** The typed array's class name from the %TypedArray% toStringTag getter (correct across realms, unlike instanceof). */
export function typedArrayName(x: ArrayBufferView): string | undefined {
  return (x as unknown as Record<symbol, unknown>)[Symbol.toStringTag] as string | undefined;
}

export const isFloat32Array = (x: unknown): x is Float32Array =>
  ArrayBuffer.isView(x) && typedArrayName(x) === 'Float32Array';

/** `[2, 8, 128, 64]` */
export const shapeString = (dims: readonly unknown[]): string => `[${dims.map(valueString).join(', ')}]`;

/** A short rendering of any value: numbers as is, strings quoted, arrays bracketed, objects by type. */
export function valueString(x: unknown): string {
  if (typeof x === 'string') return `'${x}'`;
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint' || x === undefined) return String(x);
  if (Array.isArray(x) && x.length <= 8) return shapeString(x);
  return typeName(x);
}

export const product = (dims: readonly number[]): number => dims.reduce((a, x) => a * x, 1);
