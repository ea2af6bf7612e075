/**
 * A Node script that uses a pool and never calls dispose() still exits once its calls are done: idle workers are
 * unref()'d, and a worker is ref()'d only while a call waits for it (so an awaited call with nothing else alive in
 * the process still completes).
 *
 * Node project only: it starts a Node child process. (Deno's web workers have no unref: a Deno script disposes its
 * pool, as the README says; browsers have no process to keep alive.)
 */
import { describe, expect, it } from 'vitest';

const skipReason = 'Deno' in globalThis
  ? 'Deno: web workers have no unref, and the runner does not permit starting a process'
  : typeof window !== 'undefined'
    ? 'browser project: there is no process to exit'
    : undefined;

// Non-literal specifiers: the browser project's bundler must not try to resolve Node-only modules.
const nodeImport = <T>(spec: string): Promise<T> => import(/* @vite-ignore */ spec) as Promise<T>;

function body(): void {
  it('exits on its own once its calls are done, after they completed', async () => {
    const cp = await nodeImport<typeof import('node:child_process')>('node:child_process');
    const index = new URL('../ts/index.ts', import.meta.url);
    const script = `
      import { createAttention } from ${JSON.stringify(index.href)};
      const pool = await createAttention({ threads: 2 });
      const x = { data: new Float32Array(2 * 300 * 16).map((_, i) => Math.sin(i)), shape: [1, 2, 300, 16] };
      const r = await pool.run(x, x, x);
      const b = await pool.runBatch([{ q: x, k: x, v: x }, { q: x, k: x, v: x, options: { causal: true } }]);
      console.log(JSON.stringify({ n: r.output.length, batch: b.length }));
    `;
    const r = cp.spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url), encoding: 'utf8', timeout: 60_000,
    });
    // spawnSync's timeout kills a process that hangs on its idle workers, and reports it as r.error.
    expect(r.error?.message ?? '', r.stderr).toBe('');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ n: 2 * 300 * 16, batch: 2 });
  });
}

const title = 'a Node process with a pool it never disposes';
if (skipReason === undefined) describe(title, body);
else if (typeof describe.skipIf === 'function') describe.skipIf(true)(`${title} (skipped: ${skipReason})`, body);
else console.log(`test/pool-exit.test.ts skipped: ${skipReason}`);
