// The raw C ceiling (bench/raw.c): built against the bundled static libmemcached, and run from
// a shell started once. Shared by bench/run.js and bench/handover.js.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { buildCProgram } = require('../scripts/lib/c-program');

const root = path.join(__dirname, '..');

function buildRaw() {
  return buildCProgram(path.join(__dirname, 'raw.c'), path.join(root, 'build/bench-raw'));
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
