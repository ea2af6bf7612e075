// Finds a Rust toolchain whose standard library has the wasm32-unknown-unknown target, installing Debian's when
// apt can (rustup on these machines cannot download targets). Shared by build-wasm.mjs and cargo.mjs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const TARGET = 'wasm32-unknown-unknown';
// lld-14 provides rust-lld, the wasm linker Debian's rustc calls (a Recommends, so name it explicitly).
const APT_PACKAGES = ['rustc', 'cargo', 'libstd-rust-dev-wasm32', 'lld-14'];

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function candidates() {
  const list = [];
  if (process.env.CARGO && process.env.RUSTC) list.push({ cargo: process.env.CARGO, rustc: process.env.RUSTC });
  list.push({ cargo: '/usr/bin/cargo', rustc: '/usr/bin/rustc' });
  list.push({ cargo: 'cargo', rustc: 'rustc' });
  return list;
}

/** The wasm32 std in the sysroot and a `rust-lld` to link with (rustup ships it in the sysroot, Debian on PATH). */
function hasTarget({ rustc }) {
  const sysroot = run(rustc, ['--print', 'sysroot']);
  if (sysroot === undefined || !existsSync(join(sysroot, 'lib', 'rustlib', TARGET, 'lib'))) return false;
  const host = /^host: (.+)$/m.exec(run(rustc, ['-vV']) ?? '')?.[1] ?? '';
  return existsSync(join(sysroot, 'lib', 'rustlib', host, 'bin', 'rust-lld')) || run('rust-lld', ['-flavor', 'wasm', '--version']) !== undefined;
}

function works({ cargo, rustc }) {
  return run(cargo, ['--version']) !== undefined && run(rustc, ['--version']) !== undefined;
}

function aptInstall() {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = root ? [] : run('sudo', ['-n', 'true']) !== undefined ? ['sudo', '-n'] : undefined;
  if (!sudo || run('apt-get', ['--version']) === undefined) return false;
  console.error(`[webattn] no Rust toolchain with the ${TARGET} target; installing Debian's: ${APT_PACKAGES.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const exec = (args) => {
    const [cmd, ...rest] = [...sudo, ...args];
    return spawnSync(cmd, rest, { stdio: 'inherit', env }).status === 0;
  };
  return exec(['apt-get', 'update', '-q']) && exec(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...APT_PACKAGES]);
}

/** A { cargo, rustc } pair; with `needWasm` one whose sysroot has the wasm32 target. Exits with advice otherwise. */
export function findToolchain({ needWasm }) {
  const pick = () => candidates().find((t) => works(t) && (!needWasm || hasTarget(t)));
  let found = pick();
  if (!found && aptInstall()) found = pick();
  if (found) return found;
  console.error(
    `[webattn] cannot find a Rust toolchain${needWasm ? ` with the ${TARGET} target` : ''}.\n` +
      `Install one of:\n` +
      `  Debian/Ubuntu:  sudo apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14\n` +
      `  rustup:         rustup target add ${TARGET}\n` +
      `or point CARGO and RUSTC at a cargo and rustc that have it.`,
  );
  process.exit(1);
}

export function cargoEnv({ rustc }, extra = {}) {
  return { ...process.env, RUSTC: rustc, ...extra };
}
