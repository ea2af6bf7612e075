/**
 * Decode benchmark (issue #5): one new query (Nq = 1) against a KV cache of Nk = 4096 tokens, Hq = 32, D = 128,
 * Hkv = 32 (MHA) and Hkv = 8 (GQA), one thread. webattn decode() with f32, f16 and int8 caches (read in place from
 * wasm memory), next to
 *  - the wasm memory bandwidth of this machine, measured with plain SIMD sum (read) and copy loops compiled into the
 *    same module (wa_probe_sum / wa_probe_copy) over as many bytes as the cache holds, and
 *  - onnxruntime-web's wasm Attention op (opset 23, 1 thread) on the same shape: bench/peers/ort.ts for MHA, the same
 *    op with K/V of Hkv heads for GQA. ORT has no persistent cache: its K and V are copied in on every run.
 * Also a paged f32 cache (pages of 16 tokens from a KVPagePool, page table followed by the kernel), and attention()
 * on the same q, k, v, which (like onnxruntime-web) copies the keys and values into wasm memory on every call.
 * Prints per row: median ms, tokens/s (decode steps of one layer per second), effective GB/s (KV bytes read per
 * step / time), that as % of the measured sum bandwidth, and max |Δ| against the f32 decode.
 * Usage: tsx bench/decode.ts [--json FILE] [--quick] [--no-ort]
 * To compare two builds of the kernel on a shared machine, use bench/decode-ab.ts (both in one process, interleaved).
 */
import { writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { KVCache, KVPagePool, attention, decode, init } from '../ts/index.js';
import type { KVCacheDtype } from '../ts/index.js';
import { getExports } from '../ts/core/loader.js';
import { uniform } from '../test/rng.js';
import { LIBRARY_POLICY, maxAbsDiff, measureShape, type Contender } from './measure.js';
import { buildSingleNodeModel } from './onnx-model.js';
import { ortPeer } from './peers/ort.js';
import type { Impl, Prepared } from './peers/peer.js';

const [NQ, NK, HQ, D] = [1, 4096, 32, 128];
const DTYPES: readonly KVCacheDtype[] = ['f32', 'f16', 'int8'];
const BYTES: Record<KVCacheDtype, number> = { f32: 4, f16: 2, int8: 1 };

interface Probes {
  sum(ptr: number, len: number): number;
  copy(dst: number, src: number, len: number): number;
}

/** The probe exports of this thread's module. */
function probes(): Probes {
  const k = getExports() as unknown as { wa_probe_sum(p: number, n: number): number; wa_probe_copy(d: number, s: number, n: number): number };
  return { sum: (p, n) => k.wa_probe_sum(p, n), copy: (d, s, n) => k.wa_probe_copy(d, s, n) };
}

/** Sum and copy loops over `bytes` bytes of wasm memory, as contenders (output: nothing to verify). */
function probeContenders(bytes: number, policy: typeof LIBRARY_POLICY): { contenders: Contender[]; free(): void } {
  const k = getExports();
  const src = k.wa_alloc(bytes, 16) >>> 0;
  const dst = k.wa_alloc(bytes, 16) >>> 0;
  if (!src || !dst) throw new Error(`could not allocate 2 × ${bytes} bytes of wasm memory for the probes`);
  new Float32Array(k.memory.buffer, src, bytes / 4).fill(1); // touch every page
  new Float32Array(k.memory.buffer, dst, bytes / 4).fill(0);
  const p = probes();
  const empty = new Float32Array(0);
  const sum: Prepared = { async run() { p.sum(src, bytes / 4); return empty; }, async dispose() {} };
  const copy: Prepared = {
    async run() {
      if (p.copy(dst, src, bytes / 4) !== 0) throw new Error('wa_probe_copy rejected its regions');
      return empty;
    },
    async dispose() {},
  };
  return {
    contenders: [{ impl: 'js' as Impl, prepared: sum, policy }, { impl: 'js' as Impl, prepared: copy, policy }],
    free() { k.wa_free(src, bytes, 16); k.wa_free(dst, bytes, 16); },
  };
}

async function prepareOrt(hkv: number, q: Float32Array, kk: Float32Array, v: Float32Array): Promise<Prepared> {
  if (hkv === HQ) return ortPeer.prepare({ b: 1, h: HQ, nq: NQ, nk: NK, d: D, causal: false }, { q, k: kk, v });
  // GQA: the same op with K/V of Hkv heads (ORT is configured by the MHA row's ortPeer.prepare, which runs first).
  const model = buildSingleNodeModel({
    opType: 'Attention', domain: '', opsetVersion: 23,
    inputs: [{ name: 'Q', dims: [1, HQ, NQ, D] }, { name: 'K', dims: [1, hkv, NK, D] }, { name: 'V', dims: [1, hkv, NK, D] }],
    outputs: [{ name: 'Y', dims: [1, HQ, NQ, D] }],
  });
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = {
    Q: new ort.Tensor('float32', q, [1, HQ, NQ, D]),
    K: new ort.Tensor('float32', kk, [1, hkv, NK, D]),
    V: new ort.Tensor('float32', v, [1, hkv, NK, D]),
  };
  return {
    async run() {
      const y = (await session.run(feeds))['Y']!;
      const data = y.data as Float32Array;
      y.dispose();
      return data;
    },
    async dispose() { await session.release(); },
  };
}

interface Row {
  impl: string;
  hkv: number;
  dtype: string;
  ms: number;
  tokensPerSecond: number;
  /** Bytes of K and V (and int8 scales) read per step. */
  bytes: number;
  gbPerSecond: number;
  /** gbPerSecond / measured sum bandwidth over the same number of bytes. */
  ofSumBandwidth: number | null;
  maxAbsDiff: number | null;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const jsonAt = argv.indexOf('--json');
  const json = jsonAt >= 0 ? argv[jsonAt + 1] : undefined;
  const policy = argv.includes('--quick') ? { ...LIBRARY_POLICY, minTimeMs: 300, minReps: 3 } : LIBRARY_POLICY;
  const withOrt = !argv.includes('--no-ort');
  await init();
  console.log(`decode: Nq ${NQ}, Nk ${NK}, Hq ${HQ}, D ${D}, one thread; webattn wasm SIMD128` +
    (withOrt ? ` vs onnxruntime-web ${ort.env.versions.web ?? '?'} Attention-23 (numThreads=1)` : ''));
  console.log('impl'.padEnd(26) + 'Hkv'.padStart(4) + 'ms'.padStart(9) + 'tok/s'.padStart(9) + 'MiB'.padStart(7) +
    'GB/s'.padStart(8) + '% sum bw'.padStart(10) + 'max|Δ|'.padStart(10));
  const rows: Row[] = [];
  const print = (r: Row): void => {
    console.log(`${r.impl}${r.dtype ? ` ${r.dtype}` : ''}`.padEnd(26) + String(r.hkv).padStart(4) + r.ms.toFixed(3).padStart(9) +
      (r.tokensPerSecond ? r.tokensPerSecond.toFixed(0) : '').padStart(9) + (r.bytes / 2 ** 20).toFixed(0).padStart(7) +
      r.gbPerSecond.toFixed(2).padStart(8) + (r.ofSumBandwidth === null ? '' : `${(100 * r.ofSumBandwidth).toFixed(0)} %`).padStart(10) +
      (r.maxAbsDiff === null ? '' : r.maxAbsDiff.toExponential(1)).padStart(10));
  };

  for (const hkv of [32, 8]) {
    const q = uniform(1, HQ * NQ * D);
    const k = uniform(2, hkv * NK * D);
    const v = uniform(3, hkv * NK * D);
    const caches = DTYPES.map((dtype) => {
      const c = new KVCache({ heads: hkv, headDim: D, capacity: NK, dtype });
      c.append({ data: k, shape: [1, hkv, NK, D] }, { data: v, shape: [1, hkv, NK, D] });
      return c;
    });
    const qt = { data: q, shape: [1, HQ, NQ, D] };
    const decoders: Contender[] = caches.map((c) => {
      const out = new Float32Array(HQ * NQ * D);
      return { impl: 'webattn', prepared: { async run() { decode(qt, c, { out }); return out; }, async dispose() {} }, policy };
    });
    const pool = new KVPagePool({ heads: hkv, headDim: D, pageSize: 16, pages: NK / 16 });
    const paged = pool.sequence();
    paged.append({ data: k, shape: [1, hkv, NK, D] }, { data: v, shape: [1, hkv, NK, D] });
    const pagedOut = new Float32Array(HQ * NQ * D);
    decoders.push({ impl: 'webattn', prepared: { async run() { decode(qt, paged, { out: pagedOut }); return pagedOut; }, async dispose() {} }, policy });
    const f32Bytes = 2 * hkv * NK * D * 4;
    const probe = probeContenders(f32Bytes, policy);
    const peer = withOrt ? await prepareOrt(hkv, q, k, v) : undefined;
    // attention() with the same q, k, v: like onnxruntime-web, it copies the keys and values in on every call.
    const kt = { data: k, shape: [1, hkv, NK, D] };
    const vt = { data: v, shape: [1, hkv, NK, D] };
    const attnOut = new Float32Array(HQ * NQ * D);
    const direct: Contender = { impl: 'webattn', prepared: { async run() { attention(qt, kt, vt, { out: attnOut }); return attnOut; }, async dispose() {} }, policy };
    const all = [...decoders, ...probe.contenders, ...(peer ? [{ impl: 'onnxruntime-web' as Impl, prepared: peer, policy }] : []), direct];
    const m = await measureShape(all);
    probe.free();
    await peer?.dispose();
    const P = DTYPES.length + 1; // first probe
    const sumGbs = f32Bytes / (m[P]!.medianMs / 1e3) / 1e9;
    const copyGbs = (2 * f32Bytes) / (m[P + 1]!.medianMs / 1e3) / 1e9;
    const ref = m[0]!.output;
    for (const [i, dtype] of DTYPES.entries()) {
      const bytes = 2 * hkv * NK * D * BYTES[dtype] + (dtype === 'int8' ? 2 * hkv * NK * 4 : 0);
      const gb = bytes / (m[i]!.medianMs / 1e3) / 1e9;
      rows.push({ impl: 'webattn decode', hkv, dtype, ms: m[i]!.medianMs, tokensPerSecond: 1e3 / m[i]!.medianMs, bytes,
        gbPerSecond: gb, ofSumBandwidth: gb / sumGbs, maxAbsDiff: i === 0 ? 0 : maxAbsDiff(m[i]!.output, ref) });
    }
    const pm = m[DTYPES.length]!;
    const pgb = f32Bytes / (pm.medianMs / 1e3) / 1e9;
    rows.push({ impl: 'webattn decode paged/16', hkv, dtype: 'f32', ms: pm.medianMs, tokensPerSecond: 1e3 / pm.medianMs,
      bytes: f32Bytes, gbPerSecond: pgb, ofSumBandwidth: pgb / sumGbs, maxAbsDiff: maxAbsDiff(pm.output, ref) });
    rows.push({ impl: 'wasm sum loop (read)', hkv, dtype: '', ms: m[P]!.medianMs, tokensPerSecond: 0, bytes: f32Bytes,
      gbPerSecond: sumGbs, ofSumBandwidth: 1, maxAbsDiff: null });
    rows.push({ impl: 'wasm copy loop (r+w)', hkv, dtype: '', ms: m[P + 1]!.medianMs, tokensPerSecond: 0,
      bytes: 2 * f32Bytes, gbPerSecond: copyGbs, ofSumBandwidth: copyGbs / sumGbs, maxAbsDiff: null });
    if (peer) {
      const o = m[P + 2]!;
      const gb = f32Bytes / (o.medianMs / 1e3) / 1e9;
      rows.push({ impl: 'onnxruntime-web Attention', hkv, dtype: 'f32', ms: o.medianMs, tokensPerSecond: 1e3 / o.medianMs,
        bytes: f32Bytes, gbPerSecond: gb, ofSumBandwidth: gb / sumGbs, maxAbsDiff: maxAbsDiff(o.output, ref) });
    }
    const a = m[m.length - 1]!;
    const agb = f32Bytes / (a.medianMs / 1e3) / 1e9;
    rows.push({ impl: 'webattn attention()', hkv, dtype: 'f32', ms: a.medianMs, tokensPerSecond: 1e3 / a.medianMs,
      bytes: f32Bytes, gbPerSecond: agb, ofSumBandwidth: agb / sumGbs, maxAbsDiff: maxAbsDiff(a.output, ref) });
    for (const r of rows.filter((x) => x.hkv === hkv)) print(r);
    for (const c of caches) c.dispose();
    pool.dispose();
  }
  if (json) writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), nq: NQ, nk: NK, hq: HQ, d: D, rows }, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
