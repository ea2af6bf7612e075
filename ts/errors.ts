/**
 * The one error type of webattn. Every error names the argument at fault, what was expected and what was given,
 * so a message alone is enough to fix the call.
 */
import type { AttentionErrorCode } from './types.js';
import { STATUS, STATUS_INFO } from './core/status.js';

/** `q: expected Float32Array, got Float64Array (pass { convert: true } to convert)`. */
export function formatErrorMessage(argument: string, expected?: string, actual?: string, hint?: string): string {
  let m = `${argument}: `;
  if (expected !== undefined) m += `expected ${expected}`;
  if (actual !== undefined) m += `${expected !== undefined ? ', ' : ''}got ${actual}`;
  if (expected === undefined && actual === undefined) m += 'invalid';
  if (hint) m += ` (${hint})`;
  return m;
}

export class AttentionError extends Error {
  readonly code: AttentionErrorCode;
  /** The argument or option at fault: 'q', 'k', 'mask', 'window.left', 'queryLengths', ... */
  readonly argument: string;
  readonly expected?: string;
  readonly actual?: string;

  /** `message` defaults to formatErrorMessage(argument, expected, actual). */
  constructor(code: AttentionErrorCode, argument: string, expected?: string, actual?: string, message?: string) {
    super(message ?? formatErrorMessage(argument, expected, actual));
    this.name = 'AttentionError';
    this.code = code;
    this.argument = argument;
    if (expected !== undefined) this.expected = expected;
    if (actual !== undefined) this.actual = actual;
  }
}

const STATUS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(STATUS).map(([name, n]) => [n, name]));

/** The AttentionError for a non-zero status returned by the wasm ABI. The SDK validates before calling, so this
 * means the SDK and the crate disagree (or the kernel ran out of memory); the status still names the argument. */
export function statusError(status: number): AttentionError {
  const info = STATUS_INFO[status];
  const name = STATUS_NAMES[status] ?? 'UNKNOWN';
  if (!info) {
    return new AttentionError('KERNEL_ERROR', 'kernel', 'status 0 (OK)', `unknown status ${status}`,
      `kernel: the wasm module returned unknown status ${status} (the SDK and the wasm module are out of sync)`);
  }
  const actual = `status ${status} (${name}: ${info.what})`;
  return new AttentionError(info.code, info.argument, 'status 0 (OK)', actual,
    `${info.argument}: the wasm kernel rejected the call with ${actual}`);
}

/** The error an aborted call rejects with: the signal's reason when it is an Error, else an AbortError. */
export function abortError(signal: { readonly reason?: unknown }): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('the operation was aborted');
  e.name = 'AbortError';
  return e;
}
