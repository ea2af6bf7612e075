/**
 * test/readme-blocks.ts, the runner of the README's examples (test/readme.test.ts), on a small made-up README: the
 * checks it makes of the real one can fail — claims are read on the same and the next line, a wrong or
 * never-printed claim is reported, later blocks see earlier names, imports it cannot map are refused.
 */
import { describe, expect, it } from 'vitest';
import { chainModule, claimMismatches, moduleLogs, readmeBlocks, runChain } from './readme-blocks.js';

/** The checks above can fail: the runner reads claims, scopes and imports as documented. */
describe('the README block runner', () => {
  const md = [
    '# T', '```sh', 'npm test', '```', '## A', '```js', "import { render as show } from 'lib';", 'const a = [1, 2];',
    'console.log(a); // [1, 2]', 'console.log(a.length, "x y");', '// 2 "x y"', '```', '```ts', 'console.log(a); // [1, 3]',
    'if (a.length > 5) console.log(a); // [9]', 'const b = show(a);', '```', '### B', '```html',
    '<script type="module">', '  console.log(1); // 1', '</script>', '```',
  ].join('\n');
  const found = readmeBlocks(md);
  const lib = { render: (x: unknown) => `<${String(x)}>` };

  it('finds js, ts and html blocks by heading and place, skipping other languages', () => {
    expect(found.map((b) => `${b.key}:${b.lang}`)).toEqual(['A #1:js', 'A #2:ts', 'B #1:html']);
    expect(found[2]!.code).toBe('console.log(1); // 1');
  });

  it('checks claims on the same line and on the next line, and a later block sees the earlier names', async () => {
    const [a1, a2] = [found[0]!, found[1]!];
    const first = await runChain([{ key: a1.key, code: a1.code }], { modules: { lib } });
    expect(first.claims.map((c) => c.text)).toEqual(['[1, 2]', '2 "x y"']);
    expect(claimMismatches(first)).toBe('');
    const second = await runChain([{ key: a1.key, code: a1.code }, { key: a2.key, code: a2.code }], { modules: { lib }, exports: ['b'] });
    expect(second.values.b).toBe('<1,2>');
    expect(second.logs.length).toBe(1); // only the block under test's
    const bad = claimMismatches(second);
    expect(bad).toMatch('claims `[1, 3]`, printed `[1, 2]`');
    expect(bad).toMatch('claims `[9]` but its console.log never ran');
  });

  it('refuses imports it cannot map, and gives the block a seeded Math.random', async () => {
    await expectRejects(runChain([{ key: 'x', code: "import { y } from 'elsewhere';" }], { modules: { lib } }), /does not map/);
    await expectRejects(runChain([{ key: 'x', code: "import { nope } from 'lib';" }], { modules: { lib } }), /no export named nope/);
    const draw = async (seed: number) => (await runChain([{ key: 'r', code: 'const r = Math.random();' }], { modules: {}, exports: ['r'], seed })).values.r;
    expect(await draw(3)).toBe(await draw(3));
    expect(await draw(3)).not.toBe(await draw(4));
  });

  it('writes a chain as an ES module importing from the mapped URL', () => {
    const { source } = chainModule([{ key: 'A #1', code: found[0]!.code }], { lib: 'file:///x/index.ts' });
    expect(source).toMatch('import { render as show } from "file:///x/index.ts";');
    expect(moduleLogs(`${source.includes('readme-log') ? '\u0001readme-log {"site":0,"args":[[1,2]]}' : ''}\nother`)).toEqual([{ site: 0, args: [[1, 2]] }]);
  });
});

/** expect(promise).rejects is not in the Deno shim of vitest. */
async function expectRejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error instanceof Error ? error.message : 'it resolved').toMatch(pattern);
}
