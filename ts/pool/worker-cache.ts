/**
 * Worker side of a pool KV cache (ts/pool/kv-cache.ts): this worker's shard is an ordinary linear KVCache in its own
 * wasm memory holding every chunk of tokens dealt to it, in position order. A decode request lists key ranges of
 * the shard (local positions) with where the queries sit relative to each; the partial results of the ranges are
 * merged here by their log-sum-exp (float64), so one partial per worker goes back.
 */
import { KVCache } from '../decode/cache.js';
import { decodeRange } from '../decode/decode.js';
import type { KVCacheOptions } from '../decode/types.js';

/** A key range of the shard and the queries that may see some of it. */
export interface ShardRange {
  /** Local positions [start, end). */
  start: number;
  end: number;
  /** Local position after the last query (its global position minus the range's offset). */
  qEnd: number;
  /** First query row that sees any key of the range (rows before it are skipped). */
  row0: number;
  /** One past the last query row of the range (default: every row from row0 on). */
  row1?: number;
  causal: boolean;
  /** −1 = unbounded. */
  winLeft: number;
}

export interface ShardDecode {
  /** q [hq, nq, dk], compact. */
  q: Float32Array;
  hq: number;
  nq: number;
  scale: number;
  /** Keys per split; 0 = the kernel's default. */
  split: number;
  ranges: ShardRange[];
}

/** Merged partial of one shard: output [hq, nq, dv] and lse [hq, nq] (−∞ where the shard had no visible key). */
export interface ShardPartial {
  output: Float64Array;
  lse: Float64Array;
}

export type CacheRequest =
  | { op: 'create'; id: number; options: KVCacheOptions }
  | { op: 'append'; id: number; k: Float32Array; v: Float32Array; tokens: number }
  | { op: 'decode'; id: number; call: ShardDecode }
  | { op: 'truncate'; id: number; n: number }
  | { op: 'reset'; id: number }
  | { op: 'dispose'; id: number };

const shards = new Map<number, KVCache>();

function shard(id: number): KVCache {
  const c = shards.get(id);
  if (!c) throw new Error(`this pool worker holds no shard of KV cache #${id} (disposed, or the worker was replaced)`);
  return c;
}

/** Runs one request on this worker's shards. */
export function cacheRequest(r: CacheRequest): ShardPartial | number | undefined {
  switch (r.op) {
    case 'create':
      shards.set(r.id, new KVCache(r.options));
      return undefined;
    case 'append': {
      const c = shard(r.id);
      const shape = (d: number) => [c.heads, r.tokens, d];
      return c.append({ data: r.k, shape: shape(c.headDim) }, { data: r.v, shape: shape(c.valueDim) });
    }
    case 'decode':
      return decodeShard(shard(r.id), r.call);
    case 'truncate':
      shard(r.id).truncate(r.n);
      return undefined;
    case 'reset':
      shard(r.id).reset();
      return undefined;
    case 'dispose':
      shards.get(r.id)?.dispose();
      shards.delete(r.id);
      return undefined;
  }
}

function decodeShard(c: KVCache, call: ShardDecode): ShardPartial {
  const { hq, nq } = call;
  const dk = c.headDim;
  const dv = c.valueDim;
  const acc = new Float64Array(hq * nq * dv);
  const m = new Float64Array(hq * nq).fill(-Infinity);
  const sum = new Float64Array(hq * nq);
  for (const r of call.ranges) {
    const row1 = r.row1 ?? nq;
    const rows = row1 - r.row0;
    let q = call.q;
    if (rows < nq) {
      q = new Float32Array(hq * rows * dk);
      for (let h = 0; h < hq; h++) q.set(call.q.subarray((h * nq + r.row0) * dk, (h * nq + row1) * dk), h * rows * dk);
    }
    const part = decodeRange({ data: q, shape: [hq, rows, dk] }, c, {
      // Infinity, not undefined: a ring shard would fall back to its own window.
      scale: call.scale, causal: r.causal, window: { left: r.winLeft < 0 ? Infinity : r.winLeft },
      ...(call.split > 0 ? { splitSize: call.split } : {}),
    }, { start: r.start, end: r.end, qEnd: r.qEnd });
    // Online log-sum-exp merge per row: running max m, Σ e^(lse − m), Σ e^(lse − m)·o.
    for (let h = 0; h < hq; h++) {
      for (let i = 0; i < rows; i++) {
        const l = part.lse[h * rows + i]!;
        if (l === -Infinity) continue;
        const row = h * nq + r.row0 + i;
        const o = part.output.subarray((h * rows + i) * dv, (h * rows + i + 1) * dv);
        const a = acc.subarray(row * dv, (row + 1) * dv);
        if (l > m[row]!) {
          const f = Math.exp(m[row]! - l);
          for (let x = 0; x < dv; x++) a[x]! *= f;
          sum[row]! *= f;
          m[row] = l;
        }
        const w = Math.exp(l - m[row]!);
        sum[row]! += w;
        for (let x = 0; x < dv; x++) a[x]! += w * o[x]!;
      }
    }
  }
  const lse = new Float64Array(hq * nq);
  for (let row = 0; row < hq * nq; row++) {
    const s = sum[row]!;
    lse[row] = s > 0 ? m[row]! + Math.log(s) : -Infinity;
    if (s > 0) for (let x = row * dv; x < (row + 1) * dv; x++) acc[x]! /= s;
  }
  return { output: acc, lse };
}
