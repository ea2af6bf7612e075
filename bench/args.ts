/** Command-line flags of bench.ts. */
import type { Impl, Shape } from './peers/peer.js';

export const ALL_IMPLS: readonly Impl[] = ['webattn', 'onnxruntime-web', 'tfjs-wasm', 'js'];

const BASE_SHAPES: ReadonlyArray<Omit<Shape, 'causal'>> = [
  { b: 1, h: 12, nq: 128, nk: 128, d: 64 },
  { b: 1, h: 12, nq: 512, nk: 512, d: 64 },
  { b: 1, h: 12, nq: 1024, nk: 1024, d: 64 },
  { b: 1, h: 8, nq: 2048, nk: 2048, d: 64 },
];

export interface BenchArgs {
  shapes: Shape[];
  impls: Impl[];
  json?: string;
  svg?: string;
  memory: boolean;
  /** Thread counts for the pool scaling report (--threads [list]); undefined = no scaling report. */
  threads?: number[];
  /** Sequence lengths for the scaling report of the linear-time variants (--scaling [list]); undefined = none. */
  scaling?: number[];
  /** Run the timing table (false with --memory alone). */
  table: boolean;
}

const USAGE = `usage: tsx bench/bench.ts [--shapes small|all] [--impl a,b] [--json FILE] [--svg FILE] [--memory] [--threads [1,2,…]] [--scaling [N,N,…]]
  impls: ${ALL_IMPLS.join(', ')}
  --scaling time vs N (1k…64k, D=64, one head) of exact, sliding-window and the linear-time variants, log-log
            slopes and each approximation's error vs exact (bench/scaling.ts); alone it skips the timing table
  --memory  webattn's wasm memory after N=65536, H=1, D=64 (causal and not); alone it skips the timing table
  --threads thread scaling of the worker pool vs onnxruntime-web with as many threads (default 1..cores); alone it
            skips the timing table
  no arguments: every shape and impl, then the memory report`;

export function parseArgs(argv: readonly string[]): BenchArgs {
  let shapeSet = 'all';
  let impls: Impl[] = [...ALL_IMPLS];
  let json: string | undefined;
  let svg: string | undefined;
  let memory = false;
  let threads: number[] | undefined;
  let scaling: number[] | undefined;
  let other = false;
  const value = (i: number): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${argv[i]} needs a value\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--shapes') { shapeSet = value(i++); other = true; }
    else if (a === '--impl') {
      const list = value(i++).split(',').map((x) => x.trim()).filter(Boolean);
      for (const x of list) if (!ALL_IMPLS.includes(x as Impl)) throw new Error(`unknown impl '${x}'\n${USAGE}`);
      impls = ALL_IMPLS.filter((x) => list.includes(x));
      other = true;
    }
    else if (a === '--json') { json = value(i++); other = true; }
    else if (a === '--svg') { svg = value(i++); other = true; }
    else if (a === '--memory') memory = true;
    else if (a === '--threads') {
      const next = argv[i + 1];
      if (next !== undefined && /^\d+(,\d+)*$/.test(next)) { threads = next.split(',').map(Number); i++; }
      else threads = [];
      if (threads.some((t) => t < 1)) throw new Error(`--threads: counts must be ≥ 1\n${USAGE}`);
    }
    else if (a === '--scaling') {
      const next = argv[i + 1];
      if (next !== undefined && /^\d+(,\d+)*$/.test(next)) { scaling = next.split(',').map(Number); i++; }
      else scaling = [];
      if (scaling.some((n) => n < 1)) throw new Error(`--scaling: lengths must be ≥ 1\n${USAGE}`);
    }
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else throw new Error(`unknown argument '${a}'\n${USAGE}`);
  }
  if (shapeSet !== 'small' && shapeSet !== 'all') throw new Error(`--shapes: expected small or all, got ${shapeSet}`);
  const base = shapeSet === 'small' ? BASE_SHAPES.slice(0, 1) : BASE_SHAPES;
  const shapes = base.flatMap((s) => [{ ...s, causal: false }, { ...s, causal: true }]);
  const alone = memory || threads !== undefined || scaling !== undefined;
  return { shapes, impls, json, svg, memory: memory || argv.length === 0, threads, scaling, table: !alone || other };
}
