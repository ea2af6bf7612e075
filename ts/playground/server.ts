/**
 * `npm run playground`: a static server on 127.0.0.1 (node:http, no dependencies) for the playground page. It serves
 * index.html, the page's own modules (ts/playground/*.ts, transpiled to JS on request with the project's TypeScript)
 * and the built browser bundle (dist/browser/: index.js, worker.js, webattn.wasm). Nothing is fetched from the
 * network. Pages are cross-origin isolated (COOP/COEP), so the worker pool can share inputs with its workers.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');
export const BUNDLE_DIR = join(ROOT, 'dist', 'browser');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

const transpiled = new Map<string, { mtimeMs: number; code: string }>();

/** A page module: ts/playground/<name>.ts as JavaScript (cached until the file changes). */
function pageModule(file: string): string {
  const { mtimeMs } = statSync(file);
  const hit = transpiled.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.code;
  const out = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, sourceMap: false },
    fileName: file,
  });
  transpiled.set(file, { mtimeMs, code: out.outputText });
  return out.outputText;
}

/** `root/rel` if it stays inside root and is a file, else undefined. */
function inside(root: string, rel: string): string | undefined {
  const p = resolve(root, rel);
  if (p !== root && !p.startsWith(root + sep)) return undefined;
  return existsSync(p) && statSync(p).isFile() ? p : undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
  } catch {
    return send(res, 400, 'text/plain', 'bad URL\n');
  }
  if (path === '/' || path === '/index.html') return send(res, 200, TYPES['.html']!, readFileSync(join(HERE, 'index.html')));
  if (path === '/favicon.ico') {
    res.writeHead(204);
    return void res.end();
  }
  if (path.startsWith('/dist/browser/')) {
    const file = inside(BUNDLE_DIR, path.slice('/dist/browser/'.length));
    if (file) return send(res, 200, TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream', readFileSync(file));
    const hint = existsSync(BUNDLE_DIR) ? '' : ' (dist/browser/ is missing: run `npm run build`)';
    return send(res, 404, 'text/plain', `not found: ${path}${hint}\n`);
  }
  const m = /^\/([\w-]+)\.js$/.exec(path);
  const file = m ? inside(HERE, `${m[1]}.ts`) : undefined;
  if (file && file !== join(HERE, 'server.ts')) return send(res, 200, TYPES['.js']!, pageModule(file));
  return send(res, 404, 'text/plain', `not found: ${path}\n`);
}

export interface PlaygroundServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (0 = any free port). */
export function startPlaygroundServer(port = 0): Promise<PlaygroundServer> {
  const server = createServer(handle);
  return new Promise((resolveStart, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      resolveStart({
        url: `http://127.0.0.1:${actual}/`,
        port: actual,
        server,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

async function main(): Promise<void> {
  const arg = process.argv.indexOf('--port');
  const port = Number(arg > 0 ? process.argv[arg + 1] : process.env.PORT ?? 8737);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected 0…65535, got ${String(port)}`);
  if (!existsSync(join(BUNDLE_DIR, 'index.js'))) {
    console.error(`${relative(process.cwd(), BUNDLE_DIR)}/index.js is missing: run \`npm run build\` first (npm run playground does).`);
    process.exit(1);
  }
  const s = await startPlaygroundServer(port);
  console.log(`webattn playground: ${s.url}  (serves ts/playground/ and dist/browser/ on 127.0.0.1 only; Ctrl-C to stop)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
