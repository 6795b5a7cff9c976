// The raw C ceiling (bench/raw.c): built against the bundled static libmemcached, and run from
// a shell started once. Shared by bench/run.js and bench/handover.js.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function buildRaw() {
  const prefix = path.join(root, 'deps/.cache/install');
  const out = path.join(root, 'build/bench-raw');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  execFileSync('cc', [
    '-O2',
    '-o',
    out,
    path.join(__dirname, 'raw.c'),
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
  ]);
  return out;
}

/**
 * Runs the raw C program once per call, from a shell started now. Not with execFileSync from
 * here: every child this process forks makes all of its memory copy-on-write, and each page
 * written afterwards takes a fault (a pooled 256 KiB value block, 64 of them), which made the
 * window after each raw run measure page faults (docs/performance.md).
 */
function startRawRunner(binary, args) {
  // A run that fails prints `failed` instead of its one line of JSON, so that no caller waits
  // for a line that never comes.
  const shell = spawn('sh', ['-c', 'while read -r _; do "$0" "$@" || echo failed; done', binary, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = require('node:readline').createInterface({ input: shell.stdout });
  const waiters = [];
  lines.on('line', (line) => waiters.shift()?.(line));
  return {
    /** The program's output line, or a rejection when it failed. */
    run() {
      const line = new Promise((resolve, reject) =>
        waiters.push((text) => (text === 'failed' ? reject(new Error(`${path.basename(binary)} ${args.join(' ')} failed`)) : resolve(text))),
      );
      shell.stdin.write('\n');
      return line;
    },
    stop: () => shell.stdin.end(),
  };
}

module.exports = { buildRaw, startRawRunner };
