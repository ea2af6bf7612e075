/**
 * Seeded decode-shaped cases (few queries, many keys), which the general generator (sequence lengths ≤ 130) never
 * makes: they exercise the webgpu split-key decode kernel and its LSE merge with every option.
 */
import type { AttentionOptions } from '../../ts/index.js';
import type { AttentionCase } from '../cases.js';
import { Rng } from '../rng.js';

export function decodeCases(seed: number, count: number): AttentionCase[] {
  const out: AttentionCase[] = [];
  for (let c = 0; c < count; c++) {
    const rng = new Rng(seed * 7919 + c);
    const b = rng.int(1, 2);
    const hkv = rng.int(1, 2);
    const hq = hkv * rng.pick([1, 2, 4]);
    const nq = rng.pick([1, 2, 3, 5, 16]);
    const nk = rng.pick([256, 257, 300, 513, 1000, 2049]);
    const dk = rng.pick([8, 16, 33, 64, 128]);
    const dv = rng.chance(0.6) ? dk : rng.pick([4, 32, 65, 96]);
    const o: AttentionOptions = { returnLse: true };
    const tags: string[] = [];
    const f = c % 8;
    if (f === 1 || rng.chance(0.2)) { o.causal = 'bottom-right'; tags.push('causal=bottom-right'); }
    if (f === 2) { o.window = { left: rng.pick([0, 10, 100, 300]), right: rng.pick([0, 5, 50]) }; tags.push(`window[${o.window.left},${o.window.right}]`); }
    if (f === 3 || rng.chance(0.2)) { o.keyLengths = Array.from({ length: b }, () => rng.pick([0, 1, nk, rng.int(1, nk)])); tags.push(`kLens=[${o.keyLengths.join(',')}]`); }
    if (f === 4) {
      const data = new Uint8Array(hq * nq * nk);
      for (let i = 0; i < data.length; i++) data[i] = rng.chance(0.3) ? 1 : 0;
      o.mask = { data, shape: [hq, nq, nk] };
      tags.push('mask[HNqNk]');
    }
    if (f === 5 || rng.chance(0.2)) {
      o.bias = { data: rng.fill(new Float32Array(b * nq * nk), -3, 3), shape: [b, 1, nq, nk] };
      tags.push('bias[B1NqNk]');
    }
    if (f === 6) { o.similarity = 'cosine'; o.temperature = 0.1; tags.push('cosine(T=0.1)'); }
    if (f === 7) { o.softcap = 5; o.scale = 1; tags.push('softcap=5 scale=1'); }
    if (rng.chance(0.3)) { o.layout = 'BNHD'; tags.push('BNHD'); }
    const shape = (h: number, n: number, d: number): number[] => (o.layout === 'BNHD' ? [b, n, h, d] : [b, h, n, d]);
    const t = (h: number, n: number, d: number) => ({ data: rng.fill(new Float32Array(b * h * n * d)), shape: shape(h, n, d) });
    out.push({
      name: `decode #${c}: B${b} Hq${hq}/Hkv${hkv} Nq${nq} Nk${nk} Dk${dk} Dv${dv} ${tags.join(' ')}`,
      q: t(hq, nq, dk), k: t(hkv, nk, dk), v: t(hkv, nk, dv), options: o,
    });
  }
  return out;
}

/** GQA / MQA shapes whose stacked query blocks (16 rows of several query heads) cross head boundaries, with the
 * per-row options that depend on the head and the row: causal both ways, window, lengths, per-head mask and bias. */
