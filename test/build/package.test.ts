/**
 * The published package: prebuild, pack, install the tarball into a fresh project on a PATH
 * with no C/C++ compiler and with prebuilds forced, then use it against a real memcached.
 *
 * It works on a private copy of the checkout, so that rebuilding the addon there cannot
 * replace the .node file that other test files have loaded.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemcachedServer, startMemcached } from '../harness/memcached';

const root = path.join(__dirname, '..', '..');
const TOOLCHAIN = ['cc', 'gcc', 'g++', 'c++', 'clang', 'clang++', 'make', 'cmake', 'ld'];

let server: MemcachedServer;
let work: string;
let consumer: string | undefined; // the project the tarball was installed into, for the bundler test

beforeAll(async () => {
  server = await startMemcached();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-pack-'));
});

afterAll(async () => {
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** The environment of this process without npm's per-run variables (they point at this repo). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  }
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

function copyCheckout(to: string): void {
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root)
    .split('\0')
    .filter((f) => f !== '' && fs.existsSync(path.join(root, f)));
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(path.join(root, file), path.join(to, file));
  }
  // The libmemcached archives built by deps/libmemcached.sh (git-ignored), so the copy need
  // not rebuild them; the stamp makes the recipe accept them as they are.
  fs.cpSync(path.join(root, 'deps/.cache/install'), path.join(to, 'deps/.cache/install'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(to, 'node_modules'));
}

/** A folder holding only node, npm and sh: no compiler, linker or make is reachable. */
function compilerFreePath(): string {
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  // /usr/bin/npm is a link to npm-cli.js, which finds its own modules relative to itself.
  const npmCli = fs.realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  return bin;
}

test('the packed tarball installs from its prebuild without a compiler and talks to memcached', () => {
  const checkout = path.join(work, 'checkout');
  copyCheckout(checkout);

  run('npm', ['run', 'prebuilds:host'], checkout);
  const prebuilds = fs.readdirSync(path.join(checkout, 'prebuilds', `${process.platform}-${process.arch}`));
  expect(prebuilds).toContain('libmemcached.glibc.node');

  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], checkout));
  const tarball = path.join(work, packed[0].filename);
  const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
  console.log(`packed: ${packed[0].size} bytes, ${packed[0].unpackedSize} unpacked, ${files.length} files`);
  expect(packed[0].size).toBeLessThan(2 * 1024 * 1024);
  for (const expected of [
    'dist/index.js',
    'dist/index.d.ts',
    'src/binding/client.cc',
    'src/core/io_thread.cc',
    'src/protocol.h',
    'binding.gyp',
    'deps/libmemcached.sh',
    'deps/libmemcached.gyp',
    'deps/LICENSE.libmemcached',
    'deps/libmemcached-1.1.4.tar.gz',
    'deps/install-help.js',
    'deps/linkage.js',
    'LICENSE',
    'THIRD_PARTY_NOTICES.md',
    'README.md',
    'package.json',
  ]) {
    expect(files).toContain(expected);
  }
  expect(files.some((f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`))).toBe(true);
  expect(files.some((f) => f.startsWith('build/') || f.startsWith('deps/.cache') || f.startsWith('node_modules/'))).toBe(false);

  const bin = compilerFreePath();
  for (const tool of TOOLCHAIN) expect(fs.existsSync(path.join(bin, tool))).toBe(false);

  consumer = path.join(work, 'consumer');
  fs.mkdirSync(consumer);
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const env = cleanEnv({ PATH: bin, PREBUILDS_ONLY: '1' });
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], consumer, env);
  expect(fs.existsSync(path.join(consumer, 'node_modules/libmemcached/build'))).toBe(false);

  const script = `
    const lib = require('libmemcached');
    const loaded = require('node-gyp-build').path(require('path').dirname(require.resolve('libmemcached/package.json')));
    (async () => {
      const client = new lib.Client([${JSON.stringify(server.spec)}]);
      const stored = await client.set('tarball:key', 'from the tarball');
      const value = await client.get('tarball:key');
      await client.close();
      // The package's surface is its exports: the same Client through import, no deep imports.
      const esm = await import('libmemcached');
      let deep;
      try { require('libmemcached/dist/client'); deep = 'imported'; } catch (e) { deep = e.code; }
      // The Keyv store, by its subpath, in both module systems, on the package's Client.
      const keyvCjs = require('libmemcached/keyv');
      const keyvEsm = await import('libmemcached/keyv');
      const store = new keyvCjs.KeyvLibmemcached(${JSON.stringify(server.spec)});
      const keyv = { sameStore: keyvEsm.KeyvLibmemcached === keyvCjs.KeyvLibmemcached, ownClient: store.client instanceof lib.Client };
      await store.disconnect();
      console.log(JSON.stringify({ stored, value, loaded, version: lib.libmemcachedVersion, sameClient: esm.Client === lib.Client, deep, keyv }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const result = JSON.parse(run('node', ['-e', script], consumer, env));
  expect(result.stored).toBe(true);
  expect(result.value).toBe('from the tarball');
  expect(result.version).toBe('1.1.4');
  expect(result.loaded).toMatch(/prebuilds/);
  expect(result.sameClient).toBe(true);
  expect(result.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  expect(result.keyv).toEqual({ sameStore: true, ownClient: true });
  // The command line, as npx runs it: the package's bin, linked by npm into node_modules/.bin.
  run('node_modules/.bin/libmemcached', ['set', 'tarball:cli', 'from the bin', '--servers', server.spec], consumer, env);
  expect(run('node_modules/.bin/libmemcached', ['get', 'tarball:cli', '--servers', server.spec], consumer, env)).toBe('from the bin');
}, 300_000);

// README "Deploying": a bundle cannot hold the addon, so the package is marked external and
// shipped in node_modules beside the bundle. Both halves are shown: external works, inlined
// fails to find the addon.
test('an esbuild bundle works with libmemcached marked external, and cannot inline it', async () => {
  expect(consumer).toBeDefined(); // made by the test above
  const dir = consumer as string;
  const esbuild = await import('esbuild');
  fs.writeFileSync(
    path.join(dir, 'app.js'),
    `const { Client } = require('libmemcached');
    (async () => {
      const client = new Client([process.argv[2]]);
      await client.set('bundle:key', 'bundled');
      console.log(JSON.stringify({ value: await client.get('bundle:key') }));
      await client.close();
    })().catch((e) => { console.error(e.message); process.exit(1); });`,
  );
  const build = (outfile: string, external: string[]) =>
    esbuild.build({ entryPoints: [path.join(dir, 'app.js')], bundle: true, platform: 'node', outfile, external, logLevel: 'silent' });

  await build(path.join(dir, 'out', 'external.js'), ['libmemcached']);
  const external = JSON.parse(run('node', [path.join(dir, 'out', 'external.js'), server.spec], dir));
  expect(external.value).toBe('bundled');

  // Inlined into a bundle elsewhere, the loader looks for the addon beside the bundle (and not
  // at LIBMEMCACHED_ADDON, which the sanitizer run sets).
  const elsewhere = path.join(work, 'elsewhere');
  await build(path.join(elsewhere, 'inlined.js'), []);
  const env = cleanEnv();
  delete env.LIBMEMCACHED_ADDON;
  expect(() => run('node', [path.join(elsewhere, 'inlined.js'), server.spec], elsewhere, env)).toThrow(/No native build was found/);
}, 60_000);
