/**
 * Two projects over the same test files: `node` (Node's V8) and `browser` (a real headless Chromium driven by
 * playwright-core; the system Chromium is used, nothing is downloaded). In the browser, Vite serves the sources, so
 * the loader's default `new URL('./webattn.wasm', import.meta.url)` fetches ts/core/webattn.wasm from the dev server.
 */
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, findChromium } from './test/browser/chromium.mjs';

const include = ['test/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        test: { name: 'node', include, environment: 'node' },
      },
      {
        // Pre-bundle comlink before the first page load, so Vite does not reload the page mid-run to optimise it.
        optimizeDeps: { include: ['comlink'] },
        test: {
          name: 'browser',
          include,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: findChromium() ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
