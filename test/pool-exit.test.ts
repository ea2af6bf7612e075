/**
 * A Node script that uses a pool and never calls dispose() still exits once its calls are done: idle workers are
 * unref()'d, and a worker is ref()'d only while a call waits for it (so an awaited call with nothing else alive in
 * the process still completes).
 *
 * The same for a Deno script (Deno starts the pool's workers with node:worker_threads too: its web Workers have no
 * unref). Node project only: it starts child processes (the Deno runner does not permit that); browsers have no
 * process to keep alive.
 */
import { describe, expect, it } from 'vitest';

const skipReason = 'Deno' in globalThis
  ? 'Deno: the runner does not permit starting a process (the Node project runs the Deno case)'
  : typeof window !== 'undefined'
    ? 'browser project: there is no process to exit'
    : undefined;

// Non-literal specifiers: the browser project's bundler must not try to resolve Node-only modules.
const nodeImport = <T>(spec: string): Promise<T> => import(/* @vite-ignore */ spec) as Promise<T>;

/** The script: a pool, one call and a batch, no dispose(); it prints what it got. */
function script(index: URL): string {
  return `
    import { createAttention } from ${JSON.stringify(index.href)};
    const pool = await createAttention({ threads: 2 });
    const x = { data: new Float32Array(2 * 300 * 16).map((_, i) => Math.sin(i)), shape: [1, 2, 300, 16] };
    const r = await pool.run(x, x, x);
    const b = await pool.runBatch([{ q: x, k: x, v: x }, { q: x, k: x, v: x, options: { causal: true } }]);
    console.log(JSON.stringify({ n: r.output.length, batch: b.length }));
  `;
}

/** spawnSync's timeout kills a process that hangs on its idle workers, and reports it as r.error. */
function expectExited(r: { error?: Error; status: number | null; stdout: string; stderr: string }): void {
  expect(r.error?.message ?? '', r.stderr).toBe('');
  expect(r.status, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ n: 2 * 300 * 16, batch: 2 });
}

function body(): void {
  const index = new URL('../ts/index.ts', import.meta.url);
  const cwd = new URL('..', import.meta.url);

  it('Node: exits on its own once its calls are done, after they completed', async () => {
    const cp = await nodeImport<typeof import('node:child_process')>('node:child_process');
    const r = cp.spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(index)], {
      cwd, encoding: 'utf8', timeout: 60_000,
    });
    expectExited(r);
  });

  it('Deno: exits on its own once its calls are done, after they completed', async () => {
    const cp = await nodeImport<typeof import('node:child_process')>('node:child_process');
    const fs = await nodeImport<typeof import('node:fs')>('node:fs');
    const os = await nodeImport<typeof import('node:os')>('node:os');
    const path = await nodeImport<typeof import('node:path')>('node:path');
    const { createRequire } = await nodeImport<typeof import('node:module')>('node:module');
    // The deno npm package (a devDependency) puts its binary beside its package.json.
    const deno = path.join(path.dirname(createRequire(import.meta.url).resolve('deno/package.json')), 'deno');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webattn-exit-'));
    try {
      const file = path.join(dir, 'script.ts');
      fs.writeFileSync(file, script(index));
      const r = cp.spawnSync(deno, ['run', '--no-check', '--sloppy-imports', '--allow-read', '--allow-env', '--node-modules-dir=manual', file], {
        cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' },
      });
      expectExited(r);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

const title = 'a Node or Deno process with a pool it never disposes';
if (skipReason === undefined) describe(title, body);
else if (typeof describe.skipIf === 'function') describe.skipIf(true)(`${title} (skipped: ${skipReason})`, body);
else console.log(`test/pool-exit.test.ts skipped: ${skipReason}`);
