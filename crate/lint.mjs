// `npm run lint:rust`: cargo fmt --check and cargo clippy (warnings denied) on the host target, with the first cargo
// on PATH that has both (rustup's; Debian's Rust 1.63 ships neither, so where none has them this says so and exits
// 0). The wasm-only cfg paths are not linted: rustup here has no wasm32 std.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const has = (sub) => spawnSync('cargo', [sub, '--version'], { cwd: root, stdio: 'ignore' }).status === 0;
if (!has('fmt') || !has('clippy')) {
  console.log('lint:rust: no cargo fmt / cargo clippy on PATH (Debian\'s Rust has neither); skipped');
  process.exit(0);
}
for (const args of [['fmt', '--check'], ['clippy', '--release', '--all-targets', '--', '-D', 'warnings']]) {
  console.log(`lint:rust: cargo ${args.join(' ')}`);
  const r = spawnSync('cargo', args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
