/**
 * A/B of decode kernels: two or more builds of the wasm module (e.g. main's and a branch's, copied aside after
 * `node crate/build-wasm.mjs`) loaded into ONE process, each with its own copy of the same cache, timed call by call
 * in interleaved order (A×3, B×3, A×3, …) so that a busy moment on a shared machine hits every build alike.
 * Prints per build: median and min ms per decode, GB/s of cache bytes read, % of the sum loop (wa_probe_sum of the
 * first build over the f32 cache's bytes), max |Δ| against the first build, and the speed ratios to the first build.
 * Shape as bench/decode.ts: Nq 1, Nk 4096, Hq 32, D 128, one thread.
 * --evict MB: before every timed call, read MB of other memory (wa_probe_sum over a buffer of the first build) so the
 * cache comes partly from DRAM, as in bench/decode.ts where every contender's data shares the last-level cache.
 * Usage: tsx bench/decode-ab.ts A.wasm B.wasm [...] [--cases f32:32,f16:8,...] [--rounds 40] [--nk 4096] [--nq 1] [--evict MB]
 */
import { readFileSync } from 'node:fs';
import { DTYPE_CODES, FLAG_F16_FINITE, encodeDecodeDescriptor, DECODE_WORDS } from '../ts/decode/descriptor.js';
import { encodeF16 } from '../ts/decode/f16.js';
import { quantizeRow } from '../ts/decode/quantize.js';
import { uniform } from '../test/rng.js';

type Dtype = keyof typeof DTYPE_CODES;
interface Exports {
  memory: WebAssembly.Memory;
  wa_alloc(bytes: number, align: number): number;
  wa_decode(desc: number): number;
  wa_probe_sum(ptr: number, len: number): number;
}

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const files = argv.filter((a, i) => a.endsWith('.wasm') && !argv[i - 1]?.startsWith('--'));
const [HQ, D] = [32, 128];
const NK = Number(flag('nk', '4096'));
const NQ = Number(flag('nq', '1'));
const ROUNDS = Number(flag('rounds', '40'));
const EVICT = Number(flag('evict', '0')) * 2 ** 20;
const CASES = flag('cases', 'f32:32,f16:32,int8:32,f32:8,f16:8,int8:8').split(',').map((c) => {
  const [dtype, hkv] = c.split(':');
  if (!(dtype! in DTYPE_CODES) || !Number(hkv)) throw new Error(`--cases: ${c} is not dtype:hkv`);
  return { dtype: dtype as Dtype, hkv: Number(hkv) };
});
if (files.length === 0) throw new Error('usage: tsx bench/decode-ab.ts A.wasm B.wasm [...] [--cases f32:32,...]');

const median = (x: number[]): number => [...x].sort((a, b) => a - b)[x.length >> 1]!;
const modules = files.map((f) => new WebAssembly.Instance(new WebAssembly.Module(readFileSync(f)), {}).exports as unknown as Exports);
const evictAt = EVICT > 0 ? modules[0]!.wa_alloc(EVICT, 16) >>> 0 : 0;
if (EVICT > 0 && !evictAt) throw new Error(`could not allocate --evict ${EVICT} bytes`);
if (evictAt) new Float32Array(modules[0]!.memory.buffer, evictAt, EVICT / 4).fill(1);
const evict = (): void => { if (evictAt) modules[0]!.wa_probe_sum(evictAt, EVICT / 4); };

