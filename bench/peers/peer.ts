/** The interface every benchmarked implementation follows. */

export type Impl = 'webattn' | 'onnxruntime-web' | 'tfjs-wasm' | 'js';

export interface Shape {
  b: number;
  h: number;
  nq: number;
  nk: number;
  d: number;
  causal: boolean;
}

/** q [B,H,Nq,D], k and v [B,H,Nk,D], all BHND, values in [−1, 1]. */
export interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

/** One implementation bound to one shape and its inputs; `run` computes the full output [B,H,Nq,D] (BHND)
 * and returns it as a Float32Array readable by JS (the readback is part of the timed work for every peer). */
export interface Prepared {
  run(): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export interface Peer {
  impl: Impl;
  /** Human-readable details (which op ran, thread count), printed once. */
  describe(): string;
  /** Threads the implementation computes on (all are configured for 1). */
  threads(): number;
  prepare(shape: Shape, inputs: Inputs): Promise<Prepared>;
}

export const flops = (s: Shape): number => (4 * s.b * s.h * s.nq * s.nk * s.d) / (s.causal ? 2 : 1);
