// Builds a C program against the bundled static libmemcached (deps/.cache/install, made by
// deps/libmemcached.sh): the benchmark's raw C ceiling and the tests' C programs.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

/** Compiles `source` into `out` (created with its folder) and returns `out`. */
function buildCProgram(source, out) {
  const prefix = path.join(root, 'deps/.cache/install');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  execFileSync('cc', [
    '-O2',
    '-o',
    out,
    source,
    `-I${prefix}/include`,
    `${prefix}/lib/libmemcachedutil.a`,
    `${prefix}/lib/libmemcached.a`,
    `${prefix}/lib/libhashkit.a`,
    '-lsasl2',
    // libmemcached's TLS code (deps/patches/0007-tls.patch) calls OpenSSL: the addon finds it
    // inside Node, a C program links the system's (libssl-dev, among the system packages).
    '-lssl',
    '-lcrypto',
    '-lstdc++',
    '-lpthread',
  ], { env: { ...process.env, LD_PRELOAD: '' } }); // the compiler not under the sanitizer run's libasan
  return out;
}

module.exports = { buildCProgram };
