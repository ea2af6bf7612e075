/**
 * The playground page in real Chromium (playwright-core driving the system Chromium): the page loads from the local
 * server, draws its pictures, a click on another variant redraws the heatmap, a screenshot is not blank, the
 * timings come in, and the console stays free of errors.
 *
 * Node project only. Skipped in the browser project (the test itself drives a browser from Node: it needs
 * node:http and playwright-core) and under Deno (its runner grants no --allow-run/--allow-net to start Chromium and
 * the server).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';

const skipReason = 'Deno' in globalThis
  ? 'Deno: the test starts Chromium and a server, which the Deno runner does not permit'
  : typeof window !== 'undefined'
    ? 'browser project: this test drives Chromium from Node'
    : undefined;

// Non-literal specifiers: the browser project's bundler must not try to resolve Node-only modules.
const nodeImport = <T>(spec: string): Promise<T> => import(/* @vite-ignore */ spec) as Promise<T>;

/** Builds dist/ (rollup, or npm run build without a wasm) unless dist/browser/index.js is newer than every SDK source file; when the build
 * fails and an older bundle exists, goes on with that one (with a warning). */
async function ensureBundle(root: string): Promise<void> {
  const fs = await nodeImport<typeof import('node:fs')>('node:fs');
  const path = await nodeImport<typeof import('node:path')>('node:path');
  const cp = await nodeImport<typeof import('node:child_process')>('node:child_process');
  const bundle = path.join(root, 'dist', 'browser', 'index.js');
  const newest = (dir: string): number => fs.readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'playground' || e.name === 'cli' ? m : Math.max(m, newest(p));
    return /\.(ts|wasm)$/.test(e.name) ? Math.max(m, fs.statSync(p).mtimeMs) : m;
  }, 0);
  if (fs.existsSync(bundle) && fs.statSync(bundle).mtimeMs >= newest(path.join(root, 'ts'))) return;
  // With the wasm already built (npm test builds it first), only bundle: rebuilding the wasm would rewrite
  // ts/core/webattn.wasm while other test files may be loading it.
  const haveWasm = fs.existsSync(path.join(root, 'ts', 'core', 'webattn.wasm'));
  const [cmd, args] = haveWasm ? ['npx', ['rollup', '-c']] : ['npm', ['run', 'build']];
  const r = cp.spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 240_000 });
  if (r.status === 0) return;
  const why = `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`;
  if (!fs.existsSync(bundle)) throw new Error(why);
  // A bundle exists (only older than some source): the page checks below still decide whether it is good enough.
  console.warn(`${why}\nusing the existing dist/browser/`);
}