export function stackedCases(seed: number): AttentionCase[] {
  const rng = new Rng(seed);
  const out: AttentionCase[] = [];
  const shapes = [
    { b: 2, hq: 8, hkv: 2, nq: 5, nk: 37, d: 16 },
    { b: 1, hq: 8, hkv: 1, nq: 3, nk: 70, d: 33 },
    { b: 2, hq: 6, hkv: 2, nq: 7, nk: 7, d: 8 },
    { b: 1, hq: 4, hkv: 1, nq: 20, nk: 45, d: 64 },
  ];
  for (const [n, s] of shapes.entries()) {
    const t = (h: number, len: number) => ({ data: rng.fill(new Float32Array(s.b * h * len * s.d)), shape: [s.b, h, len, s.d] });
    const mask = new Uint8Array(s.hq * s.nq * s.nk).map(() => (rng.chance(0.7) ? 1 : 0));
    const variants: [string, AttentionOptions][] = [
      ['causal=top-left', { causal: true }],
      ['causal=bottom-right window[3,-] kLens', { causal: 'bottom-right', window: { left: 3 }, keyLengths: Array.from({ length: s.b }, () => rng.int(1, s.nk)) }],
      ['qLens window[2,2]', { queryLengths: Array.from({ length: s.b }, () => rng.int(0, s.nq)), window: { left: 2, right: 2 } }],
      ['mask[HNqNk] bias[1HNqNk]', { mask: { data: mask, shape: [s.hq, s.nq, s.nk] }, bias: { data: rng.fill(new Float32Array(s.hq * s.nq * s.nk), -2, 2), shape: [1, s.hq, s.nq, s.nk] } }],
    ];
    for (const [tag, o] of variants) {
      out.push({
        name: `stacked #${n}: B${s.b} Hq${s.hq}/Hkv${s.hkv} Nq${s.nq} Nk${s.nk} D${s.d} ${tag} lse weights`,
        q: t(s.hq, s.nq), k: t(s.hkv, s.nk), v: t(s.hkv, s.nk), options: { ...o, returnLse: true, returnWeights: true },
      });
    }
  }
  return out;
}

/** Position biases — ALiBi (standard or given slopes) and/or a relative-bias table ([Hq|1, L], distance 0 at
 * `zero`) — with both causal alignments, windows, lengths, GQA, bias, and decode shapes: both depend on the row, the
 * key, the head and the batch's lengths through gj − diag. */
export function positionBiasCases(seed: number, count: number): AttentionCase[] {
  const out: AttentionCase[] = [];
  for (let c = 0; c < count; c++) {
    const rng = new Rng(seed * 104729 + c);
    const b = rng.int(1, 2);
    const hkv = rng.int(1, 2);
    const hq = hkv * rng.pick([1, 2, 4]);
    const decode = c % 5 === 4;
    const nq = decode ? rng.pick([1, 4]) : rng.pick([1, 7, 16, 33, 64]);
    const nk = decode ? rng.pick([300, 1000]) : rng.chance(0.4) ? nq : rng.pick([5, 17, 64, 100]);
    const d = rng.pick([8, 16, 32, 64]);
    const o: AttentionOptions = { returnLse: true };
    const tags: string[] = [];
    const kind = c % 3; // 0: ALiBi, 1: relative table, 2: both
    if (kind !== 1) {
      if (rng.chance(0.5)) { o.alibi = true; tags.push('alibi=standard'); } else {
        o.alibi = rng.fill(new Float32Array(hq), -0.5, 0.5);
        tags.push('alibi=random');
      }
    }
    if (kind !== 0) {
      const rows = rng.pick([1, hq]);
      const len = rng.int(1, 40);
      const zero = rng.int(0, len - 1);
      o.relativeBias = { table: { data: rng.fill(new Float32Array(rows * len), -2, 2), shape: [rows, len] }, zero };
      tags.push(`rel[${rows}x${len},zero=${zero}]`);
    }
    const causal = rng.pick([false, true, 'bottom-right'] as const);
    if (causal !== false) { o.causal = causal; tags.push(`causal=${causal}`); }
    if (rng.chance(0.3)) { o.window = { left: rng.pick([0, 3, 20]) }; tags.push(`window[${o.window.left},-]`); }
    if (rng.chance(0.4)) {
      o.keyLengths = Array.from({ length: b }, () => rng.int(0, nk));
      o.queryLengths = Array.from({ length: b }, () => rng.int(0, nq));
      tags.push(`qLens=[${o.queryLengths.join(',')}] kLens=[${o.keyLengths.join(',')}]`);
    }
    if (rng.chance(0.3)) { o.bias = { data: rng.fill(new Float32Array(nq * nk), -1, 1), shape: [nq, nk] }; tags.push('bias[NqNk]'); }
    if (!decode && rng.chance(0.3)) { o.returnWeights = true; tags.push('weights'); }
    const t = (h: number, n: number) => ({ data: rng.fill(new Float32Array(b * h * n * d)), shape: [b, h, n, d] });
    out.push({
      name: `position bias #${c}: B${b} Hq${hq}/Hkv${hkv} Nq${nq} Nk${nk} D${d} ${tags.join(' ')}`,
      q: t(hq, nq), k: t(hkv, nk), v: t(hkv, nk), options: o,
    });
  }
  return out;
}