for (const { dtype, hkv } of CASES) {
  const n = hkv * NK * D;
  const kf = uniform(2, n);
  const vf = uniform(3, n);
  const q = uniform(1, HQ * NQ * D);
  const elem = { f32: 4, f16: 2, int8: 1 }[dtype];
  const setups = modules.map((k, m) => {
    const alloc = (bytes: number): number => {
      const p = k.wa_alloc(Math.max(bytes, 16), 16) >>> 0;
      if (!p) throw new Error(`${files[m]}: could not allocate ${bytes} bytes`);
      return p;
    };
    const [kp, vp] = [alloc(n * elem), alloc(n * elem)];
    const [ksp, vsp] = dtype === 'int8' ? [alloc(4 * n / D), alloc(4 * n / D)] : [0, 0];
    let finite = true;
    const put = (at: number, src: Float32Array, scales: number): void => {
      const buf = k.memory.buffer;
      if (dtype === 'f32') new Float32Array(buf, at, n).set(src);
      else if (dtype === 'f16') finite = encodeF16(src, new Uint16Array(buf, at, n)) && finite;
      else {
        const s = new Float32Array(buf, scales, n / D);
        for (let r = 0; r < n / D; r++) s[r] = quantizeRow(src.subarray(r * D, (r + 1) * D), new Int8Array(buf, at + r * D, D));
      }
    };
    put(kp, kf, ksp);
    put(vp, vf, vsp);
    const [qp, op, lp, dp] = [alloc(4 * q.length), alloc(4 * HQ * NQ * D), alloc(4 * HQ * NQ), alloc(4 * DECODE_WORDS)];
    new Float32Array(k.memory.buffer, qp, q.length).set(q);
    const probe = m === 0 ? alloc(8 * n) : 0;
    if (probe) new Float32Array(k.memory.buffer, probe, 2 * n).fill(1);
    encodeDecodeDescriptor(k.memory.buffer, dp, {
      hq: HQ, hkv, nq: NQ, dk: D, dv: D, dtype: DTYPE_CODES[dtype], capacity: NK, start: 0, end: NK, kPtr: kp, vPtr: vp,
      kScalePtr: ksp, vScalePtr: vsp, qPtr: qp, qHead: NQ * D, qRow: D, oPtr: op, oHead: NQ * D, oRow: D, lsePtr: lp,
      sinksPtr: 0, scale: 1 / Math.sqrt(D), causal: true, winLeft: -1, split: 0, pageSize: 0, pageTablePtr: 0, pageCount: 0,
      flags: dtype === 'f16' && finite ? FLAG_F16_FINITE : 0,
    });
    return { k, dp, op, probe, bytes: 2 * n * elem + (dtype === 'int8' ? 8 * n / D : 0) };
  });
  const outputs = setups.map((s, m) => {
    const status = s.k.wa_decode(s.dp);
    if (status !== 0) throw new Error(`${files[m]}: status ${status}`);
    return new Float32Array(s.k.memory.buffer, s.op, HQ * NQ * D).slice();
  });
  const times: number[][] = setups.map(() => []);
  const sums: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    setups.forEach((s, m) => {
      for (let c = 0; c < 3; c++) {
        evict();
        const t0 = performance.now();
        s.k.wa_decode(s.dp);
        times[m]!.push(performance.now() - t0);
      }
    });
    if (round % 5 === 0) {
      const s = setups[0]!;
      const t0 = performance.now();
      s.k.wa_probe_sum(s.probe, 2 * n);
      sums.push(performance.now() - t0);
    }
  }
  const sumGbs = (8 * n) / median(sums) / 1e6;
  const base = median(times[0]!);
  const cells = setups.map((s, m) => {
    const ms = median(times[m]!);
    const gbs = s.bytes / ms / 1e6;
    const diff = outputs[m]!.reduce((a, x, i) => Math.max(a, Math.abs(x - outputs[0]![i]!)), 0);
    return `${files[m]!.split('/').pop()} ${ms.toFixed(3)} ms (min ${Math.min(...times[m]!).toFixed(3)}) ` +
      `${gbs.toFixed(2)} GB/s ${(100 * gbs / sumGbs).toFixed(0)} % Δ ${diff.toExponential(1)} ×${(base / ms).toFixed(2)}`;
  });
  console.log(`${dtype} Hkv ${hkv} Nq ${NQ}: sum loop ${sumGbs.toFixed(2)} GB/s | ${cells.join(' | ')}`);
}
