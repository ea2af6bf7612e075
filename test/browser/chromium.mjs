// Where the browser tests find Chromium (no browser download: a system Chromium is driven by playwright-core).
import { existsSync } from 'node:fs';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
  // WebGPU (on Chromium's SwiftShader when there is no GPU) for test/webgpu.test.ts.
  '--enable-unsafe-webgpu',
];

/** $CHROMIUM_PATH, else the first of the usual Debian/Ubuntu locations that exists, else undefined. */
export function findChromium() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => p && existsSync(p));
}

// Run directly (`node test/browser/chromium.mjs`): fail with a clear message when there is no Chromium.
if (import.meta.url === `file://${process.argv[1]}`) {
  const path = findChromium();
  if (!path) {
    console.error(
      'test:browser needs a Chromium binary and found none (looked at $CHROMIUM_PATH, /usr/bin/chromium, ' +
        '/usr/bin/chromium-browser).\nInstall it with:  apt-get install -y --no-install-recommends chromium\n' +
        '(or set CHROMIUM_PATH to a Chromium/Chrome executable; .ci/run installs it on a fresh machine).',
    );
    process.exit(1);
  }
  console.log(`test:browser: using ${path}`);
}
