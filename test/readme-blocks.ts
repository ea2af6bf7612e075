/**
 * The README's code examples as runnable code, for test/readme.test.ts ("docs that run").
 *
 * - `readmeBlocks(markdown)` finds every fenced ```js / ```ts block and every ```html block's module script, each
 *   named by its section heading and its place among that section's examples (`"Worker pool #3"`).
 * - `prepare(code)` turns one block into the body of an async function: its `import … from 'x'` lines become
 *   bindings read from a map of modules the test supplies (the library sources instead of `webattn` / dist), and every
 *   `console.log(` becomes a recorded call; a comment after a console.log (same line, or a comment-only next line) is
 *   the output the README claims for it.
 * - `runChain(parts, …)` runs a block after the blocks it builds on, each one a lexical scope nested in the one
 *   before, so a later block sees the earlier blocks' names and may redeclare them. Names the README leaves to the
 *   reader (`promptK`, `tokens`…) come from `given` objects, declared in a scope of their own around the block.
 *
 * No dynamic import and no temporary files: the same runner works in Node, Chromium and Deno (with --allow-read only).
 */

export type BlockLang = 'js' | 'ts' | 'html';

export interface Block {
  lang: BlockLang;
  /** Text of the nearest heading above the block. */
  heading: string;
  /** 1-based place among the runnable blocks under that heading. */
  index: number;
  /** `${heading} #${index}`: how the test's table names the block. */
  key: string;
  /** 1-based line of the opening fence in the README. */
  line: number;
  /** The JavaScript to run: the block, or the html block's `<script type="module">` body. */
  code: string;
}

const LANGS: Record<string, BlockLang> = {
  js: 'js', javascript: 'js', mjs: 'js', ts: 'ts', typescript: 'ts', html: 'html',
};

/** The body of the first `<script type="module">` of an html block, or '' when it has none. */
function moduleScript(html: string): string {
  const m = /<script\s+type=["']module["']\s*>([\s\S]*?)<\/script>/i.exec(html);
  return m ? dedent(m[1]!) : '';
}

function dedent(text: string): string {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

export function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  const perHeading = new Map<string, number>();
  let heading = '(before the first heading)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (!fence) {
      const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (h) heading = h[1]!;
      continue;
    }
    const close = fence[1]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith(close); i++) body.push(lines[i]!);
    const lang = LANGS[fence[2]!.toLowerCase()];
    if (!lang) continue;
    const index = (perHeading.get(heading) ?? 0) + 1;
    perHeading.set(heading, index);
    const text = body.join('\n');
    blocks.push({ lang, heading, index, key: `${heading} #${index}`, line: start + 1, code: lang === 'html' ? moduleScript(text) : text });
  }
  return blocks;
}

// ------------------------------------------------------------------------------------------------ one block

export interface Binding {
  local: string;
  /** Exported name, '*' for a namespace import, 'default' for a default import. */
  imported: string;
  from: string;
}

export interface Claim {
  /** Which console.log call (unique within one prepare() call, counted from `siteBase`). */
  site: number;
  /** 1-based line within the block. */
  line: number;
  /** The README's comment, without `//`. */
  text: string;
}

export interface Prepared {
  bindings: Binding[];
  /** The block without its import lines, console.log calls replaced by `__log(site, …)`. */
  body: string;
  claims: Claim[];
  /** Sites used: `siteBase` … `siteBase + sites − 1`. */
  sites: number;
}

function parseClause(clause: string, from: string): Binding[] {
  const out: Binding[] = [];
  let rest = clause.trim();
  const ns = /^\*\s+as\s+([\w$]+)$/.exec(rest);
  if (ns) return [{ local: ns[1]!, imported: '*', from }];
  const def = /^([\w$]+)\s*(?:,\s*|$)/.exec(rest);
  if (def && !rest.startsWith('{')) {
    out.push({ local: def[1]!, imported: 'default', from });
    rest = rest.slice(def[0].length).trim();
  }
  if (rest === '') return out;
  const named = /^\{([\s\S]*)\}$/.exec(rest);
  if (!named) throw new SyntaxError(`unsupported import clause \`${clause}\``);
  for (const part of named[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(part);
    if (!m) throw new SyntaxError(`unsupported import specifier \`${part}\``);
    out.push({ local: m[2] ?? m[1]!, imported: m[1]!, from });
  }
  return out;
}

/** Index of a `//` comment in `line` outside string literals, or −1. */
function commentStart(line: string): number {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '/' && line[i + 1] === '/') return i;
  }
  return -1;
}

