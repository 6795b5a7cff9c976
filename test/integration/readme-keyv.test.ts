/**
 * The README's Keyv section run as written: each of its ```js blocks (Keyv, cache-manager 7,
 * cacheable) saved as an ES module in a folder whose node_modules hold this checkout and those
 * packages, with 127.0.0.1:11211 pointed at a test memcached. Each must exit with 0 and print
 * what the `// ...` comments after its console.log calls say.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemcachedServer, startMemcached } from '../harness/memcached';

const root = path.join(__dirname, '..', '..');

/** The ```js blocks of the README's section `heading`, up to the next section. */
function sectionBlocks(heading: string): string[] {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** What a block says it prints: the comment after each `console.log(...);`. */
function expectedOutput(code: string): string[] {
  return code
    .split('\n')
    .filter((line) => line.includes('console.log('))
    .map((line) => {
      const comment = /\);\s*\/\/ (.*)$/.exec(line);
      if (!comment) throw new Error(`a console.log line without a "// output" comment: ${line.trim()}`);
      return comment[1].trimEnd();
    });
}

let server: MemcachedServer;
let dir: string;
beforeAll(async () => {
  server = await startMemcached();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-readme-keyv-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'libmemcached'));
  // The packages the examples import, as this checkout installed them (devDependencies).
  for (const name of ['keyv', 'cache-manager', 'cacheable']) fs.symlinkSync(path.join(root, 'node_modules', name), path.join(dir, 'node_modules', name));
});
afterAll(async () => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  await server?.stop();
});

const blocks = sectionBlocks('Keyv, cache-manager and cacheable');

test('the section has its three examples: Keyv, cache-manager and cacheable', () => {
  expect(blocks.map((code) => /from '(cache-manager|cacheable)'/.exec(code)?.[1] ?? 'keyv')).toEqual(['keyv', 'cache-manager', 'cacheable']);
});

test.each(blocks.map((code, i) => [i + 1, code]))('example %i runs and prints what it says', async (i, code) => {
  const file = path.join(dir, `example-${i}.mjs`);
  fs.writeFileSync(file, (code as string).replaceAll('127.0.0.1:11211', server.spec));
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [file], { cwd: dir, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout.trimEnd().split('\n')).toEqual(expectedOutput(code as string));
});
