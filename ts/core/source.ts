/**
 * Turning an init() source into a compiled WebAssembly.Module. Each runtime's way of reading a file lives here:
 * Node reads file: URLs with fs (its fetch has no file: support), Deno and browsers fetch, streaming when the
 * server sends application/wasm and falling back to bytes when it does not.
 */
import { detectRuntime, IS_BROWSER_BUILD } from './runtime.js';

type Loadable = URL | string | ArrayBuffer | ArrayBufferView | WebAssembly.Module | Response;

/** Where init() may load the wasm from: a URL (or URL string / file path), the bytes, a compiled Module, a fetch
 * Response, or a promise of any of these. */
export type InitSource = Loadable | PromiseLike<Loadable>;

const URL_SCHEMES = ['http:', 'https:', 'file:', 'blob:', 'data:'];

export async function compileSource(source: InitSource): Promise<WebAssembly.Module> {
  const s = await source;
  if (s instanceof WebAssembly.Module) return s;
  if (s instanceof ArrayBuffer || ArrayBuffer.isView(s)) return compileBytes(s);
  if (typeof Response !== 'undefined' && s instanceof Response) return compileResponse(s);
  if (s instanceof URL) return compileUrl(s);
  if (typeof s === 'string') {
    const url = absoluteUrl(s);
    if (url) return compileUrl(url);
    return compilePath(s);
  }
  throw new TypeError(`expected a URL, path, bytes, WebAssembly.Module or Response, got ${Object.prototype.toString.call(s)}`);
}

/** WebAssembly.compile takes no views of a SharedArrayBuffer: those are copied first. */
function compileBytes(bytes: ArrayBuffer | ArrayBufferView): Promise<WebAssembly.Module> {
  if (bytes instanceof ArrayBuffer) return WebAssembly.compile(bytes);
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return WebAssembly.compile(view.buffer instanceof ArrayBuffer ? (view as Uint8Array<ArrayBuffer>) : view.slice());
}

/** The string as an absolute URL, or undefined for a relative URL / file path (`C:\x.wasm` is a path, not scheme c:). */
function absoluteUrl(s: string): URL | undefined {
  try {
    const u = new URL(s);
    return URL_SCHEMES.includes(u.protocol) ? u : undefined;
  } catch {
    return undefined;
  }
}

async function compileUrl(url: URL): Promise<WebAssembly.Module> {
  if (!IS_BROWSER_BUILD && url.protocol === 'file:' && detectRuntime() === 'node') {
    const fs = await import('node:fs/promises');
    return compileBytes(await fs.readFile(url));
  }
  return compileResponse(await fetch(url));
}

/** A relative string: a file path in Node and Deno, a URL relative to the document elsewhere. */
async function compilePath(path: string): Promise<WebAssembly.Module> {
  const runtime = detectRuntime();
  if (!IS_BROWSER_BUILD && runtime === 'node') {
    const fs = await import('node:fs/promises');
    return compileBytes(await fs.readFile(path));
  }
  if (runtime === 'deno') {
    const deno = (globalThis as unknown as { Deno: { readFile(p: string): Promise<Uint8Array> } }).Deno;
    return compileBytes(await deno.readFile(path));
  }
  const base = (globalThis as { location?: { href: string } }).location?.href;
  return compileUrl(new URL(path, base));
}

async function compileResponse(res: Response): Promise<WebAssembly.Module> {
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText} for ${res.url || 'the response'}`);
  if (typeof WebAssembly.compileStreaming !== 'function') return WebAssembly.compile(await res.arrayBuffer());
  const copy = res.clone();
  try {
    return await WebAssembly.compileStreaming(res);
  } catch {
    // Usually a Content-Type other than application/wasm (file servers, Deno's file: fetch): compile the bytes.
    return WebAssembly.compile(await copy.arrayBuffer());
  }
}
