/**
 * webattn vs onnxruntime-web (ONNX Attention, opset 23), tfjs-backend-wasm and plain JS, all on one thread.
 * Usage: see args.ts (`tsx bench/bench.ts --help`).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from './args.js';
import { makeInputs } from './inputs.js';
import { LIBRARY_POLICY, maxAbsDiff, measureShape, type Contender, type Policy } from './measure.js';
import { flops, type Impl, type Peer, type Shape } from './peers/peer.js';
import { DIFF_LIMIT, shapeLabel, tableHeader, tableLine, type Line, type Row } from './report.js';
import { barChart } from './svg.js';

/** The plain JS loop is skipped where one repetition is predicted to take longer than this. */
const JS_MAX_MS = 10_000;

async function loadPeer(impl: Impl): Promise<Peer> {
  switch (impl) {
    case 'webattn': return (await import('./peers/webattn.js')).webattnPeer;
    case 'onnxruntime-web': return (await import('./peers/ort.js')).ortPeer;
    case 'tfjs-wasm': return (await import('./peers/tfjs.js')).tfjsPeer;
    case 'js': return (await import('./peers/js.js')).jsPeer;
  }
}

/** Plain JS: fewer repetitions, no warm-up once a repetition is long, skipped when predicted over JS_MAX_MS. */
function jsPolicy(predictedMs: number | undefined): Policy | undefined {
  if (predictedMs !== undefined && predictedMs > JS_MAX_MS) return undefined;
  const long = predictedMs !== undefined && predictedMs > 500;
  return { warmups: long ? 0 : 1, minReps: 1, maxReps: 5, minTimeMs: 2000 };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let failed = false;
  // Thread scaling first, before the peers are loaded: their modules would enlarge this process's heap, and every
  // garbage collection on the calling thread then takes longer from the pool's workers (onnxruntime-web is timed in
  // processes of its own for the same reason).
  const threadRows: Row[] = [];
  if (args.threads) {
    const { defaultThreadCounts, reportThreads } = await import('./threads.js');
    threadRows.push(...(await reportThreads(args.threads.length ? args.threads : defaultThreadCounts())));
  }
  const peers: Peer[] = [];
  for (const impl of args.table ? args.impls : []) {
    try {
      peers.push(await loadPeer(impl));
    } catch (e) {
      failed = true;
      console.error(`${impl}: cannot be loaded (${(e as Error).message.split('\n')[0]}); left out`);
    }
  }
  const rows: Row[] = [];
  if (args.table && peers.length) {
    const reference = peers[0].impl;
    let jsGflops: number | undefined; // measured rate of the JS loop, to predict its time on bigger shapes
    let printedHeader = false;
    for (const shape of args.shapes) {
      const inputs = makeInputs(shape);
      const contenders: Contender[] = [];
      const lines: Line[] = [];
      for (const peer of peers) {
        let policy: Policy | undefined = LIBRARY_POLICY;
        if (peer.impl === 'js') {
          policy = jsPolicy(jsGflops ? flops(shape) / jsGflops / 1e6 : undefined);
          if (!policy) {
            lines.push({ shape, impl: 'js', note: `skipped (predicted > ${JS_MAX_MS / 1000} s per run)` });
            continue;
          }
        }
        try {
          contenders.push({ impl: peer.impl, prepared: await peer.prepare(shape, inputs), policy });
        } catch (e) {
          failed = true;
          lines.push({ shape, impl: peer.impl, note: `failed: ${(e as Error).message.split('\n')[0]}` });
        }
      }
      if (!printedHeader) {
        for (const p of peers) console.log(`# ${p.impl}: ${p.describe()}`);
        console.log(`# webattn/x = webattn GFLOP/s ÷ impl GFLOP/s (> 1: webattn faster); FLOPs = 4·B·H·Nq·Nk·D, half when causal`);
        console.log(tableHeader(reference));
        printedHeader = true;
      }
      const measured = await measureShape(contenders);
      for (const c of contenders) await c.prepared.dispose();
      const refOut = measured.find((m) => m.impl === reference)?.output;
      for (const m of measured) {
        const peer = peers.find((p) => p.impl === m.impl)!;
        const gflops = flops(shape) / m.medianMs / 1e6;
        if (m.impl === 'js') jsGflops = gflops;
        const row: Row = {
          impl: m.impl, B: shape.b, H: shape.h, Nq: shape.nq, Nk: shape.nk, D: shape.d, causal: shape.causal,
          threads: peer.threads(), ms: m.medianMs, gflops,
        };
        rows.push(row);
        const diff = m.impl === reference || !refOut ? undefined : maxAbsDiff(m.output, refOut);
        if (diff !== undefined && !(diff <= DIFF_LIMIT)) failed = true;
        lines.push({ shape, impl: m.impl, row, reps: m.times.length, diff });
      }
      const webattnMs = rows.find((r) => r.impl === 'webattn' && sameShape(r, shape))?.ms;
      lines.sort((a, b) => peers.findIndex((p) => p.impl === a.impl) - peers.findIndex((p) => p.impl === b.impl));
      for (const l of lines) console.log(tableLine(l, webattnMs));
    }
  }
  rows.push(...threadRows);
  if (args.json) {
    writeFileSync(args.json, JSON.stringify(rows, null, 2) + '\n');
    console.log(`wrote ${rows.length} rows to ${args.json}`);
  }
  if (args.svg) {
    writeFileSync(args.svg, barChart(rows, 'Attention forward, 1 thread, GFLOP/s (higher is better)'));
    console.log(`wrote ${args.svg}`);
  }
  if (args.scaling) {
    const { DEFAULT_SCALING_N, reportScaling } = await import('./scaling.js');
    await reportScaling(args.scaling.length ? args.scaling : DEFAULT_SCALING_N);
  }
  if (args.memory) await (await import('./memory.js')).reportMemory();
  if (failed) process.exitCode = 1;
}

function sameShape(r: Row, s: Shape): boolean {
  return r.B === s.b && r.H === s.h && r.Nq === s.nq && r.Nk === s.nk && r.D === s.d && r.causal === s.causal;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
