/** Result rows, the printed table and the JSON file. */
import type { Impl, Shape } from './peers/peer.js';

export interface Row {
  impl: Impl;
  B: number;
  H: number;
  Nq: number;
  Nk: number;
  D: number;
  causal: boolean;
  threads: number;
  ms: number;
  gflops: number;
}

/** A row as printed: the measurement (absent when skipped) and its agreement with the reference output. */
export interface Line {
  shape: Shape;
  impl: Impl;
  row?: Row;
  reps?: number;
  /** Max abs difference to the reference implementation's output (absent for the reference itself). */
  diff?: number;
  note?: string;
}

export const DIFF_LIMIT = 1e-3;

export const shapeLabel = (s: Shape): string => `(${s.b},${s.h},${s.nq},${s.d})`;

const pad = (s: string, n: number): string => s.padStart(n);
const padEnd = (s: string, n: number): string => s.padEnd(n);

export function tableHeader(reference: Impl): string {
  return [
    padEnd('shape (B,H,N,D)', 18), padEnd('causal', 7), padEnd('impl', 16), pad('ms', 10), pad('GFLOP/s', 9),
    pad('webattn/x', 10), pad('reps', 5), `  max|Δ| vs ${reference}`,
  ].join(' ');
}

/** `webattnMs`: the median of webattn on the same shape, for the speed ratio (webattn ÷ impl in GFLOP/s). */
export function tableLine(l: Line, webattnMs: number | undefined): string {
  const head = [padEnd(shapeLabel(l.shape), 18), padEnd(l.shape.causal ? 'yes' : 'no', 7), padEnd(l.impl, 16)];
  if (!l.row) return [...head, `  ${l.note ?? 'skipped'}`].join(' ');
  const ratio = webattnMs !== undefined ? (l.row.ms / webattnMs).toFixed(2) + 'x' : '-';
  let diff = l.diff === undefined ? 'reference' : l.diff.toExponential(2);
  if (l.diff !== undefined && !(l.diff <= DIFF_LIMIT)) diff += `  DISAGREES (> ${DIFF_LIMIT})`;
  return [
    ...head, pad(l.row.ms.toFixed(3), 10), pad(l.row.gflops.toFixed(2), 9), pad(ratio, 10),
    pad(String(l.reps ?? ''), 5), `  ${diff}${l.note ? `  ${l.note}` : ''}`,
  ].join(' ');
}
