/**
 * The README's example, run as a user would run it: its first ```js block saved as example.mjs
 * and its CommonJS form as example.cjs, in a folder of their own whose
 * node_modules/libmemcached is this checkout (package.json's `main` points at dist/), against a
 * real memcached named by MEMCACHED_SERVERS. Each must exit with 0 and print, line by line, what
 * the `// ...` comments after its console.log calls say it prints.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemcachedServer, startMemcached } from '../harness/memcached';

const root = path.join(__dirname, '..', '..');

interface Block {
  lang: string;
  code: string;
}

/** The fenced code blocks of a Markdown text, in order. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  for (const match of markdown.matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```\s*$/gm)) {
    blocks.push({ lang: match[1], code: match[2] });
  }
  return blocks;
}

/** What a block says it prints: the comment after each `console.log(...);`, in order. */
function expectedOutput(code: string): string[] {
  const lines: string[] = [];
  for (const line of code.split('\n')) {
    if (!line.includes('console.log(')) continue;
    const comment = /\);\s*\/\/ (.*)$/.exec(line);
    if (!comment) throw new Error(`README example: a console.log line without a "// output" comment: ${line.trim()}`);
    lines.push(comment[1].trimEnd());
  }
  return lines;
}

/** Newest modification time under `dir` (files only). */
function newest(dir: string): number {
  let time = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    time = Math.max(time, entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs);
  }
  return time;
}

/** Makes dist/ current, as `npm test`'s set-up does, for a run of this file alone. */
function ensureBuilt(): void {
  const index = path.join(root, 'dist', 'index.js');
  const inputs = Math.max(newest(path.join(root, 'lib')), ...['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => fs.statSync(path.join(root, f)).mtimeMs));
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= inputs) return;
  execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runNode(file: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd, env, timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const failed = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({
        code: failed ? (typeof failed.code === 'number' ? failed.code : null) : 0,
        signal: failed?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const jsBlocks = codeBlocks(readme).filter((b) => b.lang === 'js');
const esm = jsBlocks[0];
const cjs = jsBlocks.find((b) => /require\(\s*['"]libmemcached['"]\s*\)/.test(b.code));

let server: MemcachedServer;
let work: string;

beforeAll(async () => {
  ensureBuilt();
  server = await startMemcached();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-readme-'));
  fs.mkdirSync(path.join(work, 'node_modules'));
  fs.symlinkSync(root, path.join(work, 'node_modules', 'libmemcached'), 'dir');
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test("the README's first js block is the ESM example, and it has a CommonJS form", () => {
  expect(esm).toBeDefined();
  expect(esm.code).toMatch(/^import \{[^}]*\bClient\b[^}]*\} from 'libmemcached';/m);
  expect(esm.code).toContain('new Client()');
  expect(esm.code).toContain('close()');
  expect(cjs).toBeDefined();
  expect(cjs).not.toBe(esm);
  expect(cjs!.code).toContain('new Client()');
  // The same example: the CommonJS form says it prints the same lines.
  expect(expectedOutput(cjs!.code)).toEqual(expectedOutput(esm.code));
});

describe.each([
  ['ESM', 'example.mjs', () => esm],
  ['CommonJS', 'example.cjs', () => cjs],
])('the %s example', (_name, file, block) => {
  test(`runs verbatim as ${file} and prints what its comments say`, async () => {
    const code = block()!.code;
    const expected = expectedOutput(code);
    // A meaningful example: it writes, reads back what it wrote, and shows it.
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(expected).toContain('hello');

    fs.writeFileSync(path.join(work, file), code);
    const run = await runNode(file, work, { ...process.env, MEMCACHED_SERVERS: server.spec });
    if (run.code !== 0) {
      throw new Error(`${file} exited with ${run.code ?? run.signal}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`);
    }
    expect(run.stdout.endsWith('\n')).toBe(true);
    expect(run.stdout.slice(0, -1).split('\n')).toEqual(expected);
  }, 60_000);
});
