/**
 * Two ESM builds of the library (ts/cli is not part of it):
 *   dist/          index.js + worker.js (pool worker entry) + index.d.ts and friends + webattn.wasm — Node, Deno, bundlers
 *   dist/browser/  the same with IS_BROWSER_BUILD = true, so every Node-only branch and its `node:` import is gone
 * comlink is bundled in, so dist has no runtime dependencies. `npm run build` builds the wasm first.
 */
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import typescript from '@rollup/plugin-typescript';

const require = createRequire(import.meta.url);
const WASM = 'ts/core/webattn.wasm';
const RUNTIME = resolve('ts/core/runtime.ts');
const WORKERS = resolve('ts/pool/workers.ts');

/** Replaces the IS_BROWSER_BUILD constant in ts/core/runtime.ts; rollup then folds the guards and drops the dead
 * branches (with their dynamic `node:` imports). */
function runtimeConstant(browser) {
  return {
    name: 'webattn-runtime-constant',
    transform(code, id) {
      if (id !== RUNTIME || !browser) return null;
      const out = code.replace(/export const IS_BROWSER_BUILD\b[^=]*= false;/, 'export const IS_BROWSER_BUILD = true;');
      if (out === code) this.error('IS_BROWSER_BUILD declaration not found in ts/core/runtime.ts');
      return { code: out, map: null };
    },
  };
}

/** Source runs start the pool worker from worker.ts; the bundle ships it as worker.js beside index.js. */
function workerUrl() {
  return {
    name: 'webattn-worker-url',
    transform(code, id) {
      if (id !== WORKERS) return null;
      const out = code.replace("new URL('./worker.ts', import.meta.url)", "new URL('./worker.js', import.meta.url)");
      if (out === code) this.error("new URL('./worker.ts', import.meta.url) not found in ts/pool/workers.ts");
      return { code: out, map: null };
    },
  };
}

/** Resolves comlink (the only runtime dependency) from node_modules so it is bundled, without a resolver plugin. */
function bundleComlink() {
  return {
    name: 'webattn-bundle-comlink',
    resolveId(id) {
      if (id === 'comlink') return require.resolve('comlink/dist/esm/comlink.mjs');
      if (id.startsWith('comlink/')) return require.resolve(id);
      return null;
    },
  };
}

/** Copies the wasm beside the bundle, where the loader's default `new URL('./webattn.wasm', import.meta.url)` looks. */
function wasmAsset() {
  return {
    name: 'webattn-wasm-asset',
    buildStart() {
      if (!existsSync(WASM)) this.error(`${WASM} is missing: run \`npm run build:wasm\` first (\`npm run build\` does both)`);
      this.addWatchFile(resolve(WASM));
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'webattn.wasm', source: readFileSync(WASM) });
    },
  };
}

/** The browser bundle must not reference Node: fail the build if any `node:` import survived. */
function noNodeImports() {
  return {
    name: 'webattn-no-node-imports',
    generateBundle(_options, bundle) {
      for (const [name, chunk] of Object.entries(bundle)) {
        if (chunk.type !== 'chunk') continue;
        const nodeIds = [...chunk.imports, ...chunk.dynamicImports].filter((i) => i.startsWith('node:'));
        if (nodeIds.length || /["']node:/.test(chunk.code)) {
          this.error(`browser bundle ${name} still references Node modules: ${nodeIds.join(', ') || 'node: in code'}`);
        }
      }
    },
  };
}

/** Type-check warnings fail the build instead of scrolling by. */
function onwarn(warning, warn) {
  if (warning.plugin === 'typescript') throw new Error(`TypeScript: ${warning.message}`);
  warn(warning);
}

function build({ dir, browser }) {
  return {
    input: { index: 'ts/index.ts', worker: 'ts/pool/worker.ts' },
    output: {
      dir,
      format: 'es',
      entryFileNames: '[name].js',
      // Flat: every chunk sits beside webattn.wasm and worker.js, which the code finds relative to import.meta.url.
      chunkFileNames: '[name]-[hash].js',
      sourcemap: true,
    },
    external: (id) => id.startsWith('node:'),
    onwarn,
    plugins: [
      runtimeConstant(browser),
      workerUrl(),
      bundleComlink(),
      typescript({
        tsconfig: './tsconfig.build.json',
        // Declarations once, from the Node build (the browser build exposes the same API).
        declaration: !browser,
        declarationDir: browser ? undefined : dir,
        outDir: dir,
        sourceMap: true,
        noEmitOnError: true,
      }),
      wasmAsset(),
      ...(browser ? [noNodeImports()] : []),
    ],
  };
}

export default [build({ dir: 'dist', browser: false }), build({ dir: 'dist/browser', browser: true })];