function body(): void {
  let browser: Browser;
  let page: Page;
  let url: string;
  const errors: string[] = [];

  beforeAll(async () => {
    const server = await nodeImport<typeof import('../ts/playground/server.js')>('../ts/playground/server.ts');
    await ensureBundle(server.ROOT);
    const { chromium } = await nodeImport<typeof import('playwright-core')>('playwright-core');
    const { CHROMIUM_ARGS, findChromium } = await nodeImport<{ CHROMIUM_ARGS: string[]; findChromium(): string | undefined }>(
      '../test/browser/chromium.mjs');
    const s = await server.startPlaygroundServer(0);
    url = s.url;
    // WebGPU on (Chromium's SwiftShader here), so the page's WebGPU row runs too.
    browser = await chromium.launch({
      executablePath: findChromium() ?? '/usr/bin/chromium', args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu'], headless: true,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
    return async () => {
      await browser.close();
      await s.close();
    };
  }, 300_000);

  const ready = (variant: string): Promise<unknown> =>
    page.waitForSelector(`body[data-state="ready"][data-variant="${variant}"]`, { timeout: 30_000 });

  it('loads and draws the heatmap, mask pattern, head view and per-head table for the default variant', async () => {
    await page.goto(url);
    await ready('exact');
    const tokens = (await page.inputValue('#sentence')).split(/\s+/).filter(Boolean).length;
    expect(tokens).toBeGreaterThan(4);
    const heatmap = await page.innerHTML('#heatmap');
    expect(heatmap).toMatch(/^<svg /);
    expect(await page.locator('#heatmap svg g.cells path').count()).toBeGreaterThan(1);
    expect(await page.locator('#mask svg path.computed').count()).toBe(1);
    expect(await page.locator('#mask svg path.skipped').count()).toBe(0); // exact computes every pair
    expect(await page.locator('#headview svg g.head').count()).toBe(4);
    expect(await page.locator('#heads-table tr').count()).toBe(1 + 4 + 1);
    expect(await page.textContent('#mask svg .legend-computed text')).toBe(`computed ${tokens * tokens} (100%)`);
    for (const id of ['rollout', 'flow']) {
      expect(await page.textContent(`#${id} svg title`)).toMatch(/over 3 layers/);
      expect(await page.locator(`#${id} svg g.cells path`).count()).toBeGreaterThan(1);
    }
    // Several SVGs share the page's id space: each legend must resolve to its own scale's gradient (the blues of
    // rollout, not the viridis of the heatmap drawn first).
    const legendTop = await page.evaluate(() => {
      const ref = document.querySelector('#rollout svg g.legend rect')!.getAttribute('fill')!;
      const gradient = document.getElementById(/url\(#(.+)\)/.exec(ref)![1]!)!;
      return gradient.querySelector('stop')!.getAttribute('stop-color');
    });
    expect(legendTop).toBe('#08306b');
    expect(await page.locator('#variants button').count()).toBeGreaterThanOrEqual(3);
    // Pointing at the cell (row 1, column 0) reads out its weight and the query's top keys.
    const grid = (await page.getAttribute('#heatmap svg g.cells', 'data-grid'))!.split(' ').map(Number);
    const box = (await page.locator('#heatmap svg').boundingBox())!;
    const scale = box.width / Number(await page.getAttribute('#heatmap svg', 'width'));
    await page.mouse.move(box.x + (grid[0]! + 0.5 * grid[2]!) * scale, box.y + (grid[1]! + 1.5 * grid[2]!) * scale);
    const words = (await page.inputValue('#sentence')).split(/\s+/).filter(Boolean);
    expect(await page.textContent('#readout')).toMatch(
      new RegExp(`^query “${words[1]}” \\(1\\) → key “${words[0]}” \\(0\\): 0\\.\\d{4} · top keys of “${words[1]}”: \\S+ 0\\.\\d{3}, `));
    expect(errors).toEqual([]);
  }, 90_000);

  it('a click on another variant redraws the heatmap and the mask pattern', async () => {
    const before = await page.innerHTML('#heatmap');
    await page.click('#variants button[data-variant="causal"]');
    await ready('causal');
    const after = await page.innerHTML('#heatmap');
    expect(after).not.toBe(before);
    expect(after).toContain('causal, head 0');
    expect(await page.getAttribute('#variants button[data-variant="causal"]', 'aria-pressed')).toBe('true');
    const n = (await page.inputValue('#sentence')).split(/\s+/).filter(Boolean).length;
    expect(await page.textContent('#mask svg .legend-computed text')).toMatch(new RegExp(`^computed ${(n * (n + 1)) / 2} `));
    await page.click('#variants button[data-variant="window"]');
    await ready('window');
    const windowed = await page.innerHTML('#heatmap');
    expect(windowed).not.toBe(after);
    // An approximation: no softmax weights, the page draws the effective weights (output with V = I).
    await page.click('#variants button[data-variant="performer"]');
    await ready('performer');
    const performer = await page.innerHTML('#heatmap');
    expect(performer).not.toBe(windowed);
    expect(performer).toMatch('effective weights');
    // Linformer's effective weights can be negative: the page says so instead of an entropy.
    await page.click('#variants button[data-variant="linformer"]');
    await ready('linformer');
    expect(await page.innerHTML('#heatmap')).not.toBe(performer);
    expect(await page.locator('#heads-table tr').count()).toBe(1 + 4 + 1);
    const linformer = await page.innerHTML('#heatmap');
    // LSH is shared-QK: the page must hand it k = q (any other k is refused), and it draws effective weights.
    await page.click('#variants button[data-variant="lsh"]');
    await ready('lsh');
    const lsh = await page.innerHTML('#heatmap');
    expect(lsh).not.toBe(linformer);
    expect(lsh).toMatch('effective weights');
    expect(errors).toEqual([]);
  }, 90_000);

  it('a screenshot is not blank and shows the heatmap colours', async () => {
    const { decodePng } = await nodeImport<typeof import('./png.js')>('./png.ts');
    const shot = decodePng(await page.screenshot({ fullPage: false }));
    expect([shot.width, shot.height]).toEqual([1280, 1000]);
    const colours = new Set<number>();
    let nonWhite = 0;
    for (let i = 0; i < shot.rgba.length; i += 4) {
      const [r, g, b] = [shot.rgba[i]!, shot.rgba[i + 1]!, shot.rgba[i + 2]!];
      colours.add((r << 16) | (g << 8) | b);
      if (r + g + b < 720) nonWhite++;
    }
    expect(colours.size).toBeGreaterThan(100);
    expect(nonWhite / (shot.width * shot.height)).toBeGreaterThan(0.05);
    // The heatmap element itself: different pictures for two variants.
    const a = await page.locator('#heatmap svg').screenshot();
    await page.click('#variants button[data-variant="exact"]');
    await ready('exact');
    const b = await page.locator('#heatmap svg').screenshot();
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(errors).toEqual([]);
  }, 90_000);

  it('typing a sentence and changing heads redraws; timings come in for wasm and the pool', async () => {
    await page.fill('#sentence', 'attention is all you need');
    await page.waitForFunction(() => document.querySelectorAll('#headview svg g.head text.head-title').length > 0
      && document.querySelector('#heatmap svg')?.textContent?.includes('need') === true);
    await page.selectOption('#heads', '2');
    await page.waitForFunction(() => document.querySelectorAll('#headview svg g.head').length === 2);
    await page.waitForSelector('body[data-timing="done"]', { timeout: 150_000 });
    for (const id of ['wasm', 'pool']) {
      const ms = Number(await page.textContent(`#timings tr[data-backend="${id}"] td.num`));
      expect(ms).toBeGreaterThan(0);
    }
    // WebGPU: a time where the browser has an adapter, else the row says why.
    const gpuRow = await page.textContent('#timings tr[data-backend="webgpu"]');
    expect(gpuRow).toMatch(/WebGPU(\d+\.\d+|.*not available|.*no navigator\.gpu)/);
    console.log(`playground timings:\n${await page.innerText('#timings')}`);
    expect(errors).toEqual([]);
  }, 180_000);
}

if (skipReason === undefined) describe('playground page in Chromium', body);
else if (typeof describe.skipIf === 'function') describe.skipIf(true)(`playground page (skipped: ${skipReason})`, body);
else console.log(`test/playground.test.ts skipped: ${skipReason}`);