const IMPORT = /^[ \t]*import\s+([^'";]+?)\s+from\s+(['"])([^'"]+)\2[ \t]*;?[ \t]*(?:\/\/.*)?$/gm;

/** An expression recorded each time the block passes the line that contains `at` (for claims made in comments). */
export interface Probe {
  at: string;
  expr: string;
}

export function prepare(code: string, siteBase = 0, probes: readonly Probe[] = []): Prepared {
  if (/^[ \t]*import\s+['"]/m.test(code)) throw new SyntaxError('side-effect imports (`import \'x\'`) are not supported by the README runner');
  const bindings: Binding[] = [];
  // Keep the line count: an import becomes empty lines, so claims' line numbers stay those of the block.
  const noImports = code.replace(IMPORT, (all: string, clause: string, _q: string, from: string) => {
    bindings.push(...parseClause(clause, from));
    return '\n'.repeat((all.match(/\n/g) ?? []).length);
  });
  if (/^[ \t]*import\s/m.test(noImports)) throw new SyntaxError('an import statement the README runner cannot read is left in the block');
  const lines = noImports.split('\n');
  const claims: Claim[] = [];
  let site = siteBase;
  const out = lines.map((line, i) => {
    let at = line.indexOf('console.log(');
    if (at < 0) return line;
    let text = line;
    while (at >= 0) {
      const c = commentStart(text);
      if (c >= 0 && c < at) break;
      // The claim of this call: a trailing comment on its line (for the line's last call), else a comment-only
      // next line.
      const rest = text.slice(at + 'console.log('.length);
      const later = rest.indexOf('console.log(');
      const restComment = commentStart(rest);
      if (later < 0 || (restComment >= 0 && restComment < later)) {
        const cs = commentStart(text);
        const next = lines[i + 1]?.trim() ?? '';
        const claim = cs >= 0 ? text.slice(cs + 2).trim() : next.startsWith('//') ? next.slice(2).trim() : '';
        if (claim) claims.push({ site, line: i + 1, text: claim });
      }
      text = `${text.slice(0, at)}__log(${site}, ${text.slice(at + 'console.log('.length)}`;
      site++;
      at = text.indexOf('console.log(', at);
    }
    return text;
  });
  probes.forEach((probe, p) => {
    const i = out.findIndex((line) => line.includes(probe.at));
    if (i < 0) throw new Error(`probe ${p}: no line of the block contains ${JSON.stringify(probe.at)}`);
    out[i] += `\n__probe(${p}, () => (${probe.expr}));`;
  });
  return { bindings, body: out.join('\n'), claims, sites: site - siteBase };
}

// ------------------------------------------------------------------------------------------------ claims

/**
 * How a console.log call's arguments read in the README's comments: arguments separated by a space, arrays as
 * `[1, 2, 3]`, numbers as written, strings bare, or in double quotes (JSON) when they hold a space.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value;
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    return `[${Array.from(value as unknown as ArrayLike<unknown>, render).join(', ')}]`;
  }
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (value !== null && typeof value === 'object' && value.constructor === Object) {
    return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${render(v)}`).join(', ')} }`;
  }
  return String(value);
}

export const renderLog = (args: readonly unknown[]): string => args.map(render).join(' ');

// ------------------------------------------------------------------------------------------------ running

export interface LogEntry {
  site: number;
  args: unknown[];
}

export interface ChainPart {
  key: string;
  code: string;
  /**
   * Code declaring the names the README leaves to the reader, run in a scope around this block (it may import from
   * the same specifiers as the blocks, and use `__tensor(seed, shape)`: seeded values in [−1, 1)).
   */
  given?: string;
  /** Only for the last part: expressions recorded as it runs. */
  probes?: readonly Probe[];
}

export interface ChainRun {
  /** The last part's console.log calls (the earlier parts' are not kept). */
  logs: LogEntry[];
  /** Per probe of the last part, its value each time it ran. */
  probes: unknown[][];
  /** The last part's claims (sites as in `logs`). */
  claims: Claim[];
  /** The last part's names listed in `exports`, read at its end. */
  values: Record<string, unknown>;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * The first lines of every chain: `Math` with a seeded `random` (mulberry32, as test/rng.ts) and `__tensor`, so that
 * every run sees the same inputs, in this process or another.
 */
function prelude(seed: number): string {
  return `const __mulberry = (seed) => { let s = seed >>> 0; return () => {
  s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; };
const Math = Object.create(globalThis.Math, { random: { value: __mulberry(${seed}) } });
const __tensor = (seed, shape) => { const r = __mulberry(seed * 7919 + 17); const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n); for (let i = 0; i < n; i++) data[i] = r() * 2 - 1; return { data, shape }; };
`;
}

interface Built {
  bindings: Binding[];
  /** The nested scopes, left open: the caller closes them with `close`. */
  body: string;
  close: string;
  claims: Claim[];
  /** The first console.log site of the last part. */
  lastSites: number;
}

function build(parts: readonly ChainPart[], seed: number): Built {
  const imports = new Map<string, Binding>();
  const sections: string[] = [];
  let site = 0;
  let claims: Claim[] = [];
  let lastSites = 0;
  const addBindings = (key: string, bindings: readonly Binding[]): void => {
    for (const b of bindings) {
      const seen = imports.get(b.local);
      if (seen && (seen.from !== b.from || seen.imported !== b.imported)) {
        throw new Error(`${key}: imports ${b.local} from '${b.from}' but an earlier block imports it from '${seen.from}'`);
      }
      imports.set(b.local, b);
    }
  };
  parts.forEach((part, p) => {
    if (part.probes?.length && p !== parts.length - 1) throw new Error(`${part.key}: probes are only read on the block under test`);
    const given = part.given ? prepare(part.given, 0) : undefined;
    if (given && given.sites > 0) throw new Error(`${part.key}: the given code must not console.log`);
    lastSites = site;
    const prepared = prepare(part.code, site, part.probes);
    site += prepared.sites;
    claims = prepared.claims;
    addBindings(`${part.key} (given)`, given?.bindings ?? []);
    addBindings(part.key, prepared.bindings);
    // `{ // <key>` opens the block's own scope (test/readme-typecheck.ts finds a line's block by these markers).
    sections.push(`{ // ${part.key} (given)\n${given ? `${given.body}\n` : ''}{ // ${part.key}\n${prepared.body}\n`);
  });
  return { bindings: [...imports.values()], body: prelude(seed) + sections.join(''), close: '}}'.repeat(parts.length), claims, lastSites };
}

export interface ChainOptions {
  /** Import specifier → module namespace (e.g. 'webattn' → the library sources). */
  modules: Record<string, object>;
  /** Names of the last part to hand back. */
  exports?: readonly string[];
  /** Seed of `Math.random` (default 1). */
  seed?: number;
}

type AsyncFn = (...args: unknown[]) => Promise<unknown>;
const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => AsyncFn;

/** Runs `parts` in order in this realm, each block nested in the scope of the ones before; the last is under test. */
export async function runChain(parts: readonly ChainPart[], options: ChainOptions): Promise<ChainRun> {
  const built = build(parts, options.seed ?? 1);
  const names = options.exports ?? [];
  for (const name of names) if (!IDENT.test(name)) throw new Error(`export ${JSON.stringify(name)} is not an identifier`);
  const lines = built.bindings.map((b) => {
    if (!(b.from in options.modules)) {
      throw new Error(`a block imports from '${b.from}', which test/readme.test.ts does not map to a module (add it to MODULES)`);
    }
    const ns = `__modules[${JSON.stringify(b.from)}]`;
    if (b.imported === '*') return `const ${b.local} = ${ns};\n`;
    const missing = JSON.stringify(`'${b.from}' has no export named ${b.imported}`);
    return `if (!(${JSON.stringify(b.imported)} in ${ns})) throw new SyntaxError(${missing});\n` +
      `const ${b.local} = ${ns}[${JSON.stringify(b.imported)}];\n`;
  }).join('');
  const source = `'use strict';\n${lines}${built.body}return { ${names.join(', ')} };\n${built.close}`;
  const logs: LogEntry[] = [];
  const log = (s: number, ...args: unknown[]): void => { if (s >= built.lastSites) logs.push({ site: s, args }); };
  const probes: unknown[][] = (parts[parts.length - 1]?.probes ?? []).map(() => []);
  const probe = (p: number, read: () => unknown): void => { probes[p]!.push(read()); };
  const fn = new AsyncFunction('__modules', '__log', '__probe', source);
  const values = (await fn(options.modules, log, probe)) as Record<string, unknown>;
  return { logs, probes, claims: built.claims, values };
}

/** What marks a console.log line of a chain run as a module (`chainModule`) in its stdout. */
const LOG_MARK = '\u0001readme-log ';

/**
 * The chain as the source of an ES module, to run in a process of its own (fresh library state: a block that
 * forgets `await init()` fails there). `urls` maps each import specifier to the URL the module imports instead.
 * Its console.log calls print marked JSON lines that `moduleLogs` reads back.
 */
export function chainModule(parts: readonly ChainPart[], urls: Record<string, string>, seed = 1): { source: string; claims: Claim[] } {
  const built = build(parts, seed);
  const byUrl = new Map<string, string[]>();
  for (const b of built.bindings) {
    const url = urls[b.from];
    if (url === undefined) throw new Error(`a block imports from '${b.from}', which test/readme.test.ts does not map to a URL`);
    if (b.imported === '*') {
      byUrl.set(`* as ${b.local}`, [url]);
      continue;
    }
    const list = byUrl.get(url) ?? [];
    list.push(b.imported === b.local ? b.local : `${b.imported} as ${b.local}`);
    byUrl.set(url, list);
  }
  const imports = [...byUrl].map(([k, v]) => (k.startsWith('* as ')
    ? `import ${k} from ${JSON.stringify(v[0])};`
    : `import { ${v.join(', ')} } from ${JSON.stringify(k)};`)).join('\n');
  const log = `const __log = (site, ...args) => { if (site >= ${built.lastSites}) globalThis.console.log(${JSON.stringify(LOG_MARK)} + ` +
    'JSON.stringify({ site, args }, (_k, v) => (ArrayBuffer.isView(v) ? Array.prototype.slice.call(v) : v))); };\n' +
    'const __probe = (_probe, _read) => undefined;\n';
  // `export {}`: a module even when no block imports anything (top-level await, names local to the file).
  return { source: `${imports}\n${log}${built.body}${built.close}\nexport {};\n`, claims: built.claims };
}

/** The console.log calls a `chainModule` printed. */
export function moduleLogs(stdout: string): LogEntry[] {
  return stdout.split('\n').filter((l) => l.startsWith(LOG_MARK)).map((l) => JSON.parse(l.slice(LOG_MARK.length)) as LogEntry);
}

/** Claims whose console.log did not run, or printed something else; '' when every claim holds. */
export function claimMismatches(run: Pick<ChainRun, 'claims' | 'logs'>): string {
  const bad: string[] = [];
  for (const claim of run.claims) {
    const printed = run.logs.filter((l) => l.site === claim.site).map((l) => renderLog(l.args));
    if (printed.length === 0) bad.push(`line ${claim.line}: claims \`${claim.text}\` but its console.log never ran`);
    for (const got of new Set(printed)) {
      if (got !== claim.text) bad.push(`line ${claim.line}: claims \`${claim.text}\`, printed \`${got}\``);
    }
  }
  if (bad.length) bad.push('(a comment at the end of a console.log line, or on the line right after it, is read as the output the README claims)');
  return bad.join('\n');
}
