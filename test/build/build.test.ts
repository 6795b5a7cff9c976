/**
 * What the build must guarantee: libmemcached linked in statically (Release, so misuse returns
 * an error instead of aborting the process) and the version information pylibmc exposes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as lib from '../../lib';

const root = path.join(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const addonPath: string = require('node-gyp-build').path(root);

describe('build', () => {
  test('exports version and capability information', () => {
    expect(lib.version).toBe(require('../../package.json').version);
    expect(lib.libmemcachedVersion).toBe('1.1.4');
    expect(lib.libmemcachedCompiledVersion).toBe('1.1.4');
    expect(lib.supportSasl).toBe(true);
    expect(lib.supportCompression).toBe(true);
  });

  test('libmemcached, libhashkit and libmemcachedutil are linked statically', () => {
    expect(lib.linkage).toBe('static');
    const ldd = execFileSync('ldd', [addonPath], { encoding: 'utf8' });
    expect(ldd).not.toMatch(/libmemcached|libhashkit|libmemcachedutil/);
    // Nor does it need libsasl2 to load: it is opened when a client first uses SASL.
    expect(ldd).not.toMatch(/libsasl2\.so/);
  });

  test('only the N-API entry points are exported', () => {
    const symbols = execFileSync('nm', ['-D', '--defined-only', addonPath], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.split(' ').pop());
    expect(symbols.sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
  });

  test('an unknown behavior number is an error, not an abort', () => {
    // In a child process, so that an abort() would show as a signal rather than kill jest.
    const script = `
      const native = require(${JSON.stringify(addonPath)});
      const servers = [{ transport: 'tcp', host: '127.0.0.1', port: 1, weight: 1 }];
      try {
        new native.Client({ servers, behaviors: [[99, 1]], connections: 1 }, () => {});
        console.log(JSON.stringify({ thrown: false }));
      } catch (e) {
        console.log(JSON.stringify({ thrown: true, rc: e.rc, message: e.message }));
      }`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout);
    expect(result.thrown).toBe(true);
    expect(result.rc).toBe(38); // MEMCACHED_INVALID_ARGUMENTS
    expect(result.message).toMatch(/behavior 99/);
  });
});
