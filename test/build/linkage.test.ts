/**
 * How a build chooses its libmemcached (deps/linkage.js, read by deps/libmemcached.gyp): the
 * bundled static build by default, the system's with LIBMEMCACHED_LINKAGE=system, and the older
 * npm_config_libmemcached switch still honoured, with a deprecation line.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const script = path.join(__dirname, '..', '..', 'deps', 'linkage.js');

function linkage(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LIBMEMCACHED_LINKAGE' && k !== 'npm_config_libmemcached'));
  const run = spawnSync(process.execPath, [script], { env: { ...clean, ...env }, encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('the bundled build by default, the system library when asked', () => {
  expect(linkage({})).toEqual({ status: 0, stdout: 'internal', stderr: '' });
  expect(linkage({ LIBMEMCACHED_LINKAGE: 'system' })).toEqual({ status: 0, stdout: 'system', stderr: '' });
  expect(linkage({ LIBMEMCACHED_LINKAGE: 'internal', npm_config_libmemcached: 'system' })).toEqual({ status: 0, stdout: 'internal', stderr: '' });
});

test('npm_config_libmemcached still works, with a deprecation line', () => {
  const run = linkage({ npm_config_libmemcached: 'system' });
  expect(run.status).toBe(0);
  expect(run.stdout).toBe('system');
  expect(run.stderr).toMatch(/npm_config_libmemcached is deprecated.*LIBMEMCACHED_LINKAGE/);
});

test('anything else stops the build with the values it takes', () => {
  const run = linkage({ LIBMEMCACHED_LINKAGE: 'static' });
  expect(run.status).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/LIBMEMCACHED_LINKAGE must be "internal" or "system", not "static"/);
});
