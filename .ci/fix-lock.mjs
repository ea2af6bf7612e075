// Adds lock entries for optional platform packages the registry mirror does not serve, so `npm ci` accepts the lock.
import { readFileSync, writeFileSync } from 'node:fs';
const file = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pk = lock.packages;
const OS = ['darwin', 'win32', 'linux', 'android', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'openharmony'];
const CPU = { x64: 'x64', arm64: 'arm64', arm: 'arm', ia32: 'ia32', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x', loong64: 'loong64', mips64el: 'mips64el', 'arm-eabi': 'arm', armeabi: 'arm', x86: 'ia32' };
let added = 0;
for (const [path, meta] of Object.entries(pk)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    if (pk[`node_modules/${name}`] || pk[`${path}/node_modules/${name}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((p) => OS.includes(p));
    const cpuKey = Object.keys(CPU).find((c) => name.includes(`-${c}`));
    if (!os || !cpuKey) { console.warn(`skip ${name}: cannot tell its platform`); continue; }
    const entry = { version, dev: meta.dev ?? undefined, optional: true, os: [os], cpu: [CPU[cpuKey]] };
    if (os === 'linux') entry.libc = [name.includes('musl') ? 'musl' : 'glibc'];
    pk[`node_modules/${name}`] = entry;
    added++;
  }
}
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} entries`);
