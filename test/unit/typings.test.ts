/**
 * The package's types as a user meets them: a file that imports the public API by the package's
 * name (test/fixtures/typings/consumer.mts) and every ```ts example of the README type-check
 * against the built declarations (dist/, found through package.json's "types"), with the
 * TypeScript compiler API, in a temporary project that depends on the package.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..', '..');

/** The ```ts blocks of README.md, in order. */
function readmeExamples(): string[] {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

// The README's serializer example imports @msgpack/msgpack, which this package does not depend
// on (it shows how a user plugs in a codec of their own): the two functions it calls are
// declared here, a value in and bytes out, bytes in and a value out, so that the example
// compiles as written.
const MSGPACK_STUB = `declare module '@msgpack/msgpack' {
  export function encode(value: unknown): Uint8Array;
  export function decode(buffer: ArrayLike<number> | ArrayBufferView | ArrayBufferLike): unknown;
}
`;

let project: string;
/** Diagnostics by file, for every file below, from one compilation (each costs seconds). */
let checked: Record<string, string[]>;
let examples: string[];

beforeAll(() => {
  const dts = path.join(root, 'dist', 'index.d.ts');
  if (!fs.existsSync(dts)) throw new Error('dist/index.d.ts is missing: run npm run build:ts (or npm run build)');
  // A project that has the package installed: node_modules/libmemcached is the checkout.
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-typings-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(root, path.join(project, 'node_modules', 'libmemcached'));
  examples = readmeExamples();
  const files: Record<string, string> = {
    'consumer.mts': fs.readFileSync(path.join(root, 'test', 'fixtures', 'typings', 'consumer.mts'), 'utf8'),
    'msgpack.d.ts': MSGPACK_STUB,
    // The serializer example with a misuse in it (flags as a string): it must be reported, or
    // the check is vacuous.
    'broken.mts': examples.find((code) => code.includes('0x200];'))?.replace('0x200];', "'0x200'];") ?? '',
  };
  examples.forEach((code, i) => (files[`readme-${i + 1}.mts`] = code));
  checked = typeCheck(files);
});

afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

/**
 * Type-checks `files` (name → source) as ES modules of a strict Node.js project (NodeNext, which
 * allows top-level await, as the README's examples use it) and returns the diagnostics by file.
 */
function typeCheck(files: Record<string, string>): Record<string, string[]> {
  const names = Object.keys(files).map((name) => {
    fs.writeFileSync(path.join(project, name), files[name]);
    return path.join(project, name);
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
    // As most projects compile (and as this repository does): .d.ts files are not checked on
    // their own, only as what the checked files use, which keeps this to a few seconds.
    skipLibCheck: true,
  };
  const program = ts.createProgram(names, options);
  const byFile: Record<string, string[]> = Object.fromEntries(Object.keys(files).map((name) => [name, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const where = d.file ? path.relative(project, d.file.fileName) : '(options)';
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    (byFile[where] ??= []).push(`${where}:${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }
  return byFile;
}

test('the public API, imported by the package name, type-checks as a user uses it; misuses do not', () => {
  expect(checked['consumer.mts']).toEqual([]);
});

// (The ```js examples are run as written by test/integration/readme-example.test.ts.)
test('every ```ts example of the README type-checks', () => {
  expect(examples.length).toBeGreaterThanOrEqual(1);
  const names = ['msgpack.d.ts', ...examples.map((_, i) => `readme-${i + 1}.mts`)];
  expect(Object.fromEntries(names.map((name) => [name, checked[name]]))).toEqual(Object.fromEntries(names.map((name) => [name, []])));
});

test('a README example that misuses the API is reported (the check is not vacuous)', () => {
  expect(checked['broken.mts'].join('\n')).toMatch(/broken\.mts:\d+: TS2322/);
});
