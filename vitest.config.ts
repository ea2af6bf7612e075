/**
 * Two projects over the same test files: `node` (Node's V8) and `browser` (a real headless Chromium driven by
 * playwright-core; the system Chromium is used, nothing is downloaded). In the browser, Vite serves the sources, so
 * the loader's default `new URL('./webattn.wasm', import.meta.url)` fetches ts/core/webattn.wasm from the dev server.
 */
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, findChromium } from './test/browser/chromium.mjs';

const include = ['test/**/*.test.ts'];
/** Inline projects do not inherit the root's timeouts, so each project states them. Machines here are shared. */
const timeouts = { testTimeout: 60_000, hookTimeout: 60_000 };
/** coi.test.ts asserts isolation, so it runs only in the isolated project. */
const exclude = ['test/coi.test.ts', '**/node_modules/**'];

function browserProject(name: string, files: string[], headers?: Record<string, string>) {
  return {
    // Pre-bundle comlink before the first page load, so Vite does not reload the page mid-run to optimise it.
    optimizeDeps: { include: ['comlink'] },
    server: headers ? { headers } : {},
    test: {
      ...timeouts,
      name,
      include: files,
      exclude: headers ? [] : exclude,
      browser: {
        enabled: true,
        headless: true,
        screenshotFailures: false,
        provider: playwright({
          launchOptions: { executablePath: findChromium() ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
        }),
        instances: [{ browser: 'chromium' as const }],
      },
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        test: { ...timeouts, name: 'node', include, exclude, environment: 'node' },
      },
      browserProject('browser', include),
      // The pool again in a cross-origin-isolated page (COOP/COEP): SharedArrayBuffer exists, workers read views.
      browserProject('browser-coi', ['test/pool.test.ts', 'test/pool-claims.test.ts', 'test/pool-staging.test.ts', 'test/coi.test.ts'], {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      }),
    ],
  },
});
