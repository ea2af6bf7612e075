// Builds crate/ to ts/core/webattn.wasm (SIMD128), where the SDK's loader and the rollup build expect it.
// A binaryen `wasm-opt` on PATH gets a post-pass; without it the cargo output is used as is.
import { spawnSync } from 'node:child_process';
import { copyFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGET, cargoEnv, findToolchain } from './toolchain.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'target', TARGET, 'release', 'webattn.wasm');
const dest = join(root, 'ts', 'core', 'webattn.wasm');

const tc = findToolchain({ needWasm: true });
const env = cargoEnv(tc, { RUSTFLAGS: `${process.env.RUSTFLAGS ?? ''} -C target-feature=+simd128`.trim() });
const cargo = spawnSync(tc.cargo, ['build', '--release', '--target', TARGET, '-p', 'webattn'], {
  cwd: root,
  stdio: 'inherit',
  env,
});
if (cargo.status !== 0) {
  console.error('[webattn] cargo build for wasm32 failed');
  process.exit(cargo.status ?? 1);
}

const opt = spawnSync('wasm-opt', ['-O3', '--enable-simd', '--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals',
  '--enable-nontrapping-float-to-int', built, '-o', dest], { stdio: 'inherit' });
if (opt.error || opt.status !== 0) {
  if (!opt.error) console.error('[webattn] wasm-opt failed; using the cargo output unoptimised');
  copyFileSync(built, dest);
}
console.log(`[webattn] ${dest} (${statSync(dest).size} bytes)`);
