// Runs cargo with the same toolchain the wasm build uses (Debian's Rust 1.63 where present, so tests also check
// that the crate still builds with it). Usage: node crate/cargo.mjs test [args...]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cargoEnv, findToolchain } from './toolchain.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tc = findToolchain({ needWasm: true });
const args = process.argv.slice(2);
const r = spawnSync(tc.cargo, args, { cwd: root, stdio: 'inherit', env: cargoEnv(tc) });
process.exit(r.status ?? 1);
