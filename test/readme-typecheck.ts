/**
 * The README's examples through the TypeScript compiler (for test/readme.test.ts, Node only): each chain of blocks
 * (chainModule's source) as a JavaScript module checked against the library's types — checkJs, not strict, since the
 * examples are JavaScript. Nothing is written: the modules are virtual files under test/readme-types/.
 */

export interface ChainTypeError {
  /** The block the error is in (the chain's last block; errors in the blocks it follows, or in its given code, are
   * left to those blocks' own chains). */
  key: string;
  message: string;
  /** The source line. */
  line: string;
}

/** Type errors in the last block of each chain; `root` is the repository's directory (ending in '/'). */
export async function chainTypeErrors(chains: readonly { key: string; source: string }[], root: string): Promise<ChainTypeError[]> {
  const name = 'typescript'; // a variable: the browser project's bundler must not resolve it
  const ts = ((await import(/* @vite-ignore */ name)) as { default: typeof import('typescript') }).default;
  const files = new Map(chains.map((c) => [`${root}test/readme-types/${c.key.replace(/\W+/g, '_')}.js`, c]));
  const { options } = ts.convertCompilerOptionsFromJson({
    target: 'ES2022', module: 'ES2022', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: ['node'],
    allowJs: true, checkJs: true, noEmit: true, skipLibCheck: true, strict: false,
  }, root);
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) => {
    const chain = files.get(file);
    return chain ? ts.createSourceFile(file, chain.source, lang) : getSourceFile(file, lang, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => files.has(file) || fileExists(file);
  const program = ts.createProgram([...files.keys()], options, host);
  const out: ChainTypeError[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const chain = d.file ? files.get(d.file.fileName) : undefined;
    if (!chain || d.start === undefined) continue;
    // The scope an error is in: the last `{ // <key>` marker before it (the given code's reads `<key> (given)`).
    const marker = chain.source.lastIndexOf('{ // ', d.start);
    if (marker < 0 || chain.source.slice(marker + 5, chain.source.indexOf('\n', marker)) !== chain.key) continue;
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start);
    out.push({ key: chain.key, message: ts.flattenDiagnosticMessageText(d.messageText, ' '), line: chain.source.split('\n')[line]!.trim() });
  }
  return out;
}
