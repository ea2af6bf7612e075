/**
 * Attention flow (Abnar & Zuidema 2020): the layers of self-attention as a layered graph — node (l, t) is token t
 * after layer l, an edge (l − 1, j) → (l, i) has capacity A'ₗ[i][j], the head-averaged weights mixed with the
 * identity for the residual path exactly as in `attentionRollout` — and the flow from input token j to output
 * token i is the maximum flow from (0, j) to (L, i). Where rollout multiplies paths, flow is limited by the weakest
 * edge of every path, so it credits tokens that stay connected rather than those with many faint paths.
 *
 * Cost: one max-flow (Edmonds–Karp, BFS augmenting paths) per (i, j) on (L + 1)·N nodes and L·N² edges: meant for
 * sentences (N up to a few dozen), not long sequences.
 */
import { AttentionError } from '../errors.js';
import { mixedLayers } from './analysis.js';
import type { WeightsArray, WeightsShape } from './analysis.js';

/** Residual capacities below this are treated as 0 (sums of float64 weights are not exact). */
const EPS = 1e-12;

interface Graph {
  /** Per node: indices into the edge arrays. */
  adj: number[][];
  to: Int32Array;
  cap: Float64Array;
}

/** Layered graph of the mixed layers; edge 2e is forward, 2e + 1 its reverse (capacity 0). */
function layeredGraph(mixed: readonly Float64Array[], n: number): Graph {
  const layers = mixed.length;
  const nodes = (layers + 1) * n;
  const adj: number[][] = Array.from({ length: nodes }, () => []);
  const to = new Int32Array(2 * layers * n * n);
  const cap = new Float64Array(2 * layers * n * n);
  let e = 0;
  mixed.forEach((a, l) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const from = l * n + j;
        const dest = (l + 1) * n + i;
        to[e] = dest; cap[e] = a[i * n + j]!; adj[from]!.push(e);
        to[e + 1] = from; cap[e + 1] = 0; adj[dest]!.push(e + 1);
        e += 2;
      }
    }
  });
  return { adj, to, cap };
}

/** Max flow from s to t on a copy of the capacities (Edmonds–Karp). */
function maxFlow(g: Graph, s: number, t: number): number {
  const cap = g.cap.slice();
  const nodes = g.adj.length;
  const via = new Int32Array(nodes);
  const queue = new Int32Array(nodes);
  let total = 0;
  for (;;) {
    via.fill(-1);
    via[s] = -2;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    while (head < tail && via[t] === -1) {
      const u = queue[head++]!;
      for (const e of g.adj[u]!) {
        const v = g.to[e]!;
        if (via[v] === -1 && cap[e]! > EPS) {
          via[v] = e;
          queue[tail++] = v;
        }
      }
    }
    if (via[t] === -1) return total;
    let push = Infinity;
    for (let v = t; v !== s; v = g.to[via[v]! ^ 1]!) push = Math.min(push, cap[via[v]!]!);
    for (let v = t; v !== s; v = g.to[via[v]! ^ 1]!) {
      cap[via[v]!]! -= push;
      cap[via[v]! ^ 1]! += push;
    }
    total += push;
  }
}

/**
 * Attention flow across layers of self-attention (Nq = Nk = N), first layer first: F [N, N], F[i][j] = the maximum
 * flow from input token j to output token i. Layers are mixed as in `attentionRollout` (residual α, default 0.5).
 */
export function attentionFlow(layers: readonly WeightsArray[], s: WeightsShape, opts: { residual?: number } = {}): Float64Array {
  const mixed = mixedLayers(layers, s, opts);
  const n = s.rows;
  if (n * n * layers.length > 1 << 22) {
    throw new AttentionError('INVALID_SHAPE', 'layers', 'at most 4M edges (L·N²) for attention flow', `${layers.length}·${n}²`);
  }
  const g = layeredGraph(mixed, n);
  const out = new Float64Array(n * n);
  const sinkBase = layers.length * n;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = maxFlow(g, j, sinkBase + i);
  return out;
}
