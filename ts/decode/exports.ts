/** The decode entry points of this thread's wasm instance (crate/src/abi/decode.rs), checked once per instance. */
import { AttentionError } from '../errors.js';
import { getExports, type KernelExports } from '../core/loader.js';
import { DECODE_MAGIC, DECODE_WORDS } from './descriptor.js';

export interface DecodeExports extends KernelExports {
  wa_decode_magic(): number;
  wa_decode_words(): number;
  wa_decode(descPtr: number): number;
}

const checked = new WeakSet<KernelExports>();

/** This thread's instance with the decode exports; throws NOT_INITIALIZED before init(), KERNEL_ERROR when the
 * module has no (or another version of the) decode ABI. */
export function decodeExports(what: string): DecodeExports {
  const k = getExports(what) as Partial<DecodeExports> & KernelExports;
  if (checked.has(k)) return k as DecodeExports;
  if (typeof k.wa_decode !== 'function' || typeof k.wa_decode_magic !== 'function' || typeof k.wa_decode_words !== 'function') {
    throw new AttentionError('KERNEL_ERROR', 'wasm', 'a module with wa_decode', 'a module without the decode exports',
      'wasm: this webattn wasm module has no decode kernel; rebuild it (npm run build:wasm)');
  }
  const magic = k.wa_decode_magic() >>> 0;
  const words = k.wa_decode_words() >>> 0;
  if (magic !== DECODE_MAGIC || words !== DECODE_WORDS) {
    throw new AttentionError('KERNEL_ERROR', 'wasm', `decode magic 0x${DECODE_MAGIC.toString(16)} with ${DECODE_WORDS} words`,
      `magic 0x${magic.toString(16)} with ${words} words`,
      'wasm: the wasm module and this SDK disagree on the decode descriptor; rebuild it (npm run build:wasm)');
  }
  checked.add(k);
  return k as DecodeExports;
}
